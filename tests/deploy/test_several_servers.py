"""Two Voila servers behind one HAProxy (deploy/haproxy.cfg, unchanged), sharing one PostgreSQL
encounter log: real servers, a real proxy, real Chromium pages, all on loopback.

Each page is a new browser (no cookies), so the proxy's round-robin sends the pages to both
servers in turn, and its AIDSERVER cookie keeps each page's later HTTP requests and its kernel
websocket on the server that rendered it. Stickiness is checked twice: every encounter is saved by
the dashboard's own Finish through its kernel (which exists only on the server that rendered the
page, so a websocket sent elsewhere would save nothing), and a websocket to a page's kernel opened
with the other server's cookie is refused while the right cookie is accepted.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from aid.store import EncounterLog

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"
NOTEBOOK = ROOT / "notebooks" / "dashboard.ipynb"
FIRST_QUESTION = "[data-question=location] input[type=checkbox]"
PAGES = 2  # one encounter on each server (round-robin), each on its preheated kernel

pytestmark = pytest.mark.browser


def finish_encounter(page, marker: str) -> None:
    """Complete one encounter on the dashboard page (the AidForm anywidget) and press Finish.

    Kept small and alone on purpose: when the dashboard's markup changes, only this function
    changes. It answers one emergency warning sign (the dashboard lets an emergency finish without
    the other questions), types ``marker`` as the staff note so the test can find the row, and
    waits until the page says which record it saved, which it says only after the kernel has
    recorded the encounter.
    """
    sign = page.locator("[data-question=saddle_numbness]")
    for _ in range(10):  # questions live in steps: Next until the warning sign is shown
        if sign.is_visible():
            break
        page.locator(".aid-next").click()
    sign.locator("label.aid-choice").get_by_text("Yes", exact=True).click()
    page.locator(".aid-bar-emergency").wait_for(state="visible")
    notes = page.locator("textarea.aid-notes")
    notes.fill(marker)
    notes.press("Tab")
    page.locator(".aid-notes-echo").get_by_text(marker, exact=True).wait_for(state="visible")
    page.locator(".aid-finish").click()
    page.locator(".aid-finish-message").get_by_text("Saved as record", exact=False).wait_for(
        state="visible"
    )
    assert page.locator(".aid-staff-notice").inner_text().strip() == "", "the log did not save"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _haproxy() -> str:
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )
    if not found:
        pytest.fail("haproxy is missing: run `make haproxy` (make test does it)")
    return found


@contextmanager
def _process(command: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


#: Each server serves one page here; a pool of 2 spares the suite building 2 x 25 kernels.
POOL = 2


def _voila_command(port: int) -> list[str]:
    """As ``make dashboard`` and tests/browser/conftest.py start it, on another port and with a
    pool of ``POOL``."""
    return [
        str(Path(sys.executable).with_name("voila")),
        f"--Voila.config_file_paths={ROOT}",
        f"--port={port}",
        "--Voila.port_retries=0",
        f"--VoilaConfiguration.default_pool_size={POOL}",
        str(NOTEBOOK.relative_to(ROOT)),
    ]


def _wait_voila(url: str, log: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until the pool is filled and every kernel in it has built its page (aid.serving)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Voila exited:\n{log.read_text(errors='replace')[-3000:]}")
        text = log.read_text(errors="replace")
        if re.search(r"Kernel pool of \S+ is filled", text) and (
            text.count("start slot free again") >= POOL
        ):
            return
        time.sleep(0.2)
    raise RuntimeError(f"Voila not ready at {url}:\n{log.read_text(errors='replace')[-3000:]}")


def _wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"haproxy exited:\n{log.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("haproxy did not listen")


def _kernel_websocket_opens(proxy: str, kernel_id: str, cookie: str) -> bool:
    """Whether the proxy upgrades a websocket to ``kernel_id`` for a browser with ``cookie``:
    the handshake a page sends, answered 101 (switching protocols) or refused."""
    host, port = proxy.split(":")
    request = (
        f"GET /api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex} HTTP/1.1\r\n"
        f"Host: {proxy}\r\nOrigin: http://{proxy}\r\nCookie: AIDSERVER={cookie}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request.encode("ascii"))
        status = sock.makefile("rb").readline().decode("latin-1")
    assert status.startswith("HTTP/1.1 "), status
    return status.split()[1] == "101"


def test_two_servers_behind_the_proxy_save_every_encounter_in_the_one_log(
    pg_url, tmp_path, monkeypatch, browser
):
    EncounterLog(pg_url)  # the owner creates the schema once, before the servers start
    ports = [_free_port(), _free_port()]
    proxy_port = _free_port()
    env = dict(os.environ, AID_DB=pg_url, PYTHONUNBUFFERED="1")
    env.pop("PYTEST_CURRENT_TEST", None)  # as tests/browser/conftest.py: kernels run as in use
    proxy_env = dict(
        os.environ,
        AID_PROXY_BIND=f"127.0.0.1:{proxy_port}",
        AID_VOILA_1=f"127.0.0.1:{ports[0]}",
        AID_VOILA_2=f"127.0.0.1:{ports[1]}",
    )
    markers: dict[str, str] = {}  # marker -> the server (cookie) whose page saved it
    with ExitStack() as stack:
        servers = []
        for i, port in enumerate(ports):
            log = tmp_path / f"voila{i + 1}.log"
            proc = stack.enter_context(_process(_voila_command(port), log, env))
            servers.append((f"http://127.0.0.1:{port}/", log, proc))
        for url, log, proc in servers:
            _wait_voila(url, log, proc)
        proxy_log = tmp_path / "haproxy.log"
        haproxy = stack.enter_context(
            _process([_haproxy(), "-db", "-f", str(HAPROXY_CFG)], proxy_log, proxy_env)
        )
        _wait_port(proxy_port, haproxy, proxy_log)
        proxy = f"127.0.0.1:{proxy_port}"

        kernels: dict[str, str] = {}  # server cookie -> a kernel id of a page it rendered
        for n in range(PAGES):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            try:
                page = context.new_page()
                page.set_default_timeout(30_000)
                page.goto(f"http://{proxy}/")
                page.wait_for_selector(FIRST_QUESTION, state="visible", timeout=90_000)
                marker = f"proxy-test-{n}-{uuid.uuid4().hex[:8]}"
                finish_encounter(page, marker)
                cookies = {c["name"]: c["value"] for c in context.cookies()}
                server = cookies.get("AIDSERVER")
                assert server in {"v1", "v2"}, cookies
                markers[marker] = server
                found = re.search(
                    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", page.content()
                )
                if found:
                    kernels.setdefault(server, found.group(0))
            finally:
                context.close()

        # the pages landed on both servers, and every encounter is in the one log
        assert sorted(markers.values()) == ["v1", "v2"], markers
        frame = EncounterLog(pg_url, create=False).to_frame()
        assert sorted(frame["notes"]) == sorted(markers)
        assert set(frame["urgency"]) == {"emergency"}
        assert frame["id"].tolist() == list(range(1, PAGES + 1))

        # sticky websockets: a page's kernel answers only through its own server's cookie
        assert set(kernels) == {"v1", "v2"}, "no kernel id found in the pages"
        for server, kernel_id in kernels.items():
            other = "v2" if server == "v1" else "v1"
            assert _kernel_websocket_opens(proxy, kernel_id, server)
            assert not _kernel_websocket_opens(proxy, kernel_id, other)
