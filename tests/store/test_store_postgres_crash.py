"""The PostgreSQL server crashes while a writer appends (issue 13).

On its own throwaway server (tests/pg_server.py), so the session's shared server is not
disturbed: a writer process appends through one ``EncounterLog`` (one kept connection) while the
server's processes are all killed with SIGKILL, then the server is started again (PostgreSQL's
crash recovery). What must hold:

- every append that returned is in the log, whole, under the id it returned; no row is partial
  or there twice; ids have no gap;
- the append cut off by the crash, and those tried while the server is down, are a
  ``StoreError`` naming the server (password masked), not a traceback; only an append whose
  error said it "may or may not" be stored can have a row;
- after the restart the same log object appends again (its kept connection is found closed and
  replaced once, transparently).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pg_server import PgServer, running_server

import aid
from aid.store import EncounterLog, StoreError

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "crash-test-s3cret"  # the server trusts loopback; a password must still be masked

VARIANTS: list[dict] = [
    {},
    {"radiates": "one_leg"},
    {"urine_pain": "yes"},
    {"saddle_numbness": "yes"},
    {"saddle_numbness": "yes", "bladder_trouble": "yes", "fever": "yes"},
]

_WRITER = r"""
import json, os, sys, time
import aid
from aid.store import EncounterLog, StoreError

VARIANTS = {variants}
url, stop_file = sys.argv[1], sys.argv[2]
results = [aid.triage(v) for v in VARIANTS]
print(json.dumps({{"written": [r.to_dict() for r in results]}}), flush=True)
log = EncounterLog(url)  # one object, one kept connection for the whole run
i, deadline = 0, time.monotonic() + 60
while not os.path.exists(stop_file) and time.monotonic() < deadline:
    k = i % len(VARIANTS)
    try:
        new_id = log.append(VARIANTS[k], results[k], notes=f"n{{i}}")
    except StoreError as exc:
        print(json.dumps({{"error": i, "message": str(exc)}}), flush=True)
        time.sleep(0.02)
    else:
        print(json.dumps({{"ok": i, "id": new_id}}), flush=True)
    i += 1
"""


@pytest.fixture(scope="module")
def own_server() -> Iterator[PgServer]:
    """This module's own server (one start for both tests; each leaves it running)."""
    with running_server() as server:
        yield server


def _url(server: PgServer, database: str = "aid") -> str:
    return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{server.port}/{database}"


