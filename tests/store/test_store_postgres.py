"""What only the PostgreSQL log has: privileges, lock timeout, schemas, URLs with passwords, and
the damaged-row checks for rows inserted behind the API (the textual ones: PostgreSQL's TEXT
columns cannot hold a BLOB or bytes that are not UTF-8). Against the real throwaway server
(tests/pg_server.py); the shared behaviour is tested on both back ends in test_store.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from test_store_damaged_rows import GOOD, ROW_CASES, Sql

from aid import __main__ as cli
from aid.store import EncounterLog, StoreError
from aid.store_postgres import masked_url

ROOT = Path(__file__).resolve().parents[2]


def _schema(url: str) -> str:
    return url.rsplit("search_path%3D", 1)[1]


def test_a_writer_role_with_only_insert_and_select_appends_but_cannot_change_rows(
    pg_server, pg_url, cases, results
):
    """The deployment in docs/deploy.md: the owner creates the schema, the servers write as a
    role that may only INSERT and SELECT, so even a trigger dropped by mistake protects nothing
    that the privileges do not."""
    owner_log = EncounterLog(pg_url)  # creates the schema as the owner
    owner_log.append(cases["urgent"], results["urgent"])
    schema = _schema(pg_url)
    with pg_server.admin("aid") as con:
        con.execute(f"DROP ROLE IF EXISTS writer_{schema}")
        con.execute(f"CREATE ROLE writer_{schema} LOGIN")
        con.execute(f"GRANT USAGE ON SCHEMA {schema} TO writer_{schema}")
        con.execute(f"GRANT SELECT, INSERT ON {schema}.encounters TO writer_{schema}")
        con.execute(f"GRANT SELECT ON {schema}.schema_version TO writer_{schema}")
    writer_url = pg_url.replace("postgres@", f"writer_{schema}@")
    log = EncounterLog(writer_url)
    assert log.append(cases["soon"], results["soon"]) == 2
    assert log.count() == 2
    with psycopg.connect(writer_url, autocommit=True) as con:
        for statement in (
            "UPDATE encounters SET urgency = 'selfcare'",
            "DELETE FROM encounters",
            "TRUNCATE encounters",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute(statement)
    assert [log.get(i).urgency.value for i in (1, 2)] == ["urgent", "soon"]


def test_a_role_that_may_not_write_gets_a_store_error_and_nothing_is_stored(
    pg_server, pg_url, cases, results
):
    EncounterLog(pg_url)
    schema = _schema(pg_url)
    with pg_server.admin("aid") as con:
        con.execute(f"DROP ROLE IF EXISTS reader_{schema}")
        con.execute(f"CREATE ROLE reader_{schema} LOGIN")
        con.execute(f"GRANT USAGE ON SCHEMA {schema} TO reader_{schema}")
        con.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO reader_{schema}")
    log = EncounterLog(pg_url.replace("postgres@", f"reader_{schema}@"))
    with pytest.raises(StoreError, match="the database user may not do this") as err:
        log.append(cases["soon"], results["soon"])
    assert "docs/deploy.md" in str(err.value)
    assert log.count() == 0


def test_a_table_lock_held_longer_than_the_busy_timeout_is_a_clear_error(pg_url, cases, results):
    log = EncounterLog(pg_url, busy_timeout=0.3)
    log.append(cases["soon"], results["soon"])
    other = psycopg.connect(pg_url)  # not autocommit: the lock is held until rollback
    try:
        other.execute("LOCK TABLE encounters IN SHARE ROW EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"locked by another program for longer than 0\.3 s"):
            log.append(cases["urgent"], results["urgent"])
        assert time.monotonic() - started >= 0.25  # it waited before giving up
        assert log.count() == 1  # readers are not blocked by a writer's lock
    finally:
        other.rollback()
        other.close()
    assert log.append(cases["urgent"], results["urgent"]) == 2


def test_a_reader_never_creates_the_schema(pg_url):
    with pytest.raises(StoreError, match="holds no encounter log .* left unchanged"):
        EncounterLog(pg_url, create=False)
    with psycopg.connect(pg_url) as con:
        tables = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchone()[0]
    assert tables == 0


def test_newer_schema_and_other_tables_are_refused_and_left_alone(pg_server, cases, results):
    url_new = pg_server.create_database("newer")
    EncounterLog(url_new).append(cases["soon"], results["soon"])
    with psycopg.connect(url_new, autocommit=True) as con:
        con.execute("INSERT INTO schema_version VALUES (2, '2030-01-01T00:00:00.000Z')")
    with pytest.raises(StoreError, match=r"newer Back Cramp Aid \(schema 2\)"):
        EncounterLog(url_new)
    url_other = pg_server.create_database("other")
    with psycopg.connect(url_other, autocommit=True) as con:
        con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    with pytest.raises(StoreError, match="not a Back Cramp Aid encounter log"):
        EncounterLog(url_other)
    with psycopg.connect(url_other) as con:  # left alone: nothing was created beside it
        tables = con.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchall() == [("invoices",)]


def test_a_password_never_appears_in_a_message(pg_server):
    url = f"postgresql://someone:s3cret-pw@127.0.0.1:{pg_server.port}/aid"
    with pytest.raises(StoreError) as err:
        EncounterLog(url)
    assert "s3cret-pw" not in str(err.value) and "someone:***@" in str(err.value)
    assert masked_url("postgresql://a@h/db") == "postgresql://a@h/db"
    assert masked_url("postgres://a:b@[::1]:5/db?x=1") == "postgres://a:***@[::1]:5/db?x=1"


def test_no_server_is_a_store_error_naming_what_to_check():
    with pytest.raises(StoreError, match="cannot connect to the PostgreSQL server") as err:
        EncounterLog("postgresql://nobody@127.0.0.1:1/aid", busy_timeout=2)
    assert "AID_DB" in str(err.value)


def test_a_missing_database_is_no_log_here_for_export(pg_server, capsys):
    url = pg_server.url("no_such_database")
    assert cli.main(["log", "export", "-", "--db", url]) == 2
    assert "no encounter log here (the database does not exist)" in capsys.readouterr().err


def test_the_dashboard_setting_aid_db_reaches_postgresql(pg_url, cases, results):
    """default_log() as the dashboard calls it, in a fresh process with only AID_DB set."""
    code = (
        "import aid; from aid.store import default_log; log = default_log(); "
        "print(type(log).__name__, log.append({}, aid.triage({})))"
    )
    env = dict(os.environ, AID_DB=pg_url)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["PostgresEncounterLog", "1"]
    assert EncounterLog(pg_url, create=False).count() == 1


TEXT_CASES = [
    pytest.param(columns, message, id=message[:30])
    for columns, message in ROW_CASES
    if not any(isinstance(v, Sql) for v in columns.values())
]


@pytest.mark.parametrize("columns, message", TEXT_CASES)
def test_a_row_the_aid_never_writes_is_a_store_error_naming_its_id(
    pg_url, cases, results, columns, message
):
    EncounterLog(pg_url).append(cases["urgent"], results["urgent"])
    row = {"id": 2, **GOOD, **columns}
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(
            f"INSERT INTO encounters ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
            list(row.values()),
        )
    log = EncounterLog(pg_url, create=False)
    with pytest.raises(StoreError) as err:
        log.to_frame()
    text = str(err.value)
    assert "encounter id 2: " in text and message in text, text
    with pytest.raises(StoreError, match="encounter id 2: "):
        log.get(2)
    assert log.get(1).urgency.value == "urgent"
    assert json.loads(GOOD["result_json"])["reasons"]  # the baseline row itself is valid


def _backends(pg_server, pid: int) -> int:
    with pg_server.admin() as con:
        return con.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()[0]


def test_one_log_object_keeps_one_connection_until_closed(pg_server, pg_url, cases, results):
    """Connecting for every append made 8 x 500 appends take minutes (issue 13): a log object
    keeps one connection for all its operations, and close() (or a with block) ends it."""
    with EncounterLog(pg_url) as log:
        backend = log._con.info.backend_pid
        for name in ("soon", "urgent", "emergency"):
            log.append(cases[name], results[name])
        assert log.count() == 3 and log.get(2).urgency.value == "urgent"
        assert len(log.to_frame()) == 3
        assert log._con.info.backend_pid == backend and _backends(pg_server, backend) == 1
    deadline = time.monotonic() + 5
    while _backends(pg_server, backend) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _backends(pg_server, backend) == 0, "close() left the connection open"
    assert log.count() == 3  # still usable after close(): it connects again


def test_a_connection_closed_by_the_server_is_replaced_once_without_losing_an_append(
    pg_server, pg_url, cases, results
):
    log = EncounterLog(pg_url)
    assert log.append(cases["soon"], results["soon"]) == 1
    for step in ("append", "count"):
        backend = log._con.info.backend_pid
        with pg_server.admin() as con:  # what a server restart or an idle timeout does
            assert con.execute("SELECT pg_terminate_backend(%s)", (backend,)).fetchone()[0]
        if step == "append":
            assert log.append(cases["urgent"], results["urgent"]) == 2
        else:
            assert log.count() == 2
        assert log._con.info.backend_pid != backend
    assert [e.urgency.value for e in (log.get(1), log.get(2))] == ["soon", "urgent"]


def test_a_forked_child_never_uses_or_closes_the_parents_connection(
    pg_server, pg_url, cases, results
):
    """A Voila kernel or a worker forked from a process that holds a log: the child opens its
    own connection, and the parent's session is left alone (closing it in the child would end
    the parent's session on the server)."""
    log = EncounterLog(pg_url)
    log.append(cases["soon"], results["soon"])
    backend = log._con.info.backend_pid
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            ok = log.append(cases["urgent"], results["urgent"]) == 2
            ok = ok and log._con.info.backend_pid != backend
            log.close()
            code = 0 if ok else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child could not append on its own"
    assert log._con.info.backend_pid == backend and _backends(pg_server, backend) == 1
    assert log.append(cases["emergency"], results["emergency"]) == 3


def test_the_dashboard_reuses_one_log_per_url_in_a_process(pg_url, monkeypatch):
    import aid.store

    monkeypatch.setattr(aid.store, "_SHARED_LOGS", {})  # this test's alone, closed below
    monkeypatch.setenv("AID_DB", pg_url)
    first = aid.store.default_log()
    assert first is not None
    with first:
        assert aid.store.default_log() is first
        first.append({}, aid.triage({}))
        assert aid.store.default_log().count() == 1
