"""aid.store: the encounter log, against real SQLite files and a real PostgreSQL server.

Each test writes through the public API, then looks at the database with plain sqlite3 or psycopg
or reads it back, so what is asserted is what is stored. Tests taking the ``log`` fixture run on
both back ends; those about files (permissions, damage, WAL, migration) are SQLite's own, and
PostgreSQL's own (privileges, lock timeout, schemas) are in test_store_postgres.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest

import aid
from aid.store import (
    DEFAULT_PATH,
    FRAME_COLUMNS,
    SCHEMA_VERSION,
    URGENCY_LEVELS,
    Encounter,
    EncounterLog,
    StoreError,
    default_log,
    emergencies,
    export_frame,
    is_postgres_url,
    per_day_urgency,
)
from aid.store_postgres import PostgresEncounterLog

ROOT = Path(__file__).resolve().parents[2]


_OPEN: list = []


class _PgRaw:
    """A psycopg connection that takes sqlite3's ``?`` placeholders, so a test reads alike."""

    def __init__(self, url: str):
        import psycopg

        self.con = psycopg.connect(url, autocommit=True)

    def execute(self, sql: str, params=()):
        return self.con.execute(sql.replace("?", "%s"), params or None)

    def close(self) -> None:
        self.con.close()


def raw(target):
    """A plain connection to look at the log behind the API's back: sqlite3 for a path (or a
    SQLite log), psycopg for a PostgreSQL log. Closed after the test by
    :func:`_close_raw_connections`."""
    if isinstance(target, EncounterLog) and is_postgres_url(getattr(target, "_url", None)):
        con = _PgRaw(target._url)
    else:
        path = target.path if isinstance(target, EncounterLog) else target
        con = sqlite3.connect(path, isolation_level=None)
    _OPEN.append(con)
    return con


def _integrity_errors() -> tuple[type[Exception], ...]:
    import psycopg

    return (sqlite3.IntegrityError, psycopg.IntegrityError)


@pytest.fixture(autouse=True)
def _close_raw_connections():
    yield
    while _OPEN:
        _OPEN.pop().close()


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request, tmp_path) -> EncounterLog:
    """An empty log on each back end: a SQLite file, or a fresh schema on the test server."""
    if request.param == "postgresql":
        return EncounterLog(request.getfixturevalue("pg_url"))
    return EncounterLog(tmp_path / "log.sqlite3")


# -- writing and reading back ---------------------------------------------------------------


def test_append_then_get_returns_exactly_what_was_written(log, cases, results):
    before = datetime.now(UTC)
    notes = "Pain <b>worse</b> at night & \"sharp\"\nsecond line; naïve café ✓ 'quote'"
    new_id = log.append(cases["emergency"], results["emergency"], notes=notes, subject="P-0042")
    after = datetime.now(UTC)

    got = log.get(new_id)
    assert isinstance(got, Encounter)
    assert got.id == new_id == 1
    assert got.subject == "P-0042"
    assert got.urgency is aid.Urgency.EMERGENCY
    assert got.kb_version == results["emergency"].kb_version != ""
    assert got.aid_version == aid.__version__
    assert got.answers == results["emergency"].answers == {"saddle_numbness": "yes"}
    assert got.result == json.loads(json.dumps(results["emergency"].to_dict()))
    assert got.notes == notes
    assert got.reasons == ("RF-CES-SADDLE",)
    assert got.created_utc.tzinfo is not None and got.created_utc.utcoffset().total_seconds() == 0
    # stored to the millisecond
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= got.created_utc <= after


def test_created_utc_is_iso_8601_with_z_on_disk(log, cases, results):
    log.append(cases["selfcare"], results["selfcare"])
    (text,) = raw(log).execute("SELECT created_utc FROM encounters").fetchone()
    assert len(text) == 24 and text[10] == "T" and text.endswith("Z"), text
    datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


