"""The encounter log on a PostgreSQL server: ``AID_DB=postgresql://user:pass@host/db``.

Why: one SQLite file serves one machine; several Voila servers behind one proxy (docs/deploy.md)
need one log they can all write. This is the same :class:`aid.store.EncounterLog` (same public
methods, same checks on what is read back, same :class:`~aid.store.StoreError` messages) with the
SQL done by PostgreSQL through psycopg 3 (the ``[postgres]`` extra, imported only here).

What carries over from the SQLite log, and how:

- **Schema version**: the same ``schema_version`` table; version 1 is created in an empty schema
  (the first in the connection's ``search_path``), a newer version is refused, anything else that
  is not this layout is refused and left untouched.
- **Append-only**: triggers refuse UPDATE, DELETE and TRUNCATE for every user, the table owner
  included; UPDATE, DELETE and TRUNCATE are also revoked from PUBLIC, so a writer role granted only
  INSERT and SELECT (docs/deploy.md) is refused by the privileges before any trigger runs.
- **One transaction per append, ids without gaps**: writers take one transaction-level advisory
  lock per schema (readers are not blocked; unlike ``LOCK TABLE`` it needs no UPDATE privilege,
  so an INSERT-only role can take it) and take ``max(id) + 1`` and the time under that lock, so
  ids and times increase together as in SQLite, and a writer killed mid-append leaves no gap
  that would look like a deleted encounter. ``busy_timeout`` becomes ``lock_timeout``.
- **Durability**: an append returns after COMMIT, which PostgreSQL makes durable (with the
  server's default ``synchronous_commit = on``).
- **Readers** (``create=False``, as ``python -m aid log export``) use read-only transactions and
  never create or change anything.
- **One connection per log object** (and per process), opened at the first operation and kept:
  connecting for every append made 8 processes x 500 appends take minutes (issue 13). A kept
  connection may have been closed by the server since (restart, idle timeout); an operation that
  finds it so runs once more on a new one, but only where that cannot store anything twice (see
  :meth:`PostgresEncounterLog._insert`). A child made by ``fork()`` opens its own and never
  closes the parent's (that would end the parent's session). :meth:`close` or ``with`` ends it.

The URL's password never appears in a message: :attr:`path` shows the URL with it masked.
"""

from __future__ import annotations

import os
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

from .store import (
    _APPEND_ONLY,
    SCHEMA_VERSION,
    URGENCY_LEVELS,
    EncounterLog,
    StoreError,
    _utc_now,
)

__all__ = ["PostgresEncounterLog", "masked_url"]

_T = TypeVar("_T")
#: Connections inherited through fork(), kept (never used, never closed) in the child: see
#: PostgresEncounterLog._connection.
_INHERITED: list[Any] = []

