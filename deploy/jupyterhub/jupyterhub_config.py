"""Back Cramp Aid for a clinic that already runs JupyterHub (docs/deploy.md).

Two ways, both writing to the one PostgreSQL log named by AID_DB in the hub's environment:

1. Every user's single-user server can serve the dashboard at
   ``/user/<name>/voila/render/dashboard.ipynb`` (Voila's server extension). JupyterHub's proxy
   routes each user to their own server, so sessions are sticky by construction.
2. A hub-managed service runs one Voila server for everyone at ``/services/back-cramp-aid/``
   (for a kiosk or visitors without a hub account, with ``oauth_no_confirm``).

Merge the lines below into your own jupyterhub_config.py. tests/deploy/test_deploy_files.py
loads this file with a stand-in for JupyterHub's ``c`` and checks what it sets.
"""

import os

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file

AID_CHECKOUT = os.environ.get("AID_CHECKOUT", "/srv/back-cramp-aid")
AID_DB = os.environ["AID_DB"]  # postgresql://aid_writer:...@host/aid (the writer role)

# 1. Each user's own server: the log setting, and the checkout as the notebook folder.
c.Spawner.environment = {"AID_DB": AID_DB}
c.Spawner.notebook_dir = os.path.join(AID_CHECKOUT, "notebooks")

# 2. One shared dashboard server, started and proxied by the hub.
c.JupyterHub.services = [
    {
        "name": "back-cramp-aid",
        "url": "http://127.0.0.1:10101",
        "command": [
            "voila",
            f"--Voila.config_file_paths={AID_CHECKOUT}",
            "--port=10101",
            "--Voila.base_url=/services/back-cramp-aid/",
            os.path.join(AID_CHECKOUT, "notebooks", "dashboard.ipynb"),
        ],
        "cwd": AID_CHECKOUT,
        "environment": {"AID_DB": AID_DB},
        "oauth_no_confirm": True,
    }
]
