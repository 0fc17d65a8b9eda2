"""The encounter log: what the aid advised, to whom (a pseudonymous id only), when, under which rules.

One SQLite file (the embedded default: no server to run), append-only. Each completed triage is one
row written in one ``BEGIN IMMEDIATE`` transaction, so a process killed at any moment leaves either
the whole encounter or nothing. Several Voila kernels may write at once: the file is in WAL mode
(readers never wait for the writer) and every connection waits up to ``busy_timeout`` seconds for
another writer before giving up.

Durability: ``synchronous=FULL``. In WAL mode ``NORMAL`` already survives a killed process, but a
power cut or OS crash can roll back the last commits; FULL syncs the WAL on every commit, so once
:meth:`EncounterLog.append` has returned the record of the advice survives a power cut too. A clinic
logs a few encounters a minute; an fsync per encounter costs milliseconds (see
``benchmarks/store.py``), far below anything a person notices.

Every failure (folder not writable, read-only file, not a database, damaged, locked for longer than
the busy timeout, a schema this version does not know) is a :class:`StoreError` that names the file
and says what to do; a raw ``sqlite3`` error never escapes. The dashboard catches it, shows the
advice unchanged and a small "not saved" notice to staff.

No identifying data: the only link to a person is ``subject``, a pseudonymous id checked by
:func:`check_subject` (names, e-mail addresses and phone numbers with spaces are refused). Free-text
``notes`` are stored exactly as typed; anything that renders them must escape them (pandas'
``DataFrame.to_html`` does; :func:`export_frame` also neutralises spreadsheet formulas).

pandas is imported only inside the functions that build frames, so ``import aid.store`` (and the
CLI) stay light.
"""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .answers import AnswerError, Answers, shown
from .result import Result
from .urgency import MOST_URGENT_FIRST, Urgency

if TYPE_CHECKING:  # pragma: no cover - typing only; pandas is imported lazily at run time
    import pandas as pd

__all__ = [
    "DEFAULT_PATH",
    "SCHEMA_VERSION",
    "URGENCY_LEVELS",
    "Encounter",
    "EncounterLog",
    "StoreError",
    "check_subject",
    "default_log",
    "emergencies",
    "export_frame",
    "is_postgres_url",
    "neutralise_formula",
    "per_day_urgency",
]

#: ``<repo>/var/encounters.sqlite3``; ``var/`` is git-ignored. Override with env ``AID_DB``.
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "var" / "encounters.sqlite3"
#: The layout this version writes. Older known layouts are migrated forward on open.
SCHEMA_VERSION = 1
#: Seconds a connection waits for another writer before the append fails with StoreError.
BUSY_TIMEOUT = 10.0
#: Highest first: the column order of :func:`per_day_urgency`.
URGENCY_LEVELS = tuple(u.value for u in MOST_URGENT_FIRST)

#: Columns of :meth:`EncounterLog.to_frame`, in order.
FRAME_COLUMNS = (
    "id",
    "created_utc",
    "subject",
    "urgency",
    "kb_version",
    "aid_version",
    "reasons",
    "top_cause",
    "notes",
    "answers_json",
    "result_json",
)

_T = TypeVar("_T")
#: Pauses between tries for the write lock (see EncounterLog._begin_immediate).
_LOCK_RETRY = random.SystemRandom()  # not shared state after a fork
_SUBJECT = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FIX_PATH = (
    "Make the file and its folder writable, set AID_DB to a writable file, "
    "or set AID_DB=off to run without the log"
)

_APPEND_ONLY = "the encounter log is append-only: encounters cannot be changed or deleted"
_CREATE_V1 = f"""
CREATE TABLE schema_version (
    version     INTEGER NOT NULL,
    applied_utc TEXT
);
CREATE TABLE encounters (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    created_utc  TEXT NOT NULL,
    subject      TEXT CHECK (subject IS NULL OR (length(subject) BETWEEN 1 AND 64
                             AND subject NOT GLOB '*[^A-Za-z0-9_-]*')),
    urgency      TEXT NOT NULL CHECK (urgency IN ('emergency', 'urgent', 'soon', 'selfcare')),
    kb_version   TEXT NOT NULL,
    aid_version  TEXT NOT NULL,
    answers_json TEXT NOT NULL CHECK (json_valid(answers_json)),
    result_json  TEXT NOT NULL CHECK (json_valid(result_json)),
    notes        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX encounters_by_time ON encounters (created_utc);
CREATE TRIGGER encounters_no_update BEFORE UPDATE ON encounters
BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END;
CREATE TRIGGER encounters_no_delete BEFORE DELETE ON encounters
BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END;
"""

