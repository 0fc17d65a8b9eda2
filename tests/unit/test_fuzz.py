"""Bounded fuzz tests of the three ways bad input comes in (issue 12): `python -m aid triage`,
the cohort path and `log export`.

Each test draws at least 3,000 documents from a seeded generator (so a failure reproduces: the
message shows the document's number and its first bytes) and runs them in-process. Any exit
other than 0 or 2 fails, and so does any exception escaping ``aid.__main__.main`` (in-process,
that is what a traceback is). A few documents also go through a real ``python -m aid``
subprocess. The generators mix valid documents with the faults the issue found: huge numbers,
deep nesting, long strings, non-UTF-8 bytes, NaN, duplicate keys, shifted and cut CSV rows,
formulas, e-mail subjects, and log rows that pass the CHECK constraints but are not the aid's.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import random
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pytest

import aid
from aid import __main__ as cli
from aid import load_knowledge
from aid.cohort import (
    REVIEW_ORDER,
    CohortError,
    _check_columns,
    _check_subjects,
    _read_checked,
    check_shape,
    csv_ready,
    triage_frame,
)
from aid.store import EncounterLog

KB = load_knowledge()
QUESTIONS = list(KB.questions.values())
DOCUMENTS = 3000
#: A message may list the question ids (the allowed values); it may not echo a huge value.
MAX_MESSAGE = 1500


# ------------------------------------------------------------------ running the CLI in-process


@pytest.fixture(autouse=True)
def _one_parser():
    """Build the argument parser once: argparse's set-up (gettext look-ups for every option)
    costs more than the triage it dispatches to. main() itself still runs for every document."""
    with mock.patch.object(
        cli, "build_parser", functools.lru_cache(maxsize=None)(cli.build_parser)
    ):
        yield


def run_main(argv: list[str], stdin: bytes = b"") -> tuple[Any, str, str]:
    """cli.main as the console runs it: (exit code, stdout, stderr). Exceptions other than
    SystemExit propagate, so the caller sees a traceback as a failure."""
    out, err = io.StringIO(), io.StringIO()
    fake_stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        mock.patch.object(sys, "stdin", fake_stdin),
    ):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def check_all(documents: list[bytes], run: Callable[[int, bytes], tuple[Any, str]]) -> dict:
    """Run every document; fail listing the first few that exit other than 0/2 or raise."""
    codes: dict[Any, int] = {}
    failures = []
    for i, doc in enumerate(documents):
        try:
            code, err = run(i, doc)
        except Exception as exc:  # noqa: BLE001 - a traceback is exactly what we look for
            failures.append(f"document {i} {doc[:60]!r}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        codes[code] = codes.get(code, 0) + 1
        if code not in (0, 2):
            failures.append(f"document {i} {doc[:60]!r}: exit {code}: {err[:200]}")
        elif code == 2 and (not err.startswith("error: ") or len(err) > MAX_MESSAGE):
            failures.append(f"document {i} {doc[:60]!r}: message {len(err)} chars: {err[:200]}")
    assert not failures, f"{len(failures)} of {len(documents)} failed:\n" + "\n".join(failures[:10])
    return codes


# ------------------------------------------------------------------ value generators

TEXTS = [
    "yes",
    "no",
    "Yes",
    "",
    " ",
    "maybe",
    "none",
    "=cmd|' /C calc'!A0",
    "+1+2",
    "@SUM(A1)",
    "john@example.com",
    "John Smith",
    "ä\u202eö",
    "\x00",
    "\t",
    "a;b",
    "ribs;none",
    "NaN",
    "nan",
    "inf",
    "-1",
    "1e999",
    "0x10",
    "１２",
    "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
]


def random_text(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.5:
        return rng.choice(TEXTS)
    if roll < 0.6:
        return rng.choice('xyz,"\n\r;') * rng.choice([100, 5000, 200_000])
    return "".join(
        chr(rng.choice([rng.randrange(32, 127), rng.randrange(0, 0x3000)]))
        for _ in range(rng.randrange(1, 30))
    )


def big_number(rng: random.Random) -> str:
    return rng.choice(["", "-"]) + "9" * rng.choice([20, 309, 401, 4301, 5000, 20_000])


def valid_value(rng: random.Random, question) -> Any:
    if question.kind in ("number", "scale"):
        return rng.randint(int(question.minimum), int(question.maximum))
    if question.kind == "multi":
        real = [o for o in question.options if o != "none"]
        return rng.sample(real, rng.randint(1, len(real)))
    return rng.choice(question.options)


def json_value(rng: random.Random, depth: int = 0) -> str:
    """One JSON value as text: valid answers, wrong types, huge, deep, or not quite JSON."""
    roll = rng.random()
    if roll < 0.35:
        return json.dumps(valid_value(rng, rng.choice(QUESTIONS)))
    if roll < 0.5:
        return json.dumps(random_text(rng))
    if roll < 0.6:
        return big_number(rng) + rng.choice(["", ".5", "e5", "e999"])
    if roll < 0.68:
        return rng.choice(
            [
                "NaN",
                "Infinity",
                "-Infinity",
                "1e400",
                "-0.0",
                "3.5",
                "true",
                "null",
                "0",
                "-1",
                "121",
            ]
        )
    if roll < 0.76:
        n = rng.choice([3, 50, 999, 1001, 3000, 100_000])
        return "[" * n + json.dumps(rng.choice(["ribs", 1, None])) + "]" * n
    if roll < 0.9 and depth < 3:
        return "[" + ", ".join(json_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))) + "]"
    if depth < 3:
        return (
            "{"
            + ", ".join(
                f"{json.dumps(random_text(rng))}: {json_value(rng, depth + 1)}"
                for _ in range(rng.randrange(0, 3))
            )
            + "}"
        )
    return "1"


def answers_document(rng: random.Random) -> bytes:
    """An answers file: mostly an object keyed by question ids, then mutated at random."""
    pairs = []
    for _ in range(rng.randrange(0, 8)):
        roll = rng.random()
        question = rng.choice(QUESTIONS)
        key = question.id if roll < 0.85 else random_text(rng)
        value = json.dumps(valid_value(rng, question)) if rng.random() < 0.6 else json_value(rng)
        pairs.append((key, value))
    if pairs and rng.random() < 0.05:
        pairs.append(pairs[0])  # a key given twice
    text = "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + "}"
    roll = rng.random()
    if roll < 0.05:
        text = json_value(rng)  # not an object at all
    data = text.encode("utf-8", "surrogatepass")
    return mutate_bytes(rng, data, text)


def mutate_bytes(rng: random.Random, data: bytes, text: str) -> bytes:
    """Byte-level damage: truncation, stray bytes, other encodings, byte-order marks."""
    roll = rng.random()
    if roll < 0.05 and data:
        return data[: rng.randrange(len(data))]
    if roll < 0.1:
        at = rng.randrange(len(data) + 1)
        return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4))) + data[at:]
    if roll < 0.13:
        return text.encode("utf-16", "surrogatepass")
    if roll < 0.16:
        return text.encode("latin-1", "replace")
    if roll < 0.18:
        return b"\xef\xbb\xbf" + data
    if roll < 0.19:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
    return data


def documents(make: Callable[[random.Random], bytes], seed: int, n: int = DOCUMENTS) -> list[bytes]:
    rng = random.Random(seed)
    return [make(rng) for _ in range(n)]


# ------------------------------------------------------------------ python -m aid triage


def test_fuzzed_answers_files_exit_0_or_2_never_a_traceback():
    docs = documents(answers_document, seed=12_001)

    def run(i: int, doc: bytes) -> tuple[Any, str]:
        argv = ["triage", "-"] + (["--json"] if i % 2 else [])
        code, _, err = run_main(argv, doc)
        return code, err

    codes = check_all(docs, run)
    assert sum(codes.values()) >= DOCUMENTS
    assert codes.get(0, 0) >= 200 and codes.get(2, 0) >= 1000, codes  # both paths exercised


# ------------------------------------------------------------------ the cohort path


def csv_cell(rng: random.Random, question) -> str:
    roll = rng.random()
    if roll < 0.6:
        value = valid_value(rng, question)
        return ";".join(value) if isinstance(value, list) else str(value)
    if roll < 0.7:
        return ""
    if roll < 0.78:
        return big_number(rng)
    return random_text(rng)


def quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\n\r') else cell


def cohort_document(rng: random.Random) -> bytes:
    """A clinic export: a header of question ids (sometimes a subject, an unknown or duplicated
    column), rows of valid and bad cells, rows cut short or too long, trailing delimiters."""
    questions = rng.sample(QUESTIONS, rng.randint(1, 8))
    header = [q.id for q in questions]
    if rng.random() < 0.5:
        header.insert(0, "subject")
    if rng.random() < 0.05:
        header.append(rng.choice(["fevr", header[0], "", "urgency", random_text(rng)[:20]]))
    trailing = rng.random() < 0.15
    lines = [",".join(quote(h) for h in header) + ("," if trailing and rng.random() < 0.3 else "")]
    for r in range(rng.randrange(0, 6)):
        cells = []
        for name in header:
            question = KB.questions.get(name)
            if question is None:
                roll = rng.random()
                cells.append(f"P-{r}" if roll < 0.8 else random_text(rng))
            else:
                cells.append(csv_cell(rng, question))
        roll = rng.random()
        if roll < 0.05:
            cells = cells[: rng.randrange(len(cells) + 1)]
        elif roll < 0.1:
            cells += [random_text(rng) if rng.random() < 0.5 else ""]
        line = ",".join(quote(c) if rng.random() < 0.97 else c for c in cells)
        lines.append(line + ("," if trailing else ""))
    sep = rng.choice(["\n"] * 8 + ["\r\n", "\r"])
    text = sep.join(lines) + (sep if rng.random() < 0.9 else "")
    return mutate_bytes(rng, text.encode("utf-8", "surrogatepass"), text)


def cohort_front(path: str) -> pd.DataFrame:
    """What triage_csv does to a file before the rules run: the shape, pandas, the columns and
    the subjects. Raises what triage_csv raises (CohortError, or what the CLI maps to exit 2)."""
    try:
        shape = check_shape(path)
        frame = _read_checked(path, shape)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise CohortError(str(exc)) from None
    if len(frame) != shape.rows:
        raise AssertionError(f"pandas read {len(frame)} rows, the shape check {shape.rows}")
    _check_columns(frame, KB, ())
    _check_subjects(frame, 1)
    return frame


def test_fuzzed_clinic_exports_exit_0_or_2_never_a_traceback(tmp_path):
    """3,000 exports through everything before the rules (one file each), then every accepted
    row triaged together (the rules cost ~60 ms per call whatever the rows, so one call for
    all keeps this test in seconds), then 150 documents through the whole `cohort` command."""
    docs = documents(cohort_document, seed=12_002)
    source = tmp_path / "in.csv"
    accepted: list[dict[str, Any]] = []  # rows, not frames: concatenating 1,500 frames takes 8 s

    def front(i: int, doc: bytes) -> tuple[Any, str]:
        source.write_bytes(doc)
        try:
            frame = cohort_front(str(source))
        except CohortError as exc:
            message = f"error: {exc}"
            return 2, message
        accepted.extend(frame.to_dict("records"))
        return 0, ""

    codes = check_all(docs, front)
    assert codes.get(0, 0) >= 800 and codes.get(2, 0) >= 800, codes

    pooled = pd.DataFrame.from_records(accepted)
    out = triage_frame(pooled, block_rows=997)
    assert len(out) == len(pooled) >= 2000
    assert set(out["urgency"]) <= set(REVIEW_ORDER)
    assert (out["urgency"] == "error").sum() > 100
    assert max(len(str(e)) for e in out["error"]) < 4 * MAX_MESSAGE  # several messages per row
    ready = csv_ready(out)
    for column in ready.columns:
        cells = ready[column].astype(str)
        assert not cells.str.startswith(("=", "+", "-", "@", "\t", "\r")).any(), column
    ready.to_csv(io.StringIO(), index=False)

    target = tmp_path / "out.csv"

    def whole(i: int, doc: bytes) -> tuple[Any, str]:
        source.write_bytes(doc)
        code, _, err = run_main(["cohort", str(source), str(target)])
        return code, err

    check_all(docs[:150], whole)


# ------------------------------------------------------------------ log export


def log_value(rng: random.Random, column: str, good: Any) -> tuple[str, list[Any]]:
    """(SQL expression, parameters) for one column: the aid's own value or a damaged one."""
    roll = rng.random()
    if roll < 0.55:
        return "?", [good]
    if column.endswith("_json") and roll < 0.85:
        try:
            value = json.loads(good)
        except ValueError:
            value = {}
        if isinstance(value, dict) and value:
            key = rng.choice(list(value))
            if rng.random() < 0.3:
                del value[key]
            else:
                value[key] = rng.choice(
                    [
                        [1],
                        [{}],
                        [{"rule_id": 1}],
                        [{"cause_id": "x"}],
                        "x",
                        None,
                        {},
                        [[[]]],
                        [{"rule_id": "R", "reason": 5}],
                        10**30,
                        "\u202e",
                        [{"cause_id": "x"}] * 3,
                    ]
                )
        try:
            return "?", [json.dumps(value)]
        except (ValueError, RecursionError):
            return "?", ["[]"]
    choice = rng.random()
    if choice < 0.3:
        return "?", [random_text(rng)]
    if choice < 0.45:
        return "?", [rng.choice([0, -1, 2**63 - 1, 3.5, float("inf")])]
    if choice < 0.6:
        return "?", [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 20)))]
    if choice < 0.7:
        return "NULL", []
    if choice < 0.8:
        return "CAST(X'FF00' AS TEXT)", []
    if column == "created_utc":
        return "?", [
            rng.choice(
                [
                    "2025-02-30T00:00:00.000Z",
                    "2025-01-01",
                    "9999-99-99T99:99:99.999Z",
                    "2025-01-01T00:00:00.000+01:00",
                    "yesterday",
                ]
            )
        ]
    return "?", [rng.choice(["emergency", "urgent", "soon", "selfcare", "", "[]", "{}"])]


