"""Fixtures for the browser tests: a real Voila server (the repo's voila.json) and Debian's Chromium.

One Voila server per session on a free port, started exactly as ``make dashboard`` starts it
(same config file, same notebook) but with the encounter log in a temporary SQLite file. Chromium
is the Debian package driven by Playwright (TECH-NOTES: no ``playwright install``); when it is
missing the tests fail, they never skip. Each test gets a fresh browser context and page, and its
final state is saved as ``tests/browser/artifacts/<test>.png`` (git-ignored).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from load_client import load_benchmark

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "dashboard.ipynb"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
#: The first question is usable once its checkboxes are on the page.
FIRST_QUESTION = "[data-question=location] input[type=checkbox]"
#: axe-core from the npm registry (package.json; `make test` runs `npm ci` first).
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
#: The widths the dashboard is proved on: a phone, a tablet held upright, a desktop.
VIEWPORTS = {"phone": (390, 844), "tablet": (768, 1024), "desktop": (1280, 900)}
STARTUP_TIMEOUT = 180.0

#: The browser tests open their pages one after another (9 at once at most, in the load test,
#: where visitors beyond the pool get the waiting page and follow it), so a pool of 6 serves them;
#: the clinic's 25 would cost the suite about 40 s of building before the first test.
TEST_POOL_SIZE = 6


def voila_command(port: int) -> list[str]:
    """The same invocation as ``make dashboard`` (Makefile VOILA_ARGS), on another port, with a
    smaller preheated pool (``TEST_POOL_SIZE``); every other setting is the repo's voila.json."""
    voila = Path(sys.executable).with_name("voila")
    return [
        str(voila),
        f"--Voila.config_file_paths={ROOT}",
        f"--port={port}",
        "--Voila.port_retries=0",
        f"--VoilaConfiguration.default_pool_size={TEST_POOL_SIZE}",
        str(NOTEBOOK.relative_to(ROOT)),
    ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class VoilaServer:
    url: str
    log_path: Path
    db_path: Path
    marker_dir: Path
    process: subprocess.Popen

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _wait_idle(pid: int, deadline: float) -> None:
    """Until the server and its kernels stop using CPU: the preheated pool has built its pages
    (the log says "filled" when the pool's kernels have started, before they build the page)."""
    cpu = load_benchmark().cpu_seconds  # the server and all its descendants

    while time.monotonic() < deadline:
        before = cpu(pid)
        time.sleep(1)
        if cpu(pid) - before < 0.1:
            return


def _wait_ready(server: VoilaServer) -> None:
    """Ready when the page answers 200, the preheated kernel pool is filled and idle."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"Voila exited ({server.process.returncode}):\n{server.log_text()}")
        if re.search(r"Kernel pool of \S+ is filled", server.log_text()):
            try:
                with urllib.request.urlopen(server.url, timeout=30) as response:
                    if response.status == 200:
                        _wait_idle(server.process.pid, deadline)
                        return
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(0.2)
    raise RuntimeError(f"Voila not ready after {STARTUP_TIMEOUT:.0f} s:\n{server.log_text()}")


@pytest.fixture(scope="session")
def voila(tmp_path_factory) -> Iterator[VoilaServer]:
    work = tmp_path_factory.mktemp("voila")
    port = free_port()
    env = dict(os.environ, AID_DB=str(work / "encounters.sqlite3"), PYTHONUNBUFFERED="1")
    # Kernels that see PYTEST_CURRENT_TEST do not capture file descriptor 2 (ipykernel's own
    # test switch): drop it so the server's kernels run exactly as under `make dashboard`.
    env.pop("PYTEST_CURRENT_TEST", None)
    log_path = work / "voila.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            voila_command(port),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = VoilaServer(
        url=f"http://127.0.0.1:{port}/",
        log_path=log_path,
        db_path=work / "encounters.sqlite3",
        marker_dir=work,
        process=process,
    )
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def first_question() -> str:
    """The selector that means "the questionnaire is usable" (for tests that open their own page)."""
    return FIRST_QUESTION


@pytest.fixture
def page(browser, voila, request):
    """A fresh page on the dashboard with the first question usable; screenshot at the end.

    A test parametrized with ``viewport`` (a key of VIEWPORTS) gets that screen size."""
    name = getattr(request, "param", None) or (
        request.node.callspec.params.get("viewport", "desktop")
        if hasattr(request.node, "callspec")
        else "desktop"
    )
    width, height = VIEWPORTS[name]
    context = browser.new_context(
        accept_downloads=True, viewport={"width": width, "height": height}
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    log_start = len(voila.log_text())
    page.goto(voila.url, timeout=60_000)  # a loaded 2-core machine can take a while
    page.wait_for_selector(FIRST_QUESTION, state="visible", timeout=90_000)
    try:
        yield page
        # A fail-safe that fired unnoticed is a failure too: the server log must stay clean.
        if not request.node.get_closest_marker("expects_server_error"):
            errors = re.findall(r"\[ERROR [^\]]*aid\.ui\][^\n]*", voila.log_text()[log_start:])
            assert not errors, f"the dashboard logged errors during the test: {errors}"
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)
        finally:
            context.close()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "expects_server_error: the test provokes an error the dashboard logs server-side"
    )


def pytest_collection_modifyitems(config, items):
    """Browser tests last (the test pyramid: fast failures first)."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