# Version 0 was the pre-release layout: `schema_version(version)` holding 0 and an `encounters`
# table without `notes`, without CHECK constraints and without the append-only triggers. SQLite
# cannot add constraints to a table, so the migration rebuilds it (the documented 12-step way):
# rows keep their ids, the version history is kept, and a row whose JSON is not valid stops the
# migration instead of being carried into a table that promises valid JSON.
_MIGRATE_0_TO_1 = f"""
ALTER TABLE encounters RENAME TO encounters_v0;
ALTER TABLE schema_version RENAME TO schema_version_v0;
{_CREATE_V1}
INSERT INTO schema_version (version) SELECT version FROM schema_version_v0;
DROP TABLE schema_version_v0;
INSERT INTO encounters (id, created_utc, subject, urgency, kb_version, aid_version,
                        answers_json, result_json, notes)
SELECT id, created_utc, subject, urgency, kb_version, aid_version, answers_json, result_json, ''
FROM encounters_v0 ORDER BY id;
DROP TABLE encounters_v0;
"""

_MIGRATIONS = {0: _MIGRATE_0_TO_1}


class StoreError(RuntimeError):
    """The encounter log could not be used. The message names the file and what to do.

    Attributes
    ----------
    path : the database file
    problem : what went wrong, in words
    fix : what to do about it
    """

    def __init__(self, path: str | os.PathLike[str], problem: str, fix: str = _FIX_PATH):
        self.path, self.problem, self.fix = str(path), problem, fix
        super().__init__(f"encounter log {self.path}: {problem}. {fix}.")


@dataclass(frozen=True)
class Encounter:
    """One logged triage, read back as written."""

    id: int
    created_utc: datetime
    subject: str | None
    urgency: Urgency
    kb_version: str
    aid_version: str
    answers: dict[str, Any] = field(hash=False)
    result: dict[str, Any] = field(hash=False)
    notes: str = ""

    @property
    def reasons(self) -> tuple[str, ...]:
        """The rule ids that set the urgency (red_flags.csv ids)."""
        return tuple(r["rule_id"] for r in self.result.get("reasons", ()))


def check_subject(subject: str | None, path: str | os.PathLike[str] = "") -> str | None:
    """Return ``subject`` if it looks like a pseudonymous id, else raise :class:`StoreError`.

    The log must never hold names or contact details, so the only person-level field accepts
    1-64 characters of ``A-Z a-z 0-9 _ -`` (for example ``P-0042``). The refused value is not
    repeated in the message: it may be exactly the contact detail that must not be logged.
    """
    if subject is None:
        return None
    why = (
        "names and contact details must not be stored; use a pseudonymous id such as P-0042 "
        "(1-64 letters, digits, '_' or '-')"
    )
    if not isinstance(subject, str):
        raise StoreError(path, f"subject must be text, got {type(subject).__name__}", why)
    if "@" in subject or any(ch.isspace() for ch in subject):
        raise StoreError(
            path,
            "subject looks like a name or contact detail (it has '@' or a space); "
            "nothing was stored",
            why,
        )
    if not _SUBJECT.fullmatch(subject):
        raise StoreError(path, "subject is not a pseudonymous id; nothing was stored", why)
    return subject


