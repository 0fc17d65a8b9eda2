"""Serving a clinic: real Voila servers, clients speaking the page's websocket protocol (no browser).

The client is ``benchmarks/load.py``'s, so the tests and the load test exercise the same protocol:
page, kernel websocket, every widget state, one answer, the card, the shutdown beacon. Small N
only; the figures come from ``benchmarks/load.py`` (they are printed there, never asserted here).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from aid.report import EMERGENCY_SIGNS

load = sys.modules["aid_load"]  # benchmarks/load.py, loaded by conftest.py
ROOT = Path(__file__).resolve().parents[2]
Server = load.Server
kernel_pids = load.kernel_pids

pytestmark = pytest.mark.serving

PORT_CLASH = ("ZMQError", "Address already in use")


def _connection_file(pid: int) -> dict:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return json.loads(Path(args[args.index("-f") + 1]).read_text())


def test_twenty_simultaneous_sessions_without_port_clash_or_blank_page(dashboard_server):
    """N=20 visitors at once on the repo's voila.json: every one gets a working page and card,
    no kernel start fails on a port, and every kernel stops when its page goes."""
    sessions = asyncio.run(load.run_sessions(dashboard_server.url, 20, timeout=240))
    outcomes = [(s.outcome, s.detail) for s in sessions]
    assert all(s.outcome == "ok" for s in sessions), outcomes
    assert all(s.answer_ms is not None for s in sessions)
    # Each page's beacon was accepted (HTTP 204): the _xsrf cookie was set (upstream Voila #1458).
    assert [s.beacon_status for s in sessions] == [204] * 20
    log = dashboard_server.log_text()
    for word in PORT_CLASH:
        assert word not in log, f"{word} in the server log"
    # The kernels talk over IPC sockets, so no TCP port is picked before it is bound.
    live = kernel_pids(dashboard_server.process.pid)
    assert live, "the preheated pool should still hold kernels"
    assert {_connection_file(pid)["transport"] for pid in live} == {"ipc"}
    # No kernel outlives its page: after the beacons only the preheated pool is left.
    ids = {s.kernel_id for s in sessions}
    deadline = time.monotonic() + 60
    while (alive := ids & _running_kernel_ids(dashboard_server)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not alive, f"kernels outlived their pages: {alive}"


def _running_kernel_ids(server: Server) -> set[str]:
    out = set()
    for pid in kernel_pids(server.process.pid):
        try:
            match = re.search(
                r"kernel-([0-9a-f-]{36})\.json", Path(f"/proc/{pid}/cmdline").read_text()
            )
        except OSError:
            continue
        if match:
            out.add(match.group(1))
    return out


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_limit_says_busy_and_culling_frees_places(tmp_path):
    """A copy of voila.json with a limit of 2 pages and a 2 s cull: the 3rd visitor is told to
    wait, plainly and with the warning signs; once the idle kernels are culled a visitor gets in,
    and the preheated pool survived the culling."""
    config = json.loads((ROOT / "voila.json").read_text())
    # A pool of 2, so that both pages below take a kernel that is ready: a kernel still starting
    # could be culled by so short a timeout on a busy machine before it runs the questionnaire.
    config["VoilaConfiguration"]["default_pool_size"] = 2
    config["ClinicIdentityProvider"]["max_sessions"] = 2
    config["MappingKernelManager"].update(cull_idle_timeout=2, cull_interval=1)
    (tmp_path / "voila.json").write_text(json.dumps(config))
    server = Server(tmp_path, config_dir=tmp_path)
    try:
        server.wait_ready()
        # Two pages opened and left without a websocket: two places taken.
        for _ in range(2):
            status, html = _get(server.url)
            assert status == 200 and load.has_widget_output(html)
        status, html = _get(server.url)
        assert status == 503
        assert "The aid is busy" in html and "wait a minute" in html
        assert EMERGENCY_SIGNS[0] in html and "Traceback" not in html
        # The two idle kernels are culled within a few seconds; then a visitor gets a page again.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, html = _get(server.url)
            if status == 200:
                break
            time.sleep(1)
        assert status == 200 and load.has_widget_output(html)
        log = server.log_text()
        assert log.count("Culling") >= 2 or "culled" in log.lower(), log[-2000:]
        assert "Using pre-heated kernel" in log.split("Refusing a dashboard page")[-1]
    finally:
        server.stop()