def test_ids_increase_and_count_counts(log, cases, results):
    ids = [log.append(cases[name], results[name]) for name in ("selfcare", "soon", "urgent")]
    assert ids == [1, 2, 3]
    assert log.count() == 3
    assert [log.get(i).urgency.value for i in ids] == ["selfcare", "soon", "urgent"]


def test_answers_object_and_raw_dict_are_stored_alike(log, cases, results):
    raw_id = log.append({"urine_pain": "yes", "fever": None}, results["urgent"])
    obj_id = log.append(aid.Answers(cases["urgent"]), results["urgent"])
    assert log.get(raw_id).answers == log.get(obj_id).answers == {"urine_pain": "yes"}


def test_answers_that_are_not_the_results_are_refused(log, cases, results):
    with pytest.raises(StoreError, match="not the ones the result was computed from") as err:
        log.append(cases["selfcare"], results["emergency"])
    assert str(log.path) in str(err.value)
    assert log.count() == 0


def test_unknown_answer_keys_are_refused_so_no_stray_field_is_stored(log, results):
    with pytest.raises(StoreError, match="answers are not valid") as err:
        log.append({"name": "Jane Doe"}, results["selfcare"])
    assert str(log.path) in str(err.value)
    assert log.count() == 0


def test_get_of_a_missing_id_is_a_store_error(log):
    with pytest.raises(StoreError, match="no encounter with id 7"):
        log.get(7)


@pytest.mark.parametrize("subject", ["P-0042", "a", "x" * 64, "clinic_7-abc", None])
def test_pseudonymous_subjects_are_accepted(log, results, subject):
    new_id = log.append({}, results["selfcare"], subject=subject)
    assert log.get(new_id).subject == subject


@pytest.mark.parametrize(
    "subject",
    [
        "jane.doe@example.org",
        "Jane Doe",
        "+44 7700 900123",
        "P-1\t",
        "",
        "x" * 65,
        "Zoë",
        "P/1",
        42,
    ],
)
def test_names_and_contact_details_are_refused_and_not_echoed(log, results, subject):
    with pytest.raises(StoreError, match="names and contact details must not be stored") as err:
        log.append({}, results["selfcare"], subject=subject)
    message = str(err.value)
    assert str(log.path) in message
    if isinstance(subject, str) and len(subject) > 3:
        assert subject.strip() not in message  # the contact detail itself is never logged
    assert log.count() == 0


def test_notes_must_be_text(log, results):
    with pytest.raises(StoreError, match="notes must be text"):
        log.append({}, results["selfcare"], notes=None)  # type: ignore[arg-type]


# -- the file itself --------------------------------------------------------------------------


def test_file_is_wal(tmp_path, cases, results):
    log = EncounterLog(tmp_path / "log.sqlite3")
    log.append(cases["soon"], results["soon"])
    assert raw(log).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_schema_version_table_and_columns(log, cases, results):
    log.append(cases["soon"], results["soon"])
    con = raw(log)
    assert con.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    if isinstance(con, sqlite3.Connection):
        columns = [r[1] for r in con.execute("PRAGMA table_info(encounters)")]
    else:
        columns = [
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name ="
                " 'encounters' AND table_schema = current_schema() ORDER BY ordinal_position"
            )
        ]
    assert columns == [
        "id",
        "created_utc",
        "subject",
        "urgency",
        "kb_version",
        "aid_version",
        "answers_json",
        "result_json",
        "notes",
    ]


def test_triggers_make_the_table_append_only(log, cases, results):
    log.append(cases["emergency"], results["emergency"], notes="original")
    con = raw(log)  # the table's owner: only the triggers stand in the way
    with pytest.raises(_integrity_errors(), match="append-only"):
        con.execute("UPDATE encounters SET urgency = 'selfcare'")
    with pytest.raises(_integrity_errors(), match="append-only"):
        con.execute("DELETE FROM encounters")
    if not isinstance(con, sqlite3.Connection):  # SQLite has no TRUNCATE
        with pytest.raises(_integrity_errors(), match="append-only"):
            con.execute("TRUNCATE encounters")
    con.close()
    assert log.count() == 1
    assert log.get(1).urgency is aid.Urgency.EMERGENCY and log.get(1).notes == "original"


