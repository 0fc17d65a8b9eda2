"""Fixtures shared by every test folder: a real PostgreSQL server (tests/pg_server.py) and one
real Chromium for the whole session (Playwright's sync API allows one instance per thread, so
the browser, serving and deploy tests must share it).

The server starts at the first test that asks for it and stops at the end of the session, so
test runs that never touch PostgreSQL never start it. Each test gets its own schema in one
database (``pg_url``): far cheaper than a database per test, and it proves the log follows the
URL's ``search_path``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_server import PgServer, running_server

_SCHEMAS = itertools.count(1)

#: Debian's Chromium, driven by the playwright package (no `playwright install`; TECH-NOTES).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (make test does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    with running_server() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A URL whose search_path is a new, empty schema in database ``aid``."""
    schema = f"t{next(_SCHEMAS)}"
    with pg_server.admin("aid") as con:
        con.execute(f"CREATE SCHEMA {schema}")
    return pg_server.url("aid") + f"?options=-c%20search_path%3D{schema}"