_LEVELS = ", ".join(f"'{u}'" for u in URGENCY_LEVELS)
#: Every statement of schema version 1, run in one transaction.
_CREATE_V1 = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL, applied_utc TEXT)",
    # A CHECK must not raise: a text that is not JSON is a check violation, like SQLite's
    # json_valid(). TEXT (not jsonb) keeps the JSON exactly as written.
    """CREATE FUNCTION aid_json_valid(value text) RETURNS boolean
       LANGUAGE plpgsql IMMUTABLE AS $$
       BEGIN PERFORM value::json; RETURN true;
       EXCEPTION WHEN others THEN RETURN false; END $$""",
    f"""CREATE TABLE encounters (
        id           BIGINT PRIMARY KEY CHECK (id > 0),
        created_utc  TEXT NOT NULL,
        subject      TEXT CHECK (subject IS NULL OR subject ~ '^[A-Za-z0-9_-]{{1,64}}$'),
        urgency      TEXT NOT NULL CHECK (urgency IN ({_LEVELS})),
        kb_version   TEXT NOT NULL,
        aid_version  TEXT NOT NULL,
        answers_json TEXT NOT NULL CHECK (aid_json_valid(answers_json)),
        result_json  TEXT NOT NULL CHECK (aid_json_valid(result_json)),
        notes        TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX encounters_by_time ON encounters (created_utc)",
    f"""CREATE FUNCTION aid_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION '{_APPEND_ONLY}' USING ERRCODE = 'integrity_constraint_violation';
       END $$""",
    """CREATE TRIGGER encounters_no_update_or_delete BEFORE UPDATE OR DELETE ON encounters
       FOR EACH ROW EXECUTE FUNCTION aid_append_only()""",
    """CREATE TRIGGER encounters_no_truncate BEFORE TRUNCATE ON encounters
       FOR EACH STATEMENT EXECUTE FUNCTION aid_append_only()""",
    "REVOKE UPDATE, DELETE, TRUNCATE ON encounters FROM PUBLIC",
)
#: Serialises schema creation between processes opening an empty database at once.
_SCHEMA_LOCK_KEY = 0x41_49_44_01  # "AID" 1

_SELECT = (
    "SELECT id, created_utc, subject, urgency, kb_version, aid_version, answers_json,"
    " result_json, notes, 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text'"
    " FROM encounters"
)  # the kinds: PostgreSQL's TEXT columns hold only text (no BLOB can hide in them)


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and ``repr``)."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.password is None:
        return url.strip()
    user = urllib.parse.quote(parts.username or "", safe="")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _words(exc: Any) -> str:
    """A psycopg error's message on one line (libpq's span several, with tabs)."""
    text = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
    return " ".join(text.split())


class PostgresEncounterLog(EncounterLog):
    """:class:`aid.store.EncounterLog` on PostgreSQL; made by ``EncounterLog("postgresql://...")``."""

    def __init__(self, path: str, *, busy_timeout: float = 10.0, create: bool = True):
        self._url = str(path).strip()
        self.path = masked_url(self._url)
        self.busy_timeout = float(busy_timeout)
        self._create = create
        self._lock = threading.RLock()  # one operation at a time on the kept connection
        self._con: Any = None  # opened by the first operation, kept for the next ones
        self._con_pid = 0  # the process that opened it
        try:
            import psycopg  # noqa: F401 - the [postgres] extra
        except ImportError:
            raise StoreError(
                self.path,
                "PostgreSQL support is not installed (the psycopg package is missing)",
                "Install it with: pip install 'back-cramp-aid[postgres]', or set AID_DB to a "
                "SQLite file",
            ) from None
        self._open_schema()

    def __repr__(self) -> str:
        return f"EncounterLog({self.path!r})"

    # -- the kept connection ---------------------------------------------------------------

    def close(self) -> None:
        """Close the kept connection (the log stays usable: the next operation opens another)."""
        with self._lock:
            con, self._con = self._con, None
            if con is not None and self._con_pid == os.getpid():
                con.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - nothing to report to at garbage collection
            pass

    def _open(self) -> Any:
        """A new connection; a reader's never writes (its transactions are read-only)."""
        import psycopg

        try:
            con = psycopg.connect(
                self._url,
                autocommit=True,
                connect_timeout=max(2, round(self.busy_timeout)),
                application_name="back-cramp-aid",
            )
        except psycopg.Error as exc:
            raise self._error(exc) from None
        try:
            if not self._create:  # a reader never writes into the log it reads
                con.execute("SET default_transaction_read_only = on")
        except psycopg.Error as exc:
            con.close()
            raise self._error(exc) from None
        return con

    def _connection(self) -> tuple[Any, bool]:
        """The kept connection, opened when there is none, and whether it was kept from an
        earlier operation (then the server may have closed it since: restarted, or an idle
        timeout). Call with ``self._lock`` held."""
        if self._con is not None and self._con_pid != os.getpid():
            # Inherited through fork(): its socket is the parent's session. Never use it, and
            # never close it (closing tells the server to end the parent's session); keep a
            # reference so that psycopg does not warn about it being dropped while open.
            _INHERITED.append(self._con)
            self._con = None
        if self._con is not None and not self._con.closed:
            return self._con, True
        self._con, self._con_pid = self._open(), os.getpid()
        return self._con, False

    def _discard(self, con: Any) -> None:
        """Forget ``con`` after an error unless it is idle and sound (then it is kept)."""
        from psycopg.pq import TransactionStatus

        if not con.closed and con.info.transaction_status == TransactionStatus.IDLE:
            return
        if self._con is con:
            self._con = None
        con.close()

    def _run(self, work: Callable[[Any], _T]) -> _T:
        """``work(connection)`` on the kept connection; every psycopg error leaves as a
        StoreError. ``work`` must change nothing (reads, and the schema check whose creation
        is all or nothing and repeats safely): if the kept connection turns out to be closed
        by the server, it runs once more on a new connection."""
        import psycopg

        with self._lock:
            con, kept = self._connection()
            try:
                return work(con)
            except psycopg.Error as exc:
                lost = con.closed or con.broken
                self._discard(con)
                if not (kept and lost):
                    raise self._error(exc) from None
            except BaseException:
                self._discard(con)
                raise
            con, _ = self._connection()  # the server closed the kept one: one more try
            try:
                return work(con)
            except psycopg.Error as exc:
                self._discard(con)
                raise self._error(exc) from None
            except BaseException:
                self._discard(con)
                raise

    def _error(self, exc: Any) -> StoreError:
        """Translate a psycopg error into words a clinic's staff can act on."""
        from psycopg import errors

        text = _words(exc)
        if isinstance(exc, errors.LockNotAvailable | errors.QueryCanceled):
            return StoreError(
                self.path,
                f"locked by another program for longer than {self.busy_timeout:g} s",
                "Find the session holding a lock on the encounters table (pg_stat_activity) "
                "and try again",
            )
        if isinstance(exc, errors.InsufficientPrivilege):
            return StoreError(
                self.path,
                f"the database user may not do this ({text})",
                "Grant the writer role INSERT and SELECT on encounters and SELECT on "
                "schema_version (docs/deploy.md), or set AID_DB to another database",
            )
        if isinstance(exc, errors.ReadOnlySqlTransaction):
            return StoreError(
                self.path, f"opened read-only ({text})", "Encounters can only be added"
            )
        if _APPEND_ONLY in text:
            return StoreError(self.path, _APPEND_ONLY, "Encounters can only be added")
        if isinstance(exc, errors.InvalidCatalogName) or (
            exc.sqlstate is None and "database" in text and "does not exist" in text
        ):
            return StoreError(
                self.path,
                "no encounter log here (the database does not exist)",
                "Check AID_DB or --db, or create the database (docs/deploy.md)",
            )
        if exc.sqlstate is None or isinstance(exc, errors.ConnectionException):
            return StoreError(
                self.path,
                f"cannot connect to the PostgreSQL server ({text})",
                "Check that the server runs and that AID_DB names the right host, port, "
                "database, user and password, or set AID_DB=off to run without the log",
            )
        return StoreError(self.path, f"database error ({exc.sqlstate}: {text})")

    # -- schema -----------------------------------------------------------------------------

    def _schema_version(self, con: Any) -> int | None:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            )
        }
        if not tables:
            return None
        if "schema_version" not in tables:
            raise StoreError(
                self.path,
                "this PostgreSQL schema is not a Back Cramp Aid encounter log "
                "(it has tables but no schema_version table)",
                "Set AID_DB to another database (or search_path); this one is left untouched",
            )
        version = con.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        if not isinstance(version, int):
            raise StoreError(
                self.path,
                "the schema_version table is empty or not a number",
                "Set AID_DB to another database; this one is left untouched",
            )
        return version

    def _refuse_unknown(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                self.path,
                f"written by a newer Back Cramp Aid (schema {version}); this version reads up "
                f"to {SCHEMA_VERSION}",
                "Upgrade Back Cramp Aid, or set AID_DB to another database; this one is left "
                "untouched",
            )
        if version != SCHEMA_VERSION:  # PostgreSQL logs started at version 1: nothing to migrate
            raise StoreError(
                self.path,
                f"schema {version} is not one this version can read",
                "Set AID_DB to another database; this one is left untouched",
            )

    def _open_schema(self) -> None:
        self._run(self._check_or_create_schema)

    def _check_or_create_schema(self, con: Any) -> None:
        version = self._schema_version(con)
        if version is not None:
            self._refuse_unknown(version)
            return
        if not self._create:
            raise StoreError(
                self.path,
                "the database holds no encounter log (no tables); it was left unchanged",
                "Check AID_DB or --db; the dashboard creates the log at its first completed triage",
            )
        with con.transaction():
            self._set_lock_timeout(con)
            # Another process may be creating the schema right now: wait for it, re-read.
            con.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
            version = self._schema_version(con)
            if version is not None:
                self._refuse_unknown(version)
                return
            for statement in _CREATE_V1:
                con.execute(statement)
            con.execute(
                "INSERT INTO schema_version (version, applied_utc) VALUES (%s, %s)",
                (SCHEMA_VERSION, _utc_now()),
            )

    def _set_lock_timeout(self, con: Any) -> None:
        con.execute(f"SET LOCAL lock_timeout = {int(self.busy_timeout * 1000)}")

    # -- writing and reading ----------------------------------------------------------------

    def _insert(self, values: tuple[Any, ...]) -> int:
        """Write one row in one transaction on the kept connection, in two round trips.

        1. BEGIN and the transaction's id (``pg_current_xact_id()``). Nothing can be committed
           yet, so if the kept connection turns out to be closed by the server (it restarted),
           the append is made again, once, on a new connection: it cannot be stored twice.
        2. In one pipeline: the lock timeout, the advisory lock, the INSERT and COMMIT. If the
           connection is lost here, the COMMIT may or may not have happened: the server is
           asked, on a new connection, whether that transaction committed (:meth:`_verify`);
           the append is never simply made again.
        """
        import psycopg

        with self._lock:
            for attempt in (1, 2):
                con, kept = self._connection()
                xid: str | None = None
                try:
                    with con.pipeline(), con.transaction():
                        xid = con.execute("SELECT pg_current_xact_id()::text").fetchone()[0]
                        self._set_lock_timeout(con)
                        con.execute(
                            "SELECT pg_advisory_xact_lock(hashtext(current_schema() ||"
                            " '.encounters'))"
                        )
                        # The time is the server's, read under the lock (clock_timestamp(),
                        # not a time taken here: in a pipeline this line runs before the lock
                        # is granted), so ids and times increase together, and several app
                        # servers share one clock.
                        cursor = con.execute(
                            "INSERT INTO encounters (id, created_utc, subject, urgency,"
                            " kb_version, aid_version, answers_json, result_json, notes)"
                            " SELECT coalesce(max(id), 0) + 1, to_char(clock_timestamp() AT"
                            " TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), %s, %s, %s,"
                            " %s, %s, %s, %s FROM encounters RETURNING id",
                            values,
                        )
                    row = cursor.fetchone()  # after COMMIT: the pipeline ended
                except psycopg.Error as exc:
                    lost = con.closed or con.broken
                    self._discard(con)
                    if not lost:  # refused by the server and rolled back: nothing stored
                        raise self._error(exc) from None
                    if xid is not None:  # COMMIT was sent or about to be: ask the server
                        return self._verify(xid, exc)
                    if not (kept and attempt == 1):
                        raise self._error(exc) from None
                    continue  # the kept connection was dead before anything was stored
                except BaseException:
                    self._discard(con)
                    raise
                return int(row[0])
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _verify(self, xid: str, lost: Any) -> int:
        """The id stored by transaction ``xid`` whose COMMIT's outcome is unknown (the
        connection was lost), asked of the server on a new connection; StoreError unless it
        certainly committed. Why not append again: if the first COMMIT did happen, the
        encounter would be in the log twice."""
        import psycopg

        why = _words(lost)
        status = None
        try:
            con = self._open()
        except StoreError:
            con = None
        if con is not None:
            try:
                status = con.execute("SELECT pg_xact_status(%s::xid8)", (xid,)).fetchone()[0]
                if status == "committed":
                    # xmin is the 32-bit transaction id that wrote each row
                    found = con.execute(
                        "SELECT id FROM encounters WHERE xmin::text::bigint = %s",
                        (int(xid) % 2**32,),
                    ).fetchall()
                    if len(found) == 1:
                        if self._con is None:  # keep it for the next operations
                            self._con, self._con_pid, con = con, os.getpid(), None
                        return int(found[0][0])
                    status = f"committed, but its row was not found ({len(found)} rows)"
            except psycopg.Error:
                status = None
            finally:
                if con is not None:
                    con.close()
        if status == "aborted":
            raise StoreError(
                self.path,
                f"the connection to the PostgreSQL server was lost before the encounter was "
                f"committed ({why}); the server confirms nothing was stored",
                "Check that the server runs and try again",
            )
        raise StoreError(
            self.path,
            f"the connection to the PostgreSQL server was lost while the encounter was being "
            f"committed ({why}), and the server could not confirm whether it was stored "
            f"(transaction {xid}: {status or 'server not reachable'}); it may or may not be in "
            "the log",
            "Check that the server runs, then look for this encounter in the log (for example "
            "`python -m aid log export`) before entering it again",
        )

    def _fetch(self, encounter_id: int | None = None) -> list[tuple[Any, ...]]:
        if encounter_id is None:
            return self._run(lambda con: con.execute(_SELECT + " ORDER BY id").fetchall())
        return self._run(
            lambda con: con.execute(_SELECT + " WHERE id = %s", (encounter_id,)).fetchall()
        )

    def count(self) -> int:
        return self._run(
            lambda con: int(con.execute("SELECT count(*) FROM encounters").fetchone()[0])
        )
