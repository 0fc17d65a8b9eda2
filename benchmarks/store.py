"""Encounter-log throughput: appends per second from one process and from 8 at once, and reads,
on SQLite and on PostgreSQL (a throwaway local server from tests/pg_server.py, as in the tests;
each log object keeps one connection for all its appends, as in the app).

Run: ``.venv/bin/python benchmarks/store.py`` (prints figures; asserts nothing). Each run uses a
fresh file in a temporary folder on the same disk as the system temp dir; every append is a full
``BEGIN IMMEDIATE ... COMMIT`` with ``synchronous=FULL`` (an fsync per encounter), as in the app.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import aid
from aid.store import EncounterLog

ANSWERS = {"saddle_numbness": "yes", "location": ["lower_back"], "severity": 8}


def _writer(path: str, count: int, barrier, queue) -> None:
    result = aid.triage(ANSWERS)
    log = EncounterLog(path)
    barrier.wait()
    started = time.perf_counter()
    for i in range(count):
        log.append(ANSWERS, result, notes=f"bench {i}", subject="BENCH-1")
    queue.put(time.perf_counter() - started)


def single(path: Path | str, count: int) -> float:
    result = aid.triage(ANSWERS)
    log = EncounterLog(path)
    started = time.perf_counter()
    for i in range(count):
        log.append(ANSWERS, result, notes=f"bench {i}", subject="BENCH-1")
    return count / (time.perf_counter() - started)


def parallel(path: Path | str, processes: int, each: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(processes + 1), ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(str(path), each, barrier, queue))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    started = time.perf_counter()
    for _ in procs:
        queue.get(timeout=600)
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join()
    return processes * each / elapsed


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="aid-store-bench-") as tmp:
        folder = Path(tmp)
        print(
            f"SQLite {__import__('sqlite3').sqlite_version}, {os.cpu_count()} CPUs, "
            f"Python {sys.version.split()[0]}"
        )
        rate = single(folder / "single.sqlite3", 1000)
        print(f"1 process:   {rate:8.0f} appends/s ({1000 / rate:.2f} ms per append)")
        rate = parallel(folder / "parallel.sqlite3", 8, 500)
        print(f"8 processes: {rate:8.0f} appends/s in total (4000 appends)")
        log = EncounterLog(folder / "parallel.sqlite3")
        started = time.perf_counter()
        frame = log.to_frame()
        print(f"to_frame of {len(frame)} encounters: {time.perf_counter() - started:.2f} s")
        started = time.perf_counter()
        for i in range(1, 1001):
            log.get(i)
        print(f"get(): {(time.perf_counter() - started):.3f} ms per call (1000 calls)")
    postgres()
    return 0


def postgres() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from pg_server import remove, start_server

    started = time.perf_counter()
    server = start_server()
    print(f"PostgreSQL throwaway server (initdb + start): {time.perf_counter() - started:.1f} s")
    try:
        for name in ("single", "parallel"):
            server.create_database(name)
        rate = single(server.url("single"), 1000)
        print(f"PostgreSQL 1 process:   {rate:8.0f} appends/s ({1000 / rate:.2f} ms per append)")
        rate = parallel(server.url("parallel"), 8, 500)
        print(f"PostgreSQL 8 processes: {rate:8.0f} appends/s in total (4000 appends)")
        log = EncounterLog(server.url("parallel"))
        started = time.perf_counter()
        frame = log.to_frame()
        print(f"PostgreSQL to_frame of {len(frame)}: {time.perf_counter() - started:.2f} s")
    finally:
        remove(server)


if __name__ == "__main__":
    sys.exit(main())
