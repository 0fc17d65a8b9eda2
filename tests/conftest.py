"""Fixtures shared by every test folder: a real PostgreSQL server (tests/pg_server.py).

The server starts at the first test that asks for it and stops at the end of the session, so
test runs that never touch PostgreSQL never start it. Each test gets its own schema in one
database (``pg_url``): far cheaper than a database per test, and it proves the log follows the
URL's ``search_path``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from pg_server import PgServer, remove, start_server

_SCHEMAS = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = start_server()
    try:
        server.create_database("aid")
        yield server
    finally:
        remove(server)


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A URL whose search_path is a new, empty schema in database ``aid``."""
    schema = f"t{next(_SCHEMAS)}"
    with pg_server.admin("aid") as con:
        con.execute(f"CREATE SCHEMA {schema}")
    return pg_server.url("aid") + f"?options=-c%20search_path%3D{schema}"
