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
    """N=20 visitors at once, 10 pages built in the pool: every one gets a working page and card
    (the 10 beyond the pool after the waiting page), no kernel start fails on a port, and every
    kernel stops when its page goes."""
    sessions = asyncio.run(load.run_sessions(dashboard_server.url, 20, timeout=240))
    outcomes = [(s.outcome, s.detail) for s in sessions]
    assert all(s.outcome == "ok" for s in sessions), outcomes
    assert all(s.answer_ms is not None for s in sessions)
    waited = [s for s in sessions if s.waits]
    # About 20 - POOL wait (a visitor admitted in the same instant as another may instead take a
    # page still being built, and wait on it without the waiting page: slower, never blank).
    assert waited, "the crowd beyond the pool must meet the waiting page"
    assert all(set(s.waits) == {"getting-ready"} for s in waited)
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
        server.wait_pool_refilled()  # both pages built, so neither visitor is asked to wait
        # Two pages opened and left without a websocket: two places taken.
        for _ in range(2):
            status, html = _get(server.url)
            assert status == 200 and load.has_widget_output(html)
        status, html = _get(server.url)
        assert status == 503
        assert "The aid is busy" in html and "tries again by itself" in html
        assert load.waiting_page(html) == ("busy", 20)  # it reloads itself (meta refresh)
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


def _small_server(tmp_path: Path, pool: int) -> Server:
    """A server on a copy of voila.json with a small pool, one kernel start at a time."""
    config = json.loads((ROOT / "voila.json").read_text())
    config["VoilaConfiguration"]["default_pool_size"] = pool
    config["ClinicKernelManager"]["starts_at_once"] = 1
    (tmp_path / "voila.json").write_text(json.dumps(config))
    server = Server(tmp_path, config_dir=tmp_path)
    server.wait_ready()
    server.wait_pool_refilled()
    return server


def test_a_visitor_with_no_page_built_gets_the_waiting_page_then_the_questionnaire(tmp_path):
    """Pool of 1: the first visitor takes the built page; the next, arriving while the refill is
    still building, is told in words to wait (warning signs shown, no kernel taken) and the page,
    reloading itself as a browser does, opens the questionnaire once it is built."""
    server = _small_server(tmp_path, pool=1)
    try:
        status, html = _get(server.url)
        assert status == 200 and load.has_widget_output(html)
        status, html = _get(server.url)
        assert status == 503
        assert load.waiting_page(html) == ("getting-ready", 3)
        assert "Getting the questionnaire ready" in html and "do not need to do anything" in html
        assert "While you wait" in html and EMERGENCY_SIGNS[0] in html
        assert "something went wrong" not in html and "Traceback" not in html
        # The waiting visitor took no kernel: the first page's and the one being built.
        assert len(kernel_pids(server.process.pid)) <= 2
        session = asyncio.run(load.run_session(server.url, timeout=120))
        assert session.outcome == "ok", session.detail
        assert session.answer_ms is not None
        assert "A visitor waits" in server.log_text()
    finally:
        server.stop()


KERNEL_STARTED = re.compile(r"Kernel started: ([0-9a-f-]{36})")
SLOT_FREE = re.compile(r"Kernel ([0-9a-f-]{36}): start slot free again")


def _starts_overlapping(log: str) -> list[str]:
    """Kernels started while another kernel still held the one start slot."""
    holding: set[str] = set()
    overlapping = []
    for line in log.splitlines():
        if started := KERNEL_STARTED.search(line):
            if holding:
                overlapping.append(started.group(1))
            holding.add(started.group(1))
        elif freed := SLOT_FREE.search(line):
            holding.discard(freed.group(1))
    return overlapping


def test_the_pool_builds_one_kernel_at_a_time(tmp_path):
    """ClinicKernelManager with one start slot: at startup and when refilling after a crowd, a
    kernel starts only once the previous one has built its page, so the refill never takes both
    cores from the people answering (with the shared compiled templates and the quiet start,
    benchmarks/load.py's answer-to-card p95 at N=25 went from 2.9 s to 0.47 s; README "Running
    it for a clinic")."""
    server = _small_server(tmp_path, pool=3)
    try:
        sessions = asyncio.run(load.run_sessions(server.url, 3, timeout=120))
        assert [s.outcome for s in sessions] == ["ok"] * 3, [s.detail for s in sessions]
        server.wait_pool_refilled()
        log = server.log_text()
        assert len(KERNEL_STARTED.findall(log)) >= 6  # the pool, then its refill
        assert len(SLOT_FREE.findall(log)) >= 6
        assert _starts_overlapping(log) == []
        assert "Kernels start 1 at a time" in log
    finally:
        server.stop()