def test_the_api_has_no_way_to_change_or_remove_an_encounter():
    for cls in (EncounterLog, PostgresEncounterLog):  # the two back ends: the same interface
        public = {name for name in dir(cls) if not name.startswith("_")}
        assert public == {"append", "get", "count", "to_frame", "close"}


def test_partial_or_invalid_json_cannot_be_written_even_behind_the_api(log, cases, results):
    log.append(cases["soon"], results["soon"])
    con = raw(log)
    for result_json, urgency in (('{"a":', "soon"), ("{}", "later")):
        with pytest.raises(_integrity_errors(), match="(?i)check"):
            con.execute(
                "INSERT INTO encounters (id, created_utc, urgency, kb_version, aid_version,"
                " answers_json, result_json) VALUES (2, '2026-01-01T00:00:00.000Z', ?, 'k', 'v',"
                " '{}', ?)",
                (urgency, result_json),
            )
    assert log.count() == 1


# -- failures: every one a StoreError naming the path -------------------------------------------


def test_parent_that_is_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    target = blocker / "log.sqlite3"
    with pytest.raises(StoreError, match="cannot create the folder") as err:
        EncounterLog(target)
    assert str(target) in str(err.value) and "AID_DB" in str(err.value)


def test_path_that_is_a_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="folder, not a database file") as err:
        EncounterLog(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_missing_folder_is_created(tmp_path, cases, results):
    log = EncounterLog(tmp_path / "a" / "b" / "log.sqlite3")
    log.append(cases["soon"], results["soon"])
    assert (tmp_path / "a" / "b" / "log.sqlite3").is_file() and log.count() == 1


def test_unwritable_folder_is_a_clear_error(shared_dir, unprivileged, cases, results):
    locked, open_ = shared_dir / "locked", shared_dir / "open"
    locked.mkdir()
    open_.mkdir()
    locked.chmod(0o555)
    open_.chmod(0o777)
    answers, result = cases["soon"], results["soon"]

    def write(folder: Path):
        return lambda: EncounterLog(folder / "log.sqlite3").append(answers, result)

    # the same unprivileged child can write where it may: the failure below is the folder's
    assert unprivileged(write(open_)) == ("ok", 1)
    kind, message = unprivileged(write(locked))
    assert kind == "StoreError", message
    assert str(locked / "log.sqlite3") in message
    assert "cannot open or create the file" in message and "AID_DB" in message


def test_read_only_file_can_be_read_but_an_append_is_a_clear_error(
    shared_dir, unprivileged, cases, results
):
    shared_dir.chmod(0o777)
    path = shared_dir / "log.sqlite3"
    EncounterLog(path).append(cases["urgent"], results["urgent"])
    path.chmod(0o444)
    answers, result = cases["soon"], results["soon"]

    def read_then_append():
        log = EncounterLog(path)
        count = log.count()
        try:
            log.append(answers, result)
        except StoreError as exc:
            return [count, str(exc)]
        return [count, "appended"]

    kind, (count, message) = unprivileged(read_then_append)
    assert kind == "ok"
    assert count == 1
    assert str(path) in message and "read-only" in message, message
    assert EncounterLog(path).count() == 1


def test_garbage_file_is_a_clear_error_and_is_left_alone(tmp_path):
    path = tmp_path / "log.sqlite3"
    garbage = b"this is not a database, just some text someone saved here\n" * 200
    path.write_bytes(garbage)
    with pytest.raises(StoreError, match="not a SQLite database or is damaged") as err:
        EncounterLog(path)
    assert str(path) in str(err.value) and "Move the file aside" in str(err.value)
    assert path.read_bytes() == garbage


def test_damaged_pages_are_a_store_error_not_a_sqlite_error(tmp_path, cases, results):
    path = tmp_path / "log.sqlite3"
    log = EncounterLog(path)
    for _ in range(60):
        log.append(cases["emergency_several"], results["emergency_several"], notes="n" * 2000)
    data = bytearray(path.read_bytes())  # every connection is closed: the WAL is checkpointed
    page = 4096
    assert len(data) > 8 * page
    for start in range(2 * page, len(data), page):  # keep page 1 (schema), smash the b-tree pages
        data[start : start + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="not a SQLite database or is damaged") as err:
        EncounterLog(path).to_frame()
    assert str(path) in str(err.value)


def test_lock_held_longer_than_the_busy_timeout_is_a_clear_error(tmp_path, cases, results):
    log = EncounterLog(tmp_path / "log.sqlite3", busy_timeout=0.3)
    log.append(cases["soon"], results["soon"])
    other = raw(log.path)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    try:
        started = time.monotonic()
        with pytest.raises(
            StoreError, match=r"locked by another program for longer than 0\.3 s"
        ) as err:
            log.append(cases["urgent"], results["urgent"])
        waited = time.monotonic() - started
        assert str(log.path) in str(err.value)
        assert waited >= 0.25  # it did wait for the other writer before giving up
        assert log.count() == 1  # WAL: readers are not blocked by the writer
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert log.append(cases["urgent"], results["urgent"]) == 2


def test_a_writer_waits_for_a_short_lock_instead_of_failing(tmp_path, cases, results):
    import threading

    log = EncounterLog(tmp_path / "log.sqlite3", busy_timeout=5)
    other = sqlite3.connect(log.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.3, lambda: other.execute("COMMIT")).start()
    assert log.append(cases["soon"], results["soon"]) == 1
    other.close()


def test_export_refuses_a_missing_log_without_creating_it(tmp_path):
    path = tmp_path / "nothing-here.sqlite3"
    with pytest.raises(StoreError, match="no encounter log here") as err:
        EncounterLog(path, create=False)
    assert str(path) in str(err.value) and not path.exists()


# -- schema versions ------------------------------------------------------------------------


def _make_v0(path: Path, results, rows=3, bad_json=False) -> None:
    """The pre-release layout: schema_version holding 0; encounters without notes, checks or
    triggers."""
    con = raw(path)
    con.executescript("""
        CREATE TABLE schema_version (version INTEGER NOT NULL);
        INSERT INTO schema_version VALUES (0);
        CREATE TABLE encounters (
            id INTEGER PRIMARY KEY AUTOINCREMENT, created_utc TEXT NOT NULL, subject TEXT,
            urgency TEXT NOT NULL, kb_version TEXT NOT NULL, aid_version TEXT NOT NULL,
            answers_json TEXT NOT NULL, result_json TEXT NOT NULL);
    """)
    result = results["urgent"]
    for i in range(rows):
        con.execute(
            "INSERT INTO encounters (created_utc, subject, urgency, kb_version, aid_version,"
            " answers_json, result_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                f"2025-01-0{i + 1}T09:00:00.000Z",
                f"OLD-{i}",
                "urgent",
                "oldkb",
                "0.0.1",
                json.dumps(result.answers),
                "{broken" if bad_json and i == 1 else json.dumps(result.to_dict()),
            ),
        )
    con.close()