def test_fuzzed_log_rows_export_with_exit_0_or_2_never_a_traceback(tmp_path):
    """3,000 rows inserted behind the aid's back (those that pass the CHECK constraints), one
    at a time next to a row the aid wrote, each exported in-process; then damaged files."""
    path = tmp_path / "log.sqlite3"
    log = EncounterLog(path)
    answers = {"saddle_numbness": "yes", "fever": "yes"}
    log.append(answers, aid.triage(answers), subject="P-1", notes="=1+2")
    con = sqlite3.connect(path, isolation_level=None)
    columns = [
        "created_utc",
        "subject",
        "urgency",
        "kb_version",
        "aid_version",
        "answers_json",
        "result_json",
        "notes",
    ]
    good = con.execute(f"SELECT {', '.join(columns)} FROM encounters").fetchone()
    # Only this test's copy: drop the append-only triggers so that each fuzzed row can be removed.
    con.execute("DROP TRIGGER encounters_no_delete")
    rng = random.Random(12_003)
    inserted = refused = 0
    codes: dict[Any, int] = {}
    failures = []
    while inserted < DOCUMENTS and refused < 20 * DOCUMENTS:
        parts = [log_value(rng, c, g) for c, g in zip(columns, good, strict=True)]
        sql = (
            f"INSERT INTO encounters ({', '.join(columns)}) "
            f"VALUES ({', '.join(p[0] for p in parts)})"
        )
        try:
            con.execute(sql, [v for p in parts for v in p[1]])
        except (sqlite3.IntegrityError, OverflowError, sqlite3.ProgrammingError):
            refused += 1
            continue
        inserted += 1
        try:
            code, out, err = run_main(["log", "export", "-", "--db", str(path)])
        except Exception as exc:  # noqa: BLE001
            failures.append(f"row {inserted} {parts!r:.200}: {type(exc).__name__}: {exc!s:.200}")
            code, err = None, ""
        codes[code] = codes.get(code, 0) + 1
        if code not in (0, 2) or (code == 2 and len(err) > MAX_MESSAGE):
            failures.append(f"row {inserted} {parts!r:.200}: exit {code}: {err[:200]}")
        if code == 2 and "Traceback" in err:
            failures.append(f"row {inserted}: traceback")
        con.execute("DELETE FROM encounters WHERE id > 1")
    con.close()
    assert not failures, f"{len(failures)} failed:\n" + "\n".join(failures[:10])
    assert inserted >= DOCUMENTS, (inserted, refused)
    assert codes.get(0, 0) >= 100 and codes.get(2, 0) >= 1000, codes

    # Damaged files: cut, overwritten bytes, zero bytes, other files.
    whole = path.read_bytes()
    damaged = tmp_path / "damaged.sqlite3"
    file_rng = np.random.default_rng(12_004)

    def run(i: int, doc: bytes) -> tuple[Any, str]:
        for side in ("-wal", "-shm"):
            Path(f"{damaged}{side}").unlink(missing_ok=True)
        damaged.write_bytes(doc)
        code, _, err = run_main(["log", "export", "-", "--db", str(damaged)])
        return code, err

    files = [b"", b"garbage" * 50, whole[:100], whole[: len(whole) // 2]]
    for _ in range(96):
        data = bytearray(whole)
        for at in file_rng.integers(0, len(data), size=int(file_rng.integers(1, 40))):
            data[int(at)] = int(file_rng.integers(0, 256))
        files.append(bytes(data))
    check_all(files, run)


# ------------------------------------------------------------------ a few real subprocesses


def test_a_few_fuzzed_documents_through_the_real_command(tmp_path):
    """The in-process runs above, spot-checked as a user runs them (a fresh interpreter, real
    stdin and stderr): exit 0 or 2 and no traceback."""
    rng = random.Random(12_005)
    answers = [answers_document(rng) for _ in range(3)] + [
        b'{"age": 1' + b"0" * 5000 + b"}",
        b'{"location": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ]
    script = (
        "import subprocess, sys\n"
        "docs = [bytes.fromhex(h) for h in sys.argv[1:]]\n"
        "for d in docs:\n"
        "    p = subprocess.run([sys.executable, '-m', 'aid', 'triage', '-'], input=d,"
        " capture_output=True)\n"
        "    print(p.returncode, int(b'Traceback' in p.stderr))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *(d.hex() for d in answers)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    results = [line.split() for line in done.stdout.splitlines()]
    assert len(results) == len(answers), done.stderr
    assert all(code in ("0", "2") and tb == "0" for code, tb in results), results

    source = tmp_path / "in.csv"
    source.write_bytes(b"subject,saddle_numbness,fever\nP-1,yes,no,\nP-2,yes,no\n")
    done = subprocess.run(
        [sys.executable, "-m", "aid", "cohort", str(source), str(tmp_path / "out.csv")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "row 1 (line 2) has 4" in done.stderr