def test_a_server_crash_mid_append_loses_nothing_returned_and_the_log_reconnects(
    own_server, tmp_path
):
    url = _url(own_server)
    here = EncounterLog(url)  # a log object of this process, with a kept connection
    first = aid.triage({})
    assert here.append({}, first, notes="before") == 1

    stop_file = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER.format(variants=repr(VARIANTS)), url, str(stop_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    guard = threading.Timer(90, writer.kill)  # never hang the suite
    guard.start()
    events: list[dict] = []

    def read_until(done, what: str) -> None:
        while not done():
            line = writer.stdout.readline()
            assert line, f"the writer stopped while waiting for {what}: {writer.stderr.read()}"
            events.append(json.loads(line))

    try:
        read_until(lambda: len(events) >= 1, "its first line")
        written = events.pop(0)["written"]
        read_until(lambda: sum("ok" in e for e in events) >= 40, "40 appends")

        own_server.crash()  # mid-append: the writer appends without pause
        crashed_at = len(events)
        read_until(lambda: any("error" in e for e in events[crashed_at:]), "an error")
        time.sleep(0.3)  # a few more appends tried while the server is down
        own_server.start()  # crash recovery
        restarted_at = len(events)
        read_until(lambda: sum("ok" in e for e in events[restarted_at:]) >= 20, "new appends")
        stop_file.touch()
        # Read through the same buffered file as readline() above: communicate() would read the
        # pipe itself and miss the lines readline() had already buffered (an append that
        # returned would then look unreported). The guard kills a writer that never stops.
        rest = writer.stdout.read()
        err = writer.stderr.read()
        writer.wait(timeout=60)
        writer.stdout.close()
        writer.stderr.close()
        events += [json.loads(line) for line in rest.splitlines()]
    finally:
        guard.cancel()
        if writer.poll() is None:
            writer.kill()
            writer.communicate()
    assert writer.returncode == 0, err  # no traceback: every failure was a StoreError

    # the same log object of this process appends again: its dead connection is replaced
    after = here.append({}, first, notes="after")

    with psycopg.connect(url) as con:
        rows = con.execute(
            "SELECT id, notes, result_json, answers_json FROM encounters ORDER BY id"
        ).fetchall()
    ids = [r[0] for r in rows]
    assert ids == list(range(1, len(rows) + 1)), "ids have a gap or a repeat"
    assert after == ids[-1] and rows[-1][1] == "after" and rows[0][1] == "before"

    oks = {e["ok"]: e["id"] for e in events if "ok" in e}
    errors = {e["error"]: e["message"] for e in events if "error" in e}
    by_notes = {notes: row_id for row_id, notes, _, _ in rows}
    assert len(by_notes) == len(rows), "an append is in the log twice"
    # every append that returned is there, under the id it returned, whole
    for i, row_id in oks.items():
        assert by_notes.get(f"n{i}") == row_id, f"append {i} returned {row_id} but is not there"
    for _, notes, result_json, answers_json in rows[1:-1]:
        i = int(notes[1:])
        k = i % len(VARIANTS)
        assert json.loads(result_json) == written[k]
        assert json.loads(answers_json) == written[k]["answers"]
        # a row whose append failed: only one whose outcome was reported as unknown
        if i not in oks:
            assert i in errors and "may or may not" in errors[i], (i, errors.get(i))

    # the failures: clear words naming the server, never the password
    assert errors, "no append failed: the crash did not land while the writer ran"
    for message in errors.values():
        assert message.startswith("encounter log postgresql://postgres:***@127.0.0.1:")
        assert PASSWORD not in message and "Traceback" not in message
        assert "PostgreSQL server" in message
    # appends worked again after the restart, through the writer's one log object
    assert max(oks) > max(errors)


def test_an_append_whose_commit_outcome_is_unknown_is_checked_not_repeated(own_server):
    """What ``_verify`` answers for a transaction that committed, one that did not, and when
    the server cannot be asked; real transactions on the real server (the lost connection
    itself is what the crash test above provides)."""
    own_server.create_database("verify")
    url = _url(own_server, "verify")
    log = EncounterLog(url)
    result = aid.triage({"urine_pain": "yes"})
    log.append({"urine_pain": "yes"}, result)
    lost = psycopg.OperationalError("server closed the connection unexpectedly")
    with psycopg.connect(url, autocommit=True) as con:
        # a committed transaction that wrote row 2 behind the log's back
        with con.transaction():
            committed = con.execute("SELECT pg_current_xact_id()::text").fetchone()[0]
            con.execute(
                "INSERT INTO encounters SELECT 2, created_utc, subject, urgency, kb_version,"
                " aid_version, answers_json, result_json, 'behind' FROM encounters WHERE id = 1"
            )
        # a transaction that was rolled back
        con.execute("BEGIN")
        aborted = con.execute("SELECT pg_current_xact_id()::text").fetchone()[0]
        con.execute("ROLLBACK")
    assert log._verify(committed, lost) == 2  # verified: the id it stored, nothing added
    with pytest.raises(StoreError, match="the server confirms nothing was stored") as err:
        log._verify(aborted, lost)
    assert PASSWORD not in str(err.value)
    assert log.count() == 2
    own_server.stop("immediate")
    try:
        with pytest.raises(StoreError, match="may or may not be in the log") as err:
            log._verify(committed, lost)
    finally:
        own_server.start()
    assert f"transaction {committed}" in str(err.value) and PASSWORD not in str(err.value)