def test_version_0_log_is_migrated_forward_keeping_every_row(tmp_path, cases, results):
    path = tmp_path / "old.sqlite3"
    _make_v0(path, results)
    log = EncounterLog(path)
    con = raw(path)
    assert [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY version")] == [
        0,
        1,
    ]
    assert "notes" in [r[1] for r in con.execute("PRAGMA table_info(encounters)")]
    old = log.get(2)
    assert (old.subject, old.kb_version, old.aid_version, old.notes) == (
        "OLD-1",
        "oldkb",
        "0.0.1",
        "",
    )
    assert old.result == json.loads(json.dumps(results["urgent"].to_dict()))
    assert old.created_utc == datetime(2025, 1, 2, 9, tzinfo=UTC)
    assert log.append(cases["soon"], results["soon"], notes="after migration") == 4
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("DELETE FROM encounters WHERE id = 1")
    assert log.count() == 4
    assert EncounterLog(path).count() == 4  # reopening a migrated file is a no-op


def test_migration_that_cannot_finish_is_refused_and_leaves_the_file_unchanged(tmp_path, results):
    path = tmp_path / "old.sqlite3"
    _make_v0(path, results, bad_json=True)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="cannot migrate it from schema 0 to 1") as err:
        EncounterLog(path)
    assert str(path) in str(err.value)
    con = raw(path)
    assert con.execute("SELECT version FROM schema_version").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM encounters").fetchone()[0] == 3
    con.close()
    assert path.read_bytes() == before


