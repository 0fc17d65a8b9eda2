"""The serving settings and the page template, checked without a server (fast).

The behaviour they produce is proved against real servers in tests/serving and tests/browser.
"""

from __future__ import annotations

import json
from pathlib import Path

from traitlets.utils.importstring import import_item

from aid.report import EMERGENCY_SIGNS
from aid.serving import (
    FAILSAFE_PARTIAL,
    KERNEL_ID,
    TEMPLATE_DIR,
    WAITING_PARTIAL,
    OpenPages,
    template_partials,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / "voila.json").read_text())


def test_page_failsafe_is_generated_from_the_dashboards_own():
    """Run scripts/make_page_failsafe.py after changing the fail-safe or the warning signs."""
    partials = template_partials()
    assert set(partials) == {FAILSAFE_PARTIAL, WAITING_PARTIAL}
    for path, text in partials.items():
        assert path.read_text(encoding="utf-8") == text, path.name
        assert all(sign.replace("'", "&#x27;") in text for sign in EMERGENCY_SIGNS), path.name
    assert "something went wrong" in partials[FAILSAFE_PARTIAL]
    assert "something went wrong" not in partials[WAITING_PARTIAL]


def test_every_page_of_the_template_includes_the_warning_signs():
    for name in ("index.html.j2", "error.html"):
        assert "{% include 'aid_failsafe.html' %}" in (TEMPLATE_DIR / name).read_text(), name
    # The waiting page: nothing went wrong, the same signs under "While you wait".
    assert "{% include 'aid_waiting_signs.html' %}" in (TEMPLATE_DIR / "503.html").read_text()
    assert json.loads((TEMPLATE_DIR / "conf.json").read_text())["base_template"] == "lab"


def test_voila_json_selects_the_template_and_the_serving_settings():
    voila = CONFIG["VoilaConfiguration"]
    assert voila["template"] == TEMPLATE_DIR.name
    provider = import_item(CONFIG["Voila"]["identity_provider_class"])
    assert provider.__name__ == "ClinicIdentityProvider"
    assert CONFIG["KernelManager"]["transport"] == "ipc"  # no TCP port race (jupyter_client #487)
    assert CONFIG["VoilaExecutor"]["iopub_timeout"] >= 30
    culling = CONFIG["MappingKernelManager"]
    assert culling["cull_idle_timeout"] > 0 and culling["cull_interval"] > 0
    assert culling["cull_connected"] is False  # an open page is never culled under its reader
    assert CONFIG["ClinicIdentityProvider"]["max_sessions"] > voila["default_pool_size"]


def test_open_pages_counts_pages_being_served_and_pages_whose_kernel_runs():
    pages = OpenPages()
    for _ in range(3):
        pages.admitted()  # a burst: three pages admitted, none sent yet
    assert pages.count(running_kernel_ids=["pool-1", "pool-2"]) == 3  # pool kernels never count
    pages.served("k1")
    pages.served("k2")
    pages.served(None)  # a page that failed before it had a kernel
    assert pages.count(["pool-1", "k1", "k2"]) == 2
    # k1's page closed (beacon) or was culled: its kernel is gone, so is the page.
    assert pages.count(["pool-1", "k2"]) == 1
    assert pages.count(["pool-1", "k1", "k2"]) == 1  # a kernel id is not counted twice


def test_the_kernel_id_is_read_as_voila_writes_it():
    kid = "1fdef50b-c6af-4565-907a-44bc0fb5d5dd"
    config = json.dumps({"baseUrl": "/", "kernelId": kid})
    assert KERNEL_ID.search(f'<script id="jupyter-config-data">{config}</script>').group(1) == kid
