"""The log's readers accept only what EncounterLog.append writes (issue 12).

Rows that pass the table's CHECK constraints but that the aid never writes (another program, a
hand edit) crashed `log export` with a traceback. Each reproduction from the issue, and a few of
the same family, must now be a StoreError naming the row id, and exit 2 from the command line,
with no output file. Export must never write into the file it reads.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from aid import __main__ as cli
from aid.store import EncounterLog, StoreError

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "created_utc": "2025-01-02T09:00:00.000Z",
    "subject": "P-1",
    "urgency": "urgent",
    "kb_version": "abcdef123456",
    "aid_version": "0.1.0",
    "answers_json": '{"fever": "yes"}',
    "result_json": json.dumps({"reasons": [{"rule_id": "RF-X", "reason": "why"}], "causes": []}),
    "notes": "",
}


def log_with(tmp_path: Path, cases, results, **columns) -> Path:
    """A real log: one encounter appended by the aid, then one row inserted behind its back."""
    path = tmp_path / "log.sqlite3"
    EncounterLog(path).append(cases["urgent"], results["urgent"])
    row = {**GOOD, **columns}
    names = ", ".join(row)
    values = ", ".join(v.sql if isinstance(v, Sql) else "?" for v in row.values())
    params = [v for v in row.values() if not isinstance(v, Sql)]
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute(f"INSERT INTO encounters ({names}) VALUES ({values})", params)
    finally:
        con.close()
    return path


class Sql:
    """A value written as an SQL expression (to store a BLOB, bad UTF-8 or a number)."""

    def __init__(self, sql: str):
        self.sql = sql


#: (columns changed from GOOD, what the error must say); test_store_postgres.py reuses the
#: textual ones.
ROW_CASES = [
    # the three reproductions in the issue
    ({"created_utc": "yesterday at 9"}, "created_utc 'yesterday at 9' is not a time"),
    ({"result_json": "[]"}, "result_json is a JSON list, not an object"),
    (
        {"result_json": '{"reasons": [1], "causes": []}'},
        "result_json reasons[0] is not an object with text rule_id and reason",
    ),
    # the same family
    ({"created_utc": "2025-13-45T09:00:00.000Z"}, "is not a real date and time"),
    ({"created_utc": "2025-01-02 09:00:00"}, "is not a time as YYYY-MM-DDTHH:MM:SS.mmmZ"),
    ({"result_json": "{}"}, "result_json has no list of reasons"),
    ({"result_json": '{"reasons": [], "causes": [{"cause_id": 5}]}'}, "causes[0]"),
    ({"answers_json": "[1, 2]"}, "answers_json is a JSON list, not an object"),
    ({"notes": Sql("X'00FF'")}, "notes is stored as 'blob', not text"),
    ({"kb_version": Sql("X'0102'")}, "kb_version is stored as 'blob', not text"),
    ({"kb_version": ""}, "kb_version '' is not a version"),
    ({"aid_version": "v" * 500}, "aid_version 'vvvv"),
    ({"created_utc": Sql("CAST(X'FF' AS TEXT)")}, "created_utc is not UTF-8 text"),
    (
        {"result_json": '{"reasons": ' + "[" * 900 + "]" * 900 + ', "causes": []}'},
        "reasons[0] is not an object",
    ),
]


@pytest.mark.parametrize("columns, message", ROW_CASES)
def test_a_row_the_aid_never_writes_is_a_store_error_naming_its_id(
    tmp_path, cases, results, columns, message
):
    path = log_with(tmp_path, cases, results, **columns)
    log = EncounterLog(path, create=False)
    with pytest.raises(StoreError) as err:
        log.to_frame()
    text = str(err.value)
    assert "encounter id 2: " in text and message in text, text
    assert "not what Back Cramp Aid writes" in text and len(text) < 600
    with pytest.raises(StoreError, match="encounter id 2: "):
        log.get(2)
    assert log.get(1).urgency.value == "urgent"  # the aid's own row still reads


def test_export_of_a_damaged_row_exits_2_and_writes_no_file(tmp_path, cases, results, capsys):
    path = log_with(tmp_path, cases, results, result_json="[]")
    target = tmp_path / "out.csv"
    assert cli.main(["log", "export", str(target), "--db", str(path)]) == 2
    err = capsys.readouterr().err
    assert "encounter id 2: result_json is a JSON list" in err
    assert not target.exists()


def test_export_of_a_zero_byte_file_exits_2_and_leaves_it_zero_bytes(tmp_path):
    """Reproduction: exit 0, and the schema written into the file."""
    path = tmp_path / "empty.sqlite3"
    path.write_bytes(b"")
    done = subprocess.run(
        [sys.executable, "-m", "aid", "log", "export", "-", "--db", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "holds no encounter log (0 bytes, no tables); it was left unchanged" in done.stderr
    assert path.read_bytes() == b""
    assert done.stdout == ""


def test_a_reader_does_not_migrate_an_older_log(tmp_path):
    path = tmp_path / "old.sqlite3"
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (0);"
        "CREATE TABLE encounters (id INTEGER PRIMARY KEY, created_utc TEXT);"
    )
    con.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="older schema 0; exporting does not migrate it"):
        EncounterLog(path, create=False)
    assert path.read_bytes() == before


@pytest.mark.parametrize("suffix", ["", "-wal"])
def test_export_never_writes_into_the_log_it_reads(tmp_path, cases, results, capsys, suffix):
    path = tmp_path / "log.sqlite3"
    EncounterLog(path).append(cases["urgent"], results["urgent"])
    before = path.read_bytes()
    assert cli.main(["log", "export", f"{path}{suffix}", "--db", str(path)]) == 2
    assert "is the encounter log itself" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert EncounterLog(path, create=False).count() == 1


def test_export_through_another_name_for_the_log_is_refused(tmp_path, cases, results, capsys):
    path = tmp_path / "log.sqlite3"
    EncounterLog(path).append(cases["urgent"], results["urgent"])
    link = tmp_path / "link.csv"
    os.symlink(path, link)
    assert cli.main(["log", "export", str(link), "--db", str(path)]) == 2
    assert EncounterLog(path, create=False).count() == 1


def test_a_log_written_by_the_aid_still_exports_read_only(tmp_path, cases, results, capsys):
    path = tmp_path / "log.sqlite3"
    log = EncounterLog(path)
    for name in ("selfcare", "soon", "urgent", "emergency_several"):
        log.append(cases[name], results[name], subject="P-7", notes="=1+2")
    assert cli.main(["log", "export", "-", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 5 and "'=1+2" in out


def test_a_damaged_file_whose_messages_are_not_utf8_is_a_store_error(tmp_path, cases, results):
    """Found by tests/unit/test_fuzz.py: bytes overwritten in the schema page made sqlite3 raise
    UnicodeDecodeError (it decodes SQLite's message, which quoted the stray bytes)."""
    import numpy as np

    path = tmp_path / "log.sqlite3"
    EncounterLog(path).append(cases["urgent"], results["urgent"])
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    whole = path.read_bytes()
    rng = np.random.default_rng(12_004)
    kinds = set()
    for _ in range(200):
        data = bytearray(whole)
        for at in rng.integers(0, len(data), size=int(rng.integers(1, 40))):
            data[int(at)] = int(rng.integers(0, 256))
        damaged = tmp_path / "damaged.sqlite3"
        for side in ("-wal", "-shm"):
            Path(f"{damaged}{side}").unlink(missing_ok=True)
        damaged.write_bytes(bytes(data))
        try:
            EncounterLog(damaged, create=False).to_frame()
            kinds.add("read")
        except StoreError as exc:
            kinds.add("not UTF-8" if "not UTF-8" in str(exc) else "StoreError")
    assert "not UTF-8" in kinds, kinds  # the case this test is about did come up