def test_newer_schema_is_refused_with_the_promised_message(tmp_path, cases, results):
    path = tmp_path / "new.sqlite3"
    EncounterLog(path).append(cases["soon"], results["soon"])
    con = raw(path)
    con.execute("INSERT INTO schema_version VALUES (2, '2030-01-01T00:00:00.000Z')")
    con.close()
    before = path.read_bytes()
    with pytest.raises(StoreError) as err:
        EncounterLog(path)
    message = str(err.value)
    assert "written by a newer Back Cramp Aid (schema 2); this version reads up to 1" in message
    assert str(path) in message and "Upgrade" in message
    assert path.read_bytes() == before


@pytest.mark.parametrize("version", [-1])
def test_unknown_older_schema_is_refused(tmp_path, version):
    path = tmp_path / "odd.sqlite3"
    con = raw(path)
    con.executescript(
        f"CREATE TABLE schema_version (version INTEGER); INSERT INTO schema_version VALUES ({version});"
    )
    con.close()
    with pytest.raises(
        StoreError, match=f"schema {version} is not one this version can read or migrate"
    ) as err:
        EncounterLog(path)
    assert str(path) in str(err.value)


def test_empty_schema_version_table_is_refused(tmp_path):
    path = tmp_path / "odd.sqlite3"
    raw(path).execute("CREATE TABLE schema_version (version INTEGER)")
    with pytest.raises(StoreError, match="schema_version table is empty"):
        EncounterLog(path)


def test_some_other_sqlite_database_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "other.sqlite3"
    con = raw(path)
    con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    con.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a Back Cramp Aid encounter log") as err:
        EncounterLog(path)
    assert str(path) in str(err.value)
    assert path.read_bytes() == before


# -- frames for the clinician notebook ------------------------------------------------------


def test_to_frame_has_one_parsed_row_per_encounter(log, cases, results):
    log.append(cases["selfcare"], results["selfcare"], subject="P-1")
    log.append(cases["emergency_several"], results["emergency_several"], notes="<i>n</i>")
    frame = log.to_frame()
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert frame["id"].tolist() == [1, 2]
    assert isinstance(frame["created_utc"].dtype, pd.DatetimeTZDtype)
    assert str(frame["created_utc"].dt.tz) == "UTC"
    assert frame["urgency"].tolist() == ["selfcare", "emergency"]
    several = results["emergency_several"]
    assert frame["reasons"].tolist() == ["", ";".join(several.fired_rule_ids)]
    assert ";" in frame["reasons"][1]
    assert frame["top_cause"].tolist() == ["", several.causes[0].cause_id]
    assert frame["subject"][0] == "P-1" and pd.isna(frame["subject"][1])
    assert frame["notes"].tolist() == ["", "<i>n</i>"]
    assert json.loads(frame["result_json"][1]) == json.loads(json.dumps(several.to_dict()))
    assert json.loads(frame["answers_json"][1]) == several.answers


def test_to_frame_of_an_empty_log_has_the_columns(log):
    frame = log.to_frame()
    assert list(frame.columns) == list(FRAME_COLUMNS) and len(frame) == 0
    assert per_day_urgency(frame).shape == (0, 4)
    assert len(emergencies(frame)) == 0


