"""The deployment files in deploy/ are valid and say what docs/deploy.md says they say.

HAProxy's own checker validates deploy/haproxy.cfg (the file the two-server test runs); the
Kubernetes manifests are parsed and cross-checked (labels, ports, the sticky-cookie annotations,
the Voila command); the JupyterHub config is loaded the way JupyterHub loads it, with traitlets'
Config standing in for the hub. Nothing here applies them to a cluster or starts a hub.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from traitlets.config import Config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOC = ROOT / "docs" / "deploy.md"


def _haproxy() -> str:
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )
    if not found:
        pytest.fail("haproxy is missing: run `make haproxy` (make test does it)")
    return found


def _check_haproxy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_haproxy(), "-c", "-f", str(DEPLOY / "haproxy.cfg")],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=30,
    )


def test_haproxy_config_is_valid_with_its_addresses_and_refused_without():
    good = _check_haproxy(
        {
            "AID_PROXY_BIND": "127.0.0.1:8080",
            "AID_VOILA_1": "127.0.0.1:8866",
            "AID_VOILA_2": "127.0.0.1:8867",
        }
    )
    assert good.returncode == 0 and "Configuration file is valid" in good.stdout, good.stderr
    missing = _check_haproxy({"AID_PROXY_BIND": "", "AID_VOILA_1": "", "AID_VOILA_2": ""})
    assert missing.returncode != 0  # the checker does fail on a broken file


def test_haproxy_config_is_sticky_by_a_cookie_it_sets_and_keeps_websockets_open():
    text = (DEPLOY / "haproxy.cfg").read_text()
    assert re.search(r"^\s*cookie AIDSERVER insert indirect nocache", text, re.M)
    assert re.search(r"^\s*balance roundrobin", text, re.M)
    servers = re.findall(r"^\s*server (\S+) \S+ cookie (\S+)", text, re.M)
    assert len(servers) >= 2 and len({c for _, c in servers}) == len(servers)
    assert re.search(r"^\s*timeout tunnel \d+h", text, re.M)


def _manifests() -> dict[str, dict]:
    docs = [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "aid.yaml").read_text()) if d]
    return {d["kind"]: d for d in docs}


def test_kubernetes_manifests_fit_together():
    m = _manifests()
    assert set(m) == {"Secret", "Deployment", "Service", "Ingress"}
    assert all(d["apiVersion"] for d in m.values())
    deploy, service, ingress, secret = m["Deployment"], m["Service"], m["Ingress"], m["Secret"]
    assert deploy["spec"]["replicas"] >= 2
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert deploy["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    port_names = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    # the log: every replica gets the same PostgreSQL URL from the Secret
    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    assert secret["stringData"]["AID_DB"].startswith("postgresql://")
    # started as `make dashboard` starts it (voila.json from the checkout), on the pod's address
    command = container["command"]
    assert command[0] == "voila" and command[-1] == "notebooks/dashboard.ipynb"
    assert "--Voila.config_file_paths=/app" in command and "--Voila.ip=0.0.0.0" in command
    assert (ROOT / command[-1]).exists()


def test_kubernetes_ingress_is_sticky_by_cookie_with_long_websocket_timeouts():
    notes = _manifests()["Ingress"]["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert notes[prefix + "affinity"] == "cookie"
    assert notes[prefix + "session-cookie-name"] == "AIDSERVER"
    assert int(notes[prefix + "proxy-read-timeout"]) >= 3600


def test_jupyterhub_config_loads_and_gives_every_server_the_one_log(monkeypatch):
    url = "postgresql://aid_writer:pw@db.example/aid"
    monkeypatch.setenv("AID_DB", url)
    monkeypatch.setenv("AID_CHECKOUT", str(ROOT))
    c = Config()
    path = DEPLOY / "jupyterhub" / "jupyterhub_config.py"
    exec(compile(path.read_text(), str(path), "exec"), {"get_config": lambda: c})
    assert c.Spawner.environment == {"AID_DB": url}
    assert Path(c.Spawner.notebook_dir, "dashboard.ipynb").exists()
    (service,) = c.JupyterHub.services
    assert service["environment"] == {"AID_DB": url}
    command = service["command"]
    assert f"--Voila.base_url=/services/{service['name']}/" in command
    port = service["url"].rsplit(":", 1)[1]
    assert f"--port={port}" in command
    assert Path(command[-1]).exists() and f"--Voila.config_file_paths={ROOT}" in command


def test_the_deploy_doc_names_every_file_and_the_commands_it_relies_on():
    doc = DOC.read_text()
    for path in (
        "deploy/haproxy.cfg",
        "deploy/kubernetes/aid.yaml",
        "deploy/jupyterhub/jupyterhub_config.py",
    ):
        assert path in doc and (ROOT / path).exists()
    for phrase in (
        "haproxy -c -f deploy/haproxy.cfg",
        "GRANT SELECT, INSERT ON encounters",
        "AID_DB=postgresql://",
        "tests/deploy/test_several_servers.py",
    ):
        assert phrase in doc, phrase