def _utc_now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class EncounterLog:
    """An append-only SQLite log of triage encounters.

    Parameters
    ----------
    path : the database file; created (with its folder) when missing, unless ``create=False``.
    busy_timeout : seconds to wait for another writer before failing with :class:`StoreError`.
    create : when False, a missing file is an error instead of a new empty log (for readers such
        as ``python -m aid log export``, where an empty result would hide a wrong path).

    Opening checks the schema once: an empty file gets the current schema, an older known schema
    is migrated forward in one transaction, anything else is refused. Each operation then uses its
    own short-lived connection, so an instance is safe to share between threads and processes.
    (The PostgreSQL log keeps one connection per instance and process instead: see
    :mod:`aid.store_postgres`. Both can be closed with :meth:`close` or a ``with`` block.)
    There is deliberately no update or delete method, and triggers refuse both in SQL too.
    """

    def __new__(cls, path: str | os.PathLike[str], **kwargs: Any) -> EncounterLog:
        """``EncounterLog("postgresql://...")`` is the same log on a PostgreSQL server."""
        if cls is EncounterLog and is_postgres_url(path):
            from .store_postgres import PostgresEncounterLog

            return super().__new__(PostgresEncounterLog)
        return super().__new__(cls)

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = BUSY_TIMEOUT,
        create: bool = True,
    ):
        self.path: Any = Path(path)
        self.busy_timeout = float(busy_timeout)
        self._create = create
        if self.path.is_dir():
            raise StoreError(self.path, "this path is a folder, not a database file")
        if not create and not self.path.exists():
            raise StoreError(
                self.path,
                "no encounter log here (nothing has been logged yet, or the path is wrong)",
                "Check AID_DB or --db; the dashboard creates the log at its first completed triage",
            )
        if create:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    self.path, f"cannot create the folder {self.path.parent} ({exc.strerror})"
                ) from None
        self._open_schema()

    def __repr__(self) -> str:
        return f"EncounterLog({str(self.path)!r})"

    def close(self) -> None:
        """Release what the log holds open. The SQLite log holds nothing between operations,
        so this does nothing; the PostgreSQL log closes its kept connection. Either way the
        log stays usable (the next operation connects again)."""

    def __enter__(self) -> EncounterLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connections and errors -------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One connection for one operation; every sqlite3 error leaves as a StoreError."""
        mode = "rwc" if self._create else "ro"  # a reader never writes into the file it reads
        uri = f"file:{urllib.parse.quote(str(self.path))}?mode={mode}"
        try:
            con = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        except UnicodeDecodeError:
            raise self._damaged("text in it is not UTF-8") from None
        try:
            con.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            con.execute("PRAGMA synchronous = FULL")
            yield con
        except sqlite3.Error as exc:
            _rollback(con)
            raise self._error(exc) from None
        except UnicodeDecodeError:
            # sqlite3 decodes SQLite's messages and the schema's names as UTF-8; in a damaged
            # file they hold stray bytes (found by tests/unit/test_fuzz.py).
            _rollback(con)
            raise self._damaged("text in it is not UTF-8") from None
        except BaseException:
            _rollback(con)
            raise
        finally:
            con.close()

    def _damaged(self, detail: str = "") -> StoreError:
        return StoreError(
            self.path,
            "the file is not a SQLite database or is damaged" + (f" ({detail})" if detail else ""),
            "Move the file aside (keep it: rows may be recoverable with "
            "`sqlite3 FILE .recover`) and a new log is started, or set AID_DB to another file",
        )

    def _error(self, exc: sqlite3.Error) -> StoreError:
        """Translate a sqlite3 error into words a clinic's staff can act on."""
        name = getattr(exc, "sqlite_errorname", "") or ""
        text = str(exc)
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
            return StoreError(
                self.path,
                f"locked by another program for longer than {self.busy_timeout:g} s",
                "Close other programs that have the file open (for example a database browser) "
                "and try again",
            )
        if name.startswith("SQLITE_READONLY") or "readonly" in text:
            return StoreError(self.path, "the file or its disk is read-only")
        if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
            return StoreError(
                self.path,
                "cannot open or create the file (the folder may be missing or not writable)",
            )
        if (
            name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT"))
            or "not a database" in text
            or "malformed" in text
        ):
            return self._damaged()
        if name.startswith("SQLITE_FULL") or "disk is full" in text:
            return StoreError(self.path, "the disk is full", "Free some space and try again")
        if name.startswith("SQLITE_IOERR") or "disk I/O" in text:
            return StoreError(self.path, f"disk input/output error ({text})")
        if "append-only" in text:
            return StoreError(self.path, _APPEND_ONLY, "Encounters can only be added")
        return StoreError(self.path, f"database error ({name or type(exc).__name__}: {text})")

    # -- schema -----------------------------------------------------------------------------

    def _schema_version(self, con: sqlite3.Connection) -> int | None:
        """The schema version in the file; None for an empty database."""
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        tables.discard("sqlite_sequence")
        if not tables:
            return None
        if "schema_version" not in tables:
            raise StoreError(
                self.path,
                "this SQLite database is not a Back Cramp Aid encounter log "
                "(it has no schema_version table)",
                "Set AID_DB to another file; this one is left untouched",
            )
        version = con.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        if not isinstance(version, int):
            raise StoreError(
                self.path,
                "the schema_version table is empty or not a number",
                "Move the file aside and a new log is started, or set AID_DB to another file",
            )
        return version

    def _refuse_unknown(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                self.path,
                f"written by a newer Back Cramp Aid (schema {version}); this version reads up "
                f"to {SCHEMA_VERSION}",
                "Upgrade Back Cramp Aid, or set AID_DB to another file; this one is left untouched",
            )
        if version != SCHEMA_VERSION and version not in _MIGRATIONS:
            raise StoreError(
                self.path,
                f"schema {version} is not one this version can read or migrate "
                f"(it reads {SCHEMA_VERSION} and migrates from {sorted(_MIGRATIONS)})",
                "Set AID_DB to another file; this one is left untouched",
            )

    def _open_schema(self) -> None:
        """Create, check or migrate the schema; switch the file to WAL.

        A reader (``create=False``) only checks: an empty file or an older schema is refused
        rather than given the current schema, so ``log export`` never writes into what it reads
        (issue 12: a zero-byte file had the schema written into it).
        """
        with self._connect() as con:
            version = self._schema_version(con)
            if version is not None:
                self._refuse_unknown(version)
            if not self._create and version != SCHEMA_VERSION:
                raise self._not_readable(version)
            if version != SCHEMA_VERSION:
                # Re-read under the write lock: another process may have created or migrated
                # the file since the unlocked read above.
                self._begin_immediate(con)
                version = self._schema_version(con)
                if version is None:
                    self._run_script(con, _CREATE_V1)
                    con.execute(
                        "INSERT INTO schema_version (version, applied_utc) VALUES (?, ?)",
                        (SCHEMA_VERSION, _utc_now()),
                    )
                elif version != SCHEMA_VERSION:
                    self._refuse_unknown(version)
                    while version < SCHEMA_VERSION:
                        try:
                            self._run_script(con, _MIGRATIONS[version])
                        except sqlite3.Error as exc:
                            raise StoreError(
                                self.path,
                                f"cannot migrate it from schema {version} to "
                                f"{version + 1} ({exc}); the file is left unchanged",
                                "Keep the file for investigation and set AID_DB to another file",
                            ) from None
                        version += 1
                        con.execute(
                            "INSERT INTO schema_version (version, applied_utc) VALUES (?, ?)",
                            (version, _utc_now()),
                        )
                con.execute("COMMIT")
            if self._create:
                mode = self._retry_while_busy(
                    con, lambda: con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                )
                if str(mode).lower() != "wal":
                    raise StoreError(
                        self.path,
                        f"cannot switch the file to WAL mode (SQLite kept {mode!r})",
                        "Put the log on a local disk (WAL does not work on network shares)",
                    )

    def _not_readable(self, version: int | None) -> StoreError:
        """Why a reader cannot use this file as it is (it does not change it to make it fit)."""
        if version is None:
            size = self.path.stat().st_size if self.path.exists() else 0
            return StoreError(
                self.path,
                f"the file holds no encounter log ({size:,} bytes, no tables); it was "
                "left unchanged",
                "Check AID_DB or --db; the dashboard creates the log at its first completed triage",
            )
        return StoreError(
            self.path,
            f"the log has the older schema {version}; exporting does not migrate it, "
            "so it was left unchanged",
            "Open it once with the dashboard (or aid.store.EncounterLog(path)) to migrate it, "
            "then export",
        )

    def _begin_immediate(self, con: sqlite3.Connection) -> None:
        """Take the write lock (``BEGIN IMMEDIATE``), waiting at most ``busy_timeout`` seconds."""
        self._retry_while_busy(con, lambda: con.execute("BEGIN IMMEDIATE"))

    def _retry_while_busy(self, con: sqlite3.Connection, step: Callable[[], _T]) -> _T:
        """Run ``step`` until SQLite stops answering SQLITE_BUSY, for at most ``busy_timeout`` s.

        Why not SQLite's own busy handler alone (issue 13: the 8-writer test failed about once
        in five runs):

        - ``PRAGMA journal_mode = WAL`` on a new file that other processes are opening at the
          same moment fails with SQLITE_BUSY at once: SQLite does not call the busy handler
          when a statement that already reads must upgrade to writing (it could deadlock). The
          message then claimed a 10 s wait that never happened.
        - The handler sleeps 1, 2, 5 ... then 100 ms between tries, so the longer a writer has
          waited the less often it tries, and newer writers keep taking the lock first. With 8
          processes appending at once on 2 busy cores, single appends waited over 5 s.

        Here every try is made with the handler off and every waiter pauses the same short
        random time (0.5-5 ms, never growing), so each has the same chance at every release.
        """
        deadline = time.monotonic() + self.busy_timeout
        con.execute("PRAGMA busy_timeout = 0")  # this loop is the busy handler for the step
        try:
            while True:
                try:
                    return step()
                except sqlite3.OperationalError as exc:
                    name = getattr(exc, "sqlite_errorname", "") or ""
                    busy = name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc)
                    if not busy or time.monotonic() >= deadline:
                        raise
                pause = _LOCK_RETRY.uniform(0.0005, 0.005)
                time.sleep(max(0.0, min(pause, deadline - time.monotonic())))
        finally:
            con.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")

    @staticmethod
    def _run_script(con: sqlite3.Connection, script: str) -> None:
        """Run DDL statement by statement inside the open transaction.

        ``Connection.executescript`` would COMMIT first; a migration must be all or nothing.
        """
        for statement in _statements(script):
            con.execute(statement)

    # -- writing ----------------------------------------------------------------------------

    def append(
        self,
        answers: Mapping[str, Any],
        result: Result,
        notes: str = "",
        subject: str | None = None,
    ) -> int:
        """Store one completed triage in one transaction and return its id.

        Parameters
        ----------
        answers : the answers triaged (a raw mapping or :class:`aid.Answers`). They are validated
            like :func:`aid.triage` does and stored in their canonical JSON form; they must be the
            answers ``result`` was computed from, so the log cannot pair advice with other answers.
        result : the :class:`aid.Result` shown; stored whole (``Result.to_dict()``).
        notes : free text from staff, stored exactly as typed (render it escaped).
        subject : optional pseudonymous id (see :func:`check_subject`); never a name or contact.

        Raises
        ------
        StoreError
            for anything that kept the encounter from being stored; then nothing was stored.
        """
        subject = check_subject(subject, self.path)
        if not isinstance(notes, str):
            raise StoreError(
                self.path,
                f"notes must be text, got {type(notes).__name__}",
                "Pass the notes as a string",
            )
        if not isinstance(result, Result):
            raise StoreError(
                self.path,
                f"result must be an aid.Result, got {type(result).__name__}",
                "Pass the Result returned by aid.triage",
            )
        try:
            canonical = (answers if isinstance(answers, Answers) else Answers(answers)).to_json()
        except AnswerError as exc:
            raise StoreError(
                self.path,
                f"the answers are not valid ({exc}); nothing was stored",
                "Log the answers that were triaged",
            ) from None
        if canonical != result.answers:
            raise StoreError(
                self.path,
                "the answers are not the ones the result was computed from; nothing was stored",
                "Log the answers passed to aid.triage with its result",
            )
        try:
            answers_json = json.dumps(canonical, ensure_ascii=False, allow_nan=False)
            result_json = json.dumps(result.to_dict(), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise StoreError(
                self.path, f"the result cannot be written as JSON ({exc})", "Report this as a bug"
            ) from None
        values = (
            subject,
            result.urgency.value,
            result.kb_version,
            _aid_version(),
            answers_json,
            result_json,
            notes,
        )
        return self._insert(values)

    def _insert(self, values: tuple[Any, ...]) -> int:
        """Write one row in one transaction; ``values`` are the columns after created_utc."""
        with self._connect() as con:
            self._begin_immediate(con)
            # Timestamp taken under the write lock: ids and times increase together.
            cursor = con.execute(
                "INSERT INTO encounters (created_utc, subject, urgency, kb_version, aid_version,"
                " answers_json, result_json, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (_utc_now(), *values),
            )
            con.execute("COMMIT")
            row_id = cursor.lastrowid
        assert row_id is not None
        return int(row_id)

    # -- reading ----------------------------------------------------------------------------

    _SELECT = (
        "SELECT id, created_utc, subject, urgency, kb_version, aid_version, answers_json,"
        " result_json, notes, typeof(created_utc), typeof(subject), typeof(urgency),"
        " typeof(kb_version), typeof(aid_version), typeof(answers_json), typeof(result_json),"
        " typeof(notes) FROM encounters"
    )  # typeof(): read as bytes, a BLOB and TEXT look alike; the aid writes only TEXT

    def _fetch(self, encounter_id: int | None = None) -> list[tuple[Any, ...]]:
        """Raw rows as _checked_row reads them: one id, or every row in id order."""
        with self._connect() as con:
            con.text_factory = bytes  # decoded by _checked_row, which can name the row
            if encounter_id is None:
                return con.execute(self._SELECT + " ORDER BY id").fetchall()
            return con.execute(self._SELECT + " WHERE id = ?", (encounter_id,)).fetchall()

    def get(self, encounter_id: int) -> Encounter:
        """The encounter with this id; :class:`StoreError` if there is none."""
        rows = self._fetch(int(encounter_id))
        row = rows[0] if rows else None
        if row is None:
            raise StoreError(
                self.path,
                f"there is no encounter with id {encounter_id}",
                "Use an id returned by append() or listed by to_frame()",
            )
        return _encounter(_checked_row(self.path, row))

    def count(self) -> int:
        """How many encounters the log holds."""
        with self._connect() as con:
            return int(con.execute("SELECT count(*) FROM encounters").fetchone()[0])

    def _rows(self) -> list[_Row]:
        """Every row, checked to be what :meth:`append` writes (else StoreError naming its id)."""
        return [_checked_row(self.path, row) for row in self._fetch()]

    def to_frame(self) -> pd.DataFrame:
        """The whole log as a DataFrame, one row per encounter, oldest first.

        Columns: id, created_utc (datetime64 UTC), subject, urgency, kb_version, aid_version,
        reasons (``;``-joined rule ids), top_cause (the highest-ranked possible cause's id, ``""``
        when none), notes, answers_json, result_json.
        """
        import pandas as pd

        records = []
        for row in self._rows():
            causes = row.result["causes"]
            records.append(
                (
                    row.id,
                    row.created_utc,
                    row.subject,
                    row.urgency,
                    row.kb_version,
                    row.aid_version,
                    ";".join(r["rule_id"] for r in row.result["reasons"]),
                    causes[0]["cause_id"] if causes else "",
                    row.notes,
                    row.answers_json,
                    row.result_json,
                )
            )
        frame = pd.DataFrame.from_records(records, columns=list(FRAME_COLUMNS))
        frame["id"] = frame["id"].astype("int64")
        frame["created_utc"] = pd.to_datetime(frame["created_utc"], utc=True, format="ISO8601")
        return frame


def _rollback(con: sqlite3.Connection) -> None:
    if con.in_transaction:
        try:
            con.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the connection is closed next, and SQLite rolls back on close anyway


def _statements(script: str) -> list[str]:
    """Split DDL into statements (triggers contain ';' inside BEGIN ... END)."""
    out, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                out.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        out.append(buffer.strip())
    return out


def _aid_version() -> str:
    from . import __version__

    return __version__


def _encounter(row: _Row) -> Encounter:
    return Encounter(
        id=row.id,
        created_utc=_parse_utc(row.created_utc),
        subject=row.subject,
        urgency=Urgency(row.urgency),
        kb_version=row.kb_version,
        aid_version=row.aid_version,
        answers=row.answers,
        result=row.result,
        notes=row.notes,
    )


# -- reading back only what append() writes ---------------------------------------------------

#: created_utc exactly as _utc_now() writes it.
_CREATED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
#: Longest version text accepted (the aid writes a 12-hex hash and a short version number).
_MAX_VERSION_CHARS = 64


@dataclass(frozen=True)
class _Row:
    """One encounters row, checked and decoded."""

    id: int
    created_utc: str
    subject: str | None
    urgency: str
    kb_version: str
    aid_version: str
    answers_json: str
    result_json: str
    notes: str
    answers: dict[str, Any] = field(hash=False)
    result: dict[str, Any] = field(hash=False)


class _NotOurs(ValueError):
    """A value in a row that append() would never have written (the message says which)."""


def _checked_row(path: Path, raw: tuple[Any, ...]) -> _Row:
    """A row as append() writes it, or StoreError naming the row id and the column.

    Why: the CHECK constraints accept rows the aid never writes (another program, a hand edit,
    a damaged copy: a created_utc that is not a time, a result_json of ``[]``, ``"reasons":
    [1]``), and export crashed on them with a traceback (issue 12). Every column is checked
    here, once, so the readers after it (to_frame, emergencies, export_frame) can rely on it.
    """
    row_id = raw[0]
    try:
        if not isinstance(row_id, int):
            raise _NotOurs(f"id is {type(row_id).__name__}, not a whole number")
        stored = len(_STORED_COLUMNS)
        created, subject, urgency, kb_version, aid_version, answers_text, result_text, notes = (
            _text(name, value, kind)
            for name, value, kind in zip(
                _STORED_COLUMNS, raw[1 : 1 + stored], raw[1 + stored :], strict=True
            )
        )
        if created is None or not _CREATED.fullmatch(created):
            raise _NotOurs(
                f"created_utc {_brief(created)} is not a time as YYYY-MM-DDTHH:MM:SS.mmmZ"
            )
        try:
            _parse_utc(created)
        except ValueError:
            raise _NotOurs(f"created_utc {_brief(created)} is not a real date and time") from None
        if subject is not None:
            try:
                check_subject(subject, path)
            except StoreError:
                raise _NotOurs("subject is not a pseudonymous id (not shown)") from None
        if urgency not in URGENCY_LEVELS:
            raise _NotOurs(f"urgency {_brief(urgency)} is not one of {', '.join(URGENCY_LEVELS)}")
        for name, value in (("kb_version", kb_version), ("aid_version", aid_version)):
            if not value or len(value) > _MAX_VERSION_CHARS:
                raise _NotOurs(
                    f"{name} {_brief(value)} is not a version (1-{_MAX_VERSION_CHARS} characters)"
                )
        if notes is None:
            raise _NotOurs("notes is missing")
        answers = _json_object("answers_json", answers_text)
        for key in answers:
            if not isinstance(key, str):
                raise _NotOurs("answers_json has a key that is not text")
        result = _json_object("result_json", result_text)
        _check_result(result)
    except _NotOurs as exc:
        raise StoreError(
            path,
            f"encounter id {row_id if isinstance(row_id, int) else '?'}: {exc}; "
            "this is not what Back Cramp Aid writes, so nothing was exported",
            "The row was written or changed by another program. Keep the file for investigation "
            "(rows cannot be removed), and read the others with sqlite3 if needed",
        ) from None
    assert subject is None or isinstance(subject, str)
    return _Row(
        row_id,
        created,
        subject,
        urgency,
        cast(str, kb_version),  # checked above: 1 to _MAX_VERSION_CHARS characters
        cast(str, aid_version),
        cast(str, answers_text),  # decoded above by _json_object
        cast(str, result_text),
        notes,
        answers,
        result,
    )


#: The stored columns after id, in _SELECT order.
_STORED_COLUMNS = (
    "created_utc",
    "subject",
    "urgency",
    "kb_version",
    "aid_version",
    "answers_json",
    "result_json",
    "notes",
)


def _text(name: str, value: Any, kind: Any) -> str | None:
    """A TEXT column read as bytes, decoded; anything else (a number, a BLOB) is not ours.

    PostgreSQL hands back ``str`` (its text columns hold only valid text)."""
    if value is None:
        return None
    if isinstance(value, str) and kind == "text":
        return value
    kind = kind.decode("ascii", "replace") if isinstance(kind, bytes) else str(kind)
    if kind != "text" or not isinstance(value, bytes):
        raise _NotOurs(f"{name} is stored as {kind!r}, not text")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise _NotOurs(f"{name} is not UTF-8 text") from None


def _json_object(name: str, text: str | None) -> dict[str, Any]:
    if text is None:
        raise _NotOurs(f"{name} is missing")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise _NotOurs(f"{name} is not JSON this version can read") from None
    if not isinstance(value, dict):
        raise _NotOurs(f"{name} is a JSON {type(value).__name__}, not an object")
    return value


def _check_result(result: dict[str, Any]) -> None:
    """The parts of Result.to_dict() that the log's readers use: reasons and causes."""
    for key, fields in (("reasons", ("rule_id", "reason")), ("causes", ("cause_id",))):
        items = result.get(key)
        if not isinstance(items, list):
            raise _NotOurs(f"result_json has no list of {key}")
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not all(isinstance(item.get(f), str) for f in fields):
                raise _NotOurs(
                    f"result_json {key}[{i}] is not an object with text {' and '.join(fields)}"
                )


def _brief(value: str | None) -> str:
    return shown(value, 40)


def is_postgres_url(target: Any) -> bool:
    """Whether ``target`` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return isinstance(target, str) and target.strip().lower().startswith(
        ("postgresql://", "postgres://")
    )


def default_log() -> EncounterLog | None:
    """The log the dashboard writes: None when env ``AID_DB`` is ``off``, else the file or
    ``postgresql://`` URL it names (default :data:`DEFAULT_PATH`). May raise :class:`StoreError`;
    callers show the advice anyway. For a ``postgresql://`` URL it is the same object at every
    call in a process (its one connection is reused).
    """
    setting = os.environ.get("AID_DB", "").strip()
    if setting.lower() == "off":
        return None
    if is_postgres_url(setting):
        log = _SHARED_LOGS.get(setting)
        if log is None:
            log = _SHARED_LOGS[setting] = EncounterLog(setting)
        return log
    return EncounterLog(setting or DEFAULT_PATH)


#: default_log()'s PostgreSQL logs, one per URL in this process, so that a dashboard kernel
#: keeps one connection for all its encounters instead of connecting for each. A SQLite log
#: holds nothing open, so it is opened anew each time (a moved file is recreated at once).
_SHARED_LOGS: dict[str, EncounterLog] = {}


# -- pure helpers for the clinician notebook ------------------------------------------------


def per_day_urgency(frame: pd.DataFrame) -> pd.DataFrame:
    """Encounters per urgency per UTC day: one row per day from the first to the last (days
    without encounters are zeros, so a chart's gaps are real), columns emergency, urgent, soon,
    selfcare in that order. ``frame`` is :meth:`EncounterLog.to_frame` output.

    An urgency outside the four levels is an error rather than a row silently left uncounted.
    """
    import pandas as pd

    unknown = sorted(set(frame["urgency"].dropna()) - set(URGENCY_LEVELS)) if len(frame) else []
    if unknown or (len(frame) and frame["urgency"].isna().any()):
        raise ValueError(
            f"unknown urgency values {unknown or ['<missing>']}; "
            f"expected {', '.join(URGENCY_LEVELS)}"
        )
    columns = pd.Index(list(URGENCY_LEVELS), name="urgency")
    if frame.empty:
        return pd.DataFrame(
            0, index=pd.DatetimeIndex([], name="day"), columns=columns, dtype="int64"
        )
    created = pd.to_datetime(frame["created_utc"], utc=True)
    day = created.dt.tz_localize(None).dt.normalize().rename("day")
    table = pd.crosstab(day, frame["urgency"].astype(object))
    days = pd.date_range(day.min(), day.max(), freq="D", name="day")
    table = table.reindex(index=days, columns=list(URGENCY_LEVELS), fill_value=0)
    table.columns = columns
    return table.astype("int64")


def emergencies(frame: pd.DataFrame) -> pd.DataFrame:
    """The emergency encounters, newest first, with why in plain words.

    Columns: id, created_utc, subject, rule_ids (``;``-joined), reason_text (each fired rule's
    plain-words reason, joined by newlines), notes. Text is returned as stored: render it escaped
    (``DataFrame.to_html`` escapes by default; a ``Styler`` needs ``escape="html"``).
    """
    import pandas as pd

    rows = frame.loc[frame["urgency"] == "emergency"].reset_index(drop=True)
    reason_text = [
        "\n".join(r["reason"] for r in json.loads(text).get("reasons", ()))
        for text in rows["result_json"]
    ]
    out = pd.DataFrame(
        {
            "id": rows["id"],
            "created_utc": pd.to_datetime(rows["created_utc"], utc=True),
            "subject": rows["subject"],
            "rule_ids": rows["reasons"],
            "reason_text": pd.Series(reason_text, index=rows.index),
            "notes": rows["notes"],
        }
    )
    return out.sort_values(["created_utc", "id"], ascending=False).reset_index(drop=True)


#: A cell starting with one of these is run as a formula by spreadsheets (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: Any) -> Any:
    """``value`` prefixed with ``'`` when a spreadsheet would run it as a formula, else as is.

    One rule for every CSV the aid writes (the log export and the cohort output), so a subject
    such as ``=cmd|' /C calc'!A0`` comes out as text wherever it is written.
    """
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def export_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The log ready for CSV: times as ISO 8601 ``...Z`` text, and free text that a spreadsheet
    would run as a formula (starting with ``= + - @``, tab or CR) prefixed with ``'`` (OWASP's
    advice against CSV injection). Everything else is as stored.
    """
    out = frame.copy()
    out["created_utc"] = [
        t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
        for t in frame["created_utc"]
    ]
    for column in ("subject", "notes"):
        out[column] = [neutralise_formula(v) for v in frame[column]]
    return out