def _frame(rows: list[tuple[str, str]]) -> pd.DataFrame:
    """A to_frame()-shaped frame with chosen times and urgencies (times cannot be chosen through
    the API: the log stamps them itself)."""
    reasons = {"emergency": [{"rule_id": "RF-X", "reason": "Reason in words."}]}
    return pd.DataFrame(
        {
            "id": range(1, len(rows) + 1),
            "created_utc": pd.to_datetime([t for t, _ in rows], utc=True),
            "subject": None,
            "urgency": [u for _, u in rows],
            "kb_version": "k",
            "aid_version": "v",
            "reasons": ["RF-X" if u == "emergency" else "" for _, u in rows],
            "top_cause": "",
            "notes": [f"note {i}" for i in range(len(rows))],
            "answers_json": "{}",
            "result_json": [json.dumps({"reasons": reasons.get(u, [])}) for _, u in rows],
        }
    )


def test_per_day_urgency_counts_each_level_per_day_including_empty_days():
    frame = _frame(
        [
            ("2026-03-01T08:00:00Z", "selfcare"),
            ("2026-03-01T23:59:59Z", "emergency"),
            ("2026-03-01T12:00:00Z", "selfcare"),
            ("2026-03-03T00:00:00Z", "urgent"),
            ("2026-03-03T10:00:00Z", "soon"),
        ]
    )
    table = per_day_urgency(frame)
    assert (
        list(table.columns) == list(URGENCY_LEVELS) == ["emergency", "urgent", "soon", "selfcare"]
    )
    assert [d.strftime("%Y-%m-%d") for d in table.index] == [
        "2026-03-01",
        "2026-03-02",
        "2026-03-03",
    ]
    assert table.to_dict("list") == {
        "emergency": [1, 0, 0],
        "urgent": [0, 0, 1],
        "soon": [0, 0, 1],
        "selfcare": [2, 0, 0],
    }
    assert all(str(t) == "int64" for t in table.dtypes)
    assert int(table.to_numpy().sum()) == len(frame)


def test_per_day_urgency_refuses_an_unknown_level_rather_than_dropping_it():
    with pytest.raises(ValueError, match="unknown urgency"):
        per_day_urgency(_frame([("2026-03-01T08:00:00Z", "later")]))


def test_per_day_urgency_on_a_real_log_counts_every_encounter(log, cases, results):
    for name in ("selfcare", "soon", "soon", "urgent", "emergency"):
        log.append(cases[name], results[name])
    table = per_day_urgency(log.to_frame())
    assert table.sum().to_dict() == {"emergency": 1, "urgent": 1, "soon": 2, "selfcare": 1}


def test_emergencies_lists_only_emergencies_newest_first_with_reasons_in_words(log, cases, results):
    log.append(cases["emergency"], results["emergency"], subject="P-1")
    log.append(cases["urgent"], results["urgent"])
    log.append(cases["emergency_several"], results["emergency_several"], notes="came by taxi")
    table = emergencies(log.to_frame())
    assert list(table.columns) == [
        "id",
        "created_utc",
        "subject",
        "rule_ids",
        "reason_text",
        "notes",
    ]
    assert table["id"].tolist() == [3, 1]
    several = results["emergency_several"]
    assert table["rule_ids"][0] == ";".join(several.fired_rule_ids)
    assert table["reason_text"][0] == "\n".join(r.reason for r in several.reasons)
    assert table["reason_text"][1] == results["emergency"].reasons[0].reason
    assert table["notes"].tolist() == ["came by taxi", ""]


def test_free_text_is_stored_as_typed_and_rendered_escaped(log, cases, results):
    notes = "<script>alert('x')</script> & <b>bold</b>"
    log.append(cases["emergency"], results["emergency"], notes=notes)
    assert log.get(1).notes == notes
    for table in (log.to_frame(), emergencies(log.to_frame())):
        html = table.to_html()
        assert "<script>" not in html and "<b>bold</b>" not in html
        assert "&lt;script&gt;" in html


