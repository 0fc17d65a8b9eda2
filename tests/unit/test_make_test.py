"""`make test` runs tests/ in two pytest sessions (Makefile IN_PROCESS_TESTS, SERVICE_TESTS):
together they must hold every test file exactly once, so that no test is silently left out."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _make_list(name: str) -> list[str]:
    match = re.search(rf"^{name} := (.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert match, f"{name} is not defined in the Makefile"
    return match.group(1).split()


def _files(entry: str) -> set[Path]:
    path = ROOT / entry
    assert path.exists(), entry
    return {path} if path.is_file() else set(path.rglob("test_*.py"))


def test_the_two_sessions_of_make_test_hold_every_test_file_once():
    in_process = set().union(*map(_files, _make_list("IN_PROCESS_TESTS")))
    services = set().union(*map(_files, _make_list("SERVICE_TESTS")))
    every = {p for p in (ROOT / "tests").rglob("test_*.py") if "node_modules" not in p.parts}
    assert not in_process & services, sorted(map(str, in_process & services))
    assert every - in_process - services == set(), "test files make test never runs"
    # The parallel session starts no service: those tests use the session-wide fixtures.
    assert not {p for p in in_process if p.parts[-2] in ("browser", "serving", "store", "deploy")}
