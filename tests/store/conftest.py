"""Shared pieces for the encounter-log tests: real results from aid.triage, real files, and a way
to run code as an unprivileged user (root ignores file permissions, so a read-only test run as
root would pass for the wrong reason)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import aid
from aid.store import StoreError

#: One answer set per urgency level (and one with several reasons), triaged for real.
CASES: dict[str, dict[str, Any]] = {
    "selfcare": {},
    "soon": {"radiates": "one_leg"},
    "urgent": {"urine_pain": "yes"},
    "emergency": {"saddle_numbness": "yes"},
    "emergency_several": {"saddle_numbness": "yes", "bladder_trouble": "yes", "fever": "yes"},
}

NOBODY = 65534


@pytest.fixture(scope="session")
def cases() -> dict[str, dict[str, Any]]:
    return CASES


@pytest.fixture(scope="session")
def results() -> dict[str, aid.Result]:
    return {name: aid.triage(answers) for name, answers in CASES.items()}


@pytest.fixture
def unprivileged() -> Callable[[Callable[[], Any]], tuple[str, Any]]:
    return as_unprivileged


@pytest.fixture
def shared_dir():
    """A folder an unprivileged user can reach (pytest's tmp_path sits under a 0700 folder)."""
    path = Path(tempfile.mkdtemp(prefix="aid-store-"))
    path.chmod(0o755)
    yield path
    for sub in [path, *path.rglob("*")]:
        if sub.is_dir():
            sub.chmod(0o755)
    shutil.rmtree(path)


def as_unprivileged(fn: Callable[[], Any]) -> tuple[str, Any]:
    """Run ``fn`` in a forked child that drops to user ``nobody`` when we are root.

    Returns ("ok", value), ("StoreError", message) or ("other", "Type: message"). The fork keeps
    every module imported, so the child needs no access to the checkout.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 0
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            try:
                out: tuple[str, Any] = ("ok", fn())
            except StoreError as exc:
                out = ("StoreError", str(exc))
            except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails
                out = ("other", f"{type(exc).__name__}: {exc}")
            with os.fdopen(write_end, "w") as pipe:
                json.dump(out, pipe)
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and data, "the unprivileged child failed"
    kind, value = json.loads(data)
    return kind, value