def test_export_frame_neutralises_spreadsheet_formulas_only(log, cases, results):
    for notes in ('=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "plain", "a=b"):
        log.append(
            cases["soon"], results["soon"], notes=notes, subject="-A1" if notes == "-2" else None
        )
    out = export_frame(log.to_frame())
    assert out["notes"].tolist() == [
        '\'=HYPERLINK("http://x")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "plain",
        "a=b",
    ]
    assert out["subject"][2] == "'-A1"
    assert all(t.endswith("Z") and len(t) == 24 for t in out["created_utc"])


# -- where the log lives --------------------------------------------------------------------


def test_default_path_is_var_in_the_checkout_and_git_ignored():
    assert DEFAULT_PATH == ROOT / "var" / "encounters.sqlite3"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(DEFAULT_PATH)], cwd=ROOT)
    assert ignored.returncode == 0, "var/encounters.sqlite3 must be git-ignored"


def test_default_log_follows_aid_db(tmp_path, monkeypatch):
    monkeypatch.setenv("AID_DB", "off")
    assert default_log() is None
    monkeypatch.setenv("AID_DB", "OFF")
    assert default_log() is None
    monkeypatch.setenv("AID_DB", str(tmp_path / "x" / "log.sqlite3"))
    log = default_log()
    assert isinstance(log, EncounterLog) and log.path == tmp_path / "x" / "log.sqlite3"
    assert log.path.is_file()


def test_importing_aid_or_aid_store_does_not_import_pandas():
    code = "import sys, aid, aid.store; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# -- the CLI --------------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "AID_DB"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "aid", *args], capture_output=True, text=True, cwd=ROOT, env=full_env
    )


def test_cli_exports_every_encounter_to_stdout_and_to_a_file(log, tmp_path, cases, results):
    path = getattr(log, "_url", None) or log.path  # a file, or the postgresql:// URL
    log.append(cases["emergency"], results["emergency"], subject="P-9", notes='line1\nline2, "q"')
    log.append(cases["soon"], results["soon"])

    out = _cli("log", "export", "-", env={"AID_DB": str(path)})
    assert out.returncode == 0, out.stderr
    frame = pd.read_csv(StringIO(out.stdout), keep_default_na=False)
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert frame["id"].tolist() == [1, 2]
    assert frame["urgency"].tolist() == ["emergency", "soon"]
    assert frame["subject"].tolist() == ["P-9", ""]
    assert frame["notes"][0] == 'line1\nline2, "q"'
    assert frame["reasons"].tolist() == ["RF-CES-SADDLE", "RF-SCIATICA-ONE"]
    assert json.loads(frame["result_json"][0]) == json.loads(
        json.dumps(results["emergency"].to_dict())
    )

    target = tmp_path / "out.csv"
    out = _cli("log", "export", str(target), "--db", str(path), env={"AID_DB": "off"})
    assert out.returncode == 0, out.stderr
    assert pd.read_csv(target)["id"].tolist() == [1, 2]
    assert "wrote 2 encounters" in out.stderr


@pytest.mark.parametrize(
    "setup, expected",
    [
        ("missing", "no encounter log here"),
        ("garbage", "not a SQLite database or is damaged"),
        ("off", "disabled (AID_DB=off)"),
    ],
)
def test_cli_failures_exit_2_with_a_message_naming_the_path(tmp_path, setup, expected):
    path = tmp_path / "log.sqlite3"
    if setup == "garbage":
        path.write_bytes(b"garbage" * 100)
    out = _cli("log", "export", "-", env={"AID_DB": "off" if setup == "off" else str(path)})
    assert out.returncode == 2
    assert expected in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""
    if setup != "off":
        assert str(path) in out.stderr
    if setup == "missing":
        assert not path.exists()


def test_cli_unwritable_output_exits_2(tmp_path, cases, results):
    path = tmp_path / "log.sqlite3"
    EncounterLog(path).append(cases["soon"], results["soon"])
    out = _cli("log", "export", str(tmp_path / "no" / "such" / "dir" / "x.csv"), "--db", str(path))
    assert out.returncode == 2 and "cannot write" in out.stderr and "Traceback" not in out.stderr
