"""``benchmarks/load.py`` as the module ``aid_load``, for the tests that drive a real Voila server.

The serving and browser tests use its server, its light websocket client and its /proc helpers,
so that the tests and the load test speak the page's protocol the same way. It is loaded from its
file once (benchmarks/ is not a package) and kept in ``sys.modules``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

LOAD_PY = Path(__file__).resolve().parents[1] / "benchmarks" / "load.py"


def load_benchmark() -> ModuleType:
    if "aid_load" not in sys.modules:
        spec = importlib.util.spec_from_file_location("aid_load", LOAD_PY)
        assert spec is not None and spec.loader is not None, LOAD_PY
        module = importlib.util.module_from_spec(spec)
        sys.modules["aid_load"] = module
        spec.loader.exec_module(module)
    return sys.modules["aid_load"]
