"""A real, throwaway PostgreSQL server for the tests (Debian's ``postgresql`` package).

``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/*/bin`` build a cluster in a temporary folder
and start it on a free loopback port (and a Unix socket in the same folder). PostgreSQL refuses to
run as root, so when the tests run as root the server runs as the ``postgres`` system user that
the Debian package creates. ``make postgresql`` installs the package when it is missing; a missing
server is a test failure, never a skip.

Also runnable by hand, for trying the dashboard on PostgreSQL:
``.venv/bin/python tests/pg_server.py`` prints a URL and keeps the server until Ctrl-C.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"


def pg_bin() -> Path:
    """The newest installed PostgreSQL's bin folder."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb is missing): "
            "run `make postgresql` (make test does it)"
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PgServer:
    folder: Path
    port: int
    bin: Path

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def admin(self, database: str = "postgres"):
        """A psycopg connection as the superuser (autocommit)."""
        import psycopg

        return psycopg.connect(self.url(database), autocommit=True)

    def create_database(self, name: str) -> str:
        with self.admin() as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            _as_server_user([str(a) for a in args]),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def pg_ctl(self, *args: str) -> None:
        done = self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            *args,
        )
        if done.returncode != 0:
            log = (self.folder / "server.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {done.stderr}\n{log}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c max_connections=60 -c shared_buffers=32MB"
        )
        self.pg_ctl("-w", "-t", "60", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-w", "-t", "60", "-m", mode, "stop")

    def crash(self) -> None:
        """Kill the server hard, as an out-of-memory kill or a crash would: SIGKILL to the
        postmaster and to every server process, with no shutdown of any kind. The next
        :meth:`start` runs PostgreSQL's crash recovery."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGSTOP)  # no new backend is forked while we look
        children = [pid for pid in _all_pids() if _parent(pid) == postmaster]
        for pid in [*children, postmaster]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in [*children, postmaster]):
            if time.monotonic() > deadline:
                raise RuntimeError("the killed PostgreSQL processes did not go away")
            time.sleep(0.01)
        # The postmaster's parent is init, which may take a moment to reap it; until then the
        # new postmaster takes the zombie for a running server ("lock file postmaster.pid
        # already exists"). Everything is dead, so the lock files are stale: remove them, as an
        # administrator would after a crash.
        reaped_by = time.monotonic() + 2
        while Path(f"/proc/{postmaster}").exists() and time.monotonic() < reaped_by:
            time.sleep(0.01)
        if Path(f"/proc/{postmaster}").exists():
            for lock in (self.data / "postmaster.pid", self.folder / f".s.PGSQL.{self.port}.lock"):
                lock.unlink(missing_ok=True)


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state


def _alive(pid: int) -> bool:
    """Whether ``pid`` still exists and is not a zombie (a zombie holds nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", SUPERUSER, "--", *command]


def start_server() -> PgServer:
    """initdb + start in a new temporary folder; the caller stops it with :func:`remove`."""
    bin_ = pg_bin()
    folder = Path(tempfile.mkdtemp(prefix="aid-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise RuntimeError(
                "no 'postgres' system user (Debian's postgresql package creates it): "
                "run `make postgresql`"
            ) from None
        os.chown(folder, user.pw_uid, user.pw_gid)
    folder.chmod(0o755)
    server = PgServer(folder=folder, port=_free_port(), bin=bin_)
    init = server._run(
        str(bin_ / "initdb"),
        "-D",
        str(server.data),
        "-U",
        SUPERUSER,
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",  # a throwaway cluster: skip the fsyncs of initdb itself
        timeout=120,
    )
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stdout}\n{init.stderr}")
    server.start()
    return server


def remove(server: PgServer) -> None:
    """Stop the server (immediately: it is thrown away) and delete its folder."""
    try:
        server.stop("immediate")
    except RuntimeError:
        pass  # already stopped
    shutil.rmtree(server.folder, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover - manual use
    srv = start_server()
    srv.create_database("aid")
    print(f"AID_DB={srv.url('aid')}  (Ctrl-C stops and deletes the server)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        remove(srv)


@contextmanager
def running_server(database: str = "aid") -> Iterator[PgServer]:
    """A fresh server with ``database`` created, removed (stopped and deleted) afterwards."""
    server = start_server()
    try:
        server.create_database(database)
        yield server
    finally:
        remove(server)
