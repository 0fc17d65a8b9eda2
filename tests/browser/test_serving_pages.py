"""What a page says when serving goes wrong, in a real Chromium against real Voila servers.

The ``aid`` Voila template (share/jupyter/voila/templates/aid) is under test: a page never stays
blank, a page whose kernel or server has gone says so at once in words, and a page that is
closed or reloaded stops its kernel (the beacon works around upstream Voila #1458).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from load_client import load_benchmark

from aid.report import EMERGENCY_SIGNS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.browser

LOST = "#aid-connection-lost"
NOT_SHOWN = "#aid-not-shown"
LOST_WORDS = "your answers are no longer being checked"


def kernel_id(page) -> str:
    return page.evaluate(
        "JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"
    )


def kernel_pid(server_pid: int, kid: str) -> int | None:
    for pid in load_benchmark().kernel_pids(server_pid):
        try:
            if kid in Path(f"/proc/{pid}/cmdline").read_text():
                return pid
        except OSError:
            pass
    return None


def assert_lost_message(page) -> None:
    box = page.locator(LOST)
    box.wait_for(state="visible", timeout=10_000)
    text = box.inner_text()
    assert LOST_WORDS in text.lower()
    assert "Reload" in text and EMERGENCY_SIGNS[0] in text
    # The questionnaire behind it no longer takes clicks.
    assert page.evaluate("document.getElementById('rendered_cells').hasAttribute('inert')")


def test_killed_kernel_says_so_at_once(page, voila):
    """kill -9 of the page's kernel: the page says so in words within seconds."""
    assert not page.locator(LOST).is_visible()
    pid = kernel_pid(voila.process.pid, kernel_id(page))
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert_lost_message(page)


def _wait_gone(server_pid: int, kid: str, seconds: float = 60) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if kernel_pid(server_pid, kid) is None:
            return time.monotonic() - start
        time.sleep(0.25)
    raise AssertionError(f"kernel {kid} still running {seconds:.0f} s after its page went")


def test_reload_and_leaving_stop_the_kernel(page, voila, first_question):
    """The beacon (with the xsrf cookie the server now sets) stops the kernel at once."""
    first = kernel_id(page)
    page.reload()
    page.wait_for_selector(first_question, state="visible", timeout=60_000)
    second = kernel_id(page)
    assert second != first
    _wait_gone(voila.process.pid, first)
    page.goto("about:blank")
    _wait_gone(voila.process.pid, second)
    assert "'_xsrf' argument missing" not in voila.log_text()


def test_widget_code_missing_shows_the_failsafe(browser, voila):
    """If the questionnaire never renders (its JavaScript blocked here), the fail-safe shows."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.route(re.compile(r".*/labextensions/.*"), lambda route: route.abort())
        page.goto(voila.url)
        box = page.locator(NOT_SHOWN)
        box.wait_for(state="visible", timeout=30_000)
        text = box.inner_text()
        assert "could not be shown in time" in text
        assert EMERGENCY_SIGNS[0] in text and EMERGENCY_SIGNS[-1] in text
    finally:
        context.close()


def _small_config(tmp_path: Path) -> Path:
    """voila.json with a pool of 1, so these extra servers start fast."""
    config = json.loads((ROOT / "voila.json").read_text())
    config["VoilaConfiguration"]["default_pool_size"] = 1
    (tmp_path / "voila.json").write_text(json.dumps(config))
    return tmp_path


def test_empty_cell_output_shows_the_failsafe_at_once(browser, tmp_path):
    """A page whose output holds no widget (the server ran out of time) is never blank."""
    notebook = tmp_path / "empty.ipynb"
    notebook.write_text(
        json.dumps(
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "execution_count": None,
                        "metadata": {},
                        "outputs": [],
                        "source": "x = 1",
                    }
                ],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    server = load_benchmark().Server(
        tmp_path, config_dir=_small_config(tmp_path), notebook=notebook
    )
    context = browser.new_context()
    try:
        server.wait_ready()
        page = context.new_page()
        page.goto(server.url)
        box = page.locator(NOT_SHOWN)
        box.wait_for(state="visible", timeout=5_000)
        assert EMERGENCY_SIGNS[0] in box.inner_text()
    finally:
        context.close()
        server.stop()


def test_a_visitor_with_no_page_built_is_told_to_wait_then_gets_the_questionnaire(
    browser, tmp_path, first_question
):
    """Pool of 1, taken by another visitor, refill held back 4 s: Chromium shows the waiting page
    in words with the warning signs, and then the questionnaire, without anyone reloading."""
    load = load_benchmark()
    config_dir = _small_config(tmp_path)
    config = json.loads((config_dir / "voila.json").read_text())
    config["VoilaKernelManager"] = {"fill_delay": 4}
    (config_dir / "voila.json").write_text(json.dumps(config))
    server = load.Server(tmp_path, config_dir=config_dir)
    context = browser.new_context()
    try:
        server.wait_ready()
        with urllib.request.urlopen(server.url, timeout=60) as other:  # takes the built page
            assert other.status == 200
        page = context.new_page()
        page.goto(server.url)
        heading = page.get_by_role("heading", level=1)
        assert "Getting the questionnaire ready" in heading.inner_text()
        # It reloads every 3 s: no ARIA alert, or a screen reader would read the signs each time.
        assert page.locator("[role=alert]").count() == 0
        text = page.locator("main").inner_text()
        assert "do not need to do anything" in text and EMERGENCY_SIGNS[0] in text
        page.wait_for_selector(first_question, state="visible", timeout=90_000)
        assert page.locator("[data-aid-wait]").count() == 0
    finally:
        context.close()
        server.stop()


def test_server_stop_and_restart_says_so(browser, tmp_path, first_question):
    """The server stops: the open page says so at once; after a restart a reload works."""
    load = load_benchmark()
    config_dir = _small_config(tmp_path)
    server = load.Server(tmp_path, config_dir=config_dir)
    context = browser.new_context()
    try:
        server.wait_ready()
        page = context.new_page()
        page.goto(server.url)
        page.wait_for_selector(first_question, state="visible", timeout=60_000)
        server.stop()
        assert_lost_message(page)
        server = load.Server(tmp_path, config_dir=config_dir, port=server.port)
        server.wait_ready()
        assert page.locator(LOST).is_visible(), "the notice must stay until the page is reloaded"
        page.reload()
        page.wait_for_selector(first_question, state="visible", timeout=60_000)
        assert not page.locator(LOST).is_visible()
    finally:
        context.close()
        server.stop()


def test_page_under_load_is_never_blank(browser, voila, first_question):
    """While 8 other visitors open the dashboard at once, a browser page shows the questionnaire
    (or, if it cannot in time, the fail-safe): never an empty page."""
    load = load_benchmark()
    outcomes: list = []
    others = threading.Thread(
        target=lambda: outcomes.extend(asyncio.run(load.run_sessions(voila.url, 8, timeout=180)))
    )
    context = browser.new_context()
    try:
        others.start()
        page = context.new_page()
        page.goto(voila.url, timeout=120_000)
        page.wait_for_selector(
            f"{first_question}, {NOT_SHOWN}.aid-show", state="visible", timeout=120_000
        )
        shown = page.locator(first_question).first.is_visible()
        failsafe = page.locator(NOT_SHOWN).is_visible()
        assert shown or failsafe
        if failsafe:
            assert EMERGENCY_SIGNS[0] in page.locator(NOT_SHOWN).inner_text()
    finally:
        others.join(timeout=200)
        context.close()
    assert len(outcomes) == 8
    assert not [s for s in outcomes if s.outcome == "blank"]
