"""Fixtures for the serving tests: a real Voila server on the repo's voila.json, and the client.

The server and the client are ``benchmarks/load.py``'s (loaded here as the module ``aid_load``),
so the tests and the load test speak the page's protocol the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from load_client import load_benchmark

ROOT = Path(__file__).resolve().parents[2]


load_benchmark()  # registers the module aid_load, which test_serving.py uses


#: Smaller than the clinic's 25 (built one at a time, about a minute), and smaller than the 20
#: visitors of the crowd test, so that the crowd meets the waiting page too.
POOL = 10


@pytest.fixture(scope="module")
def dashboard_server(tmp_path_factory) -> Iterator:
    """One Voila server per module, on the repo's voila.json (like ``make dashboard``) with a
    pool of ``POOL``."""
    import aid_load

    work = tmp_path_factory.mktemp("serving")
    config = json.loads((ROOT / "voila.json").read_text())
    config["VoilaConfiguration"]["default_pool_size"] = POOL
    (work / "voila.json").write_text(json.dumps(config))
    server = aid_load.Server(work, config_dir=work)
    try:
        server.wait_ready()
        server.wait_pool_refilled(timeout=240)  # the pool has built its pages: the server is idle
        yield server
    finally:
        server.stop()
