"""The serving settings and the page template, checked without a server (fast).

The behaviour they produce is proved against real servers in tests/serving and tests/browser.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from traitlets.utils.importstring import import_item

from aid.report import EMERGENCY_SIGNS
from aid.serving import FAILSAFE_PARTIAL, TEMPLATE_DIR, failsafe_partial, sessions_in_use

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / "voila.json").read_text())


def test_page_failsafe_is_generated_from_the_dashboards_own():
    """Run scripts/make_page_failsafe.py after changing the fail-safe or the warning signs."""
    assert FAILSAFE_PARTIAL.read_text(encoding="utf-8") == failsafe_partial()
    assert all(
        sign.replace("'", "&#x27;") in FAILSAFE_PARTIAL.read_text() for sign in EMERGENCY_SIGNS
    )


def test_every_page_of_the_template_includes_the_failsafe():
    for name in ("index.html.j2", "error.html", "503.html"):
        assert "{% include 'aid_failsafe.html' %}" in (TEMPLATE_DIR / name).read_text(), name
    assert json.loads((TEMPLATE_DIR / "conf.json").read_text())["base_template"] == "lab"


def test_voila_json_selects_the_template_and_the_serving_settings():
    voila = CONFIG["VoilaConfiguration"]
    assert voila["template"] == TEMPLATE_DIR.name
    provider = import_item(CONFIG["Voila"]["identity_provider_class"])
    assert provider.__name__ == "ClinicIdentityProvider"
    assert CONFIG["KernelManager"]["transport"] == "ipc"  # no TCP port race (jupyter_client #487)
    assert CONFIG["VoilaExecutor"]["iopub_timeout"] >= 30
    culling = CONFIG["MappingKernelManager"]
    assert culling["cull_idle_timeout"] > 0 and culling["cull_interval"] > 0
    assert culling["cull_connected"] is False  # an open page is never culled under its reader
    assert CONFIG["ClinicIdentityProvider"]["max_sessions"] > voila["default_pool_size"]


class _Pool:
    """Voila's pool as the limit sees it: asyncio tasks, done (ready) or not (starting)."""

    def __init__(self, ready: int, starting: int) -> None:
        loop = asyncio.new_event_loop()
        self.tasks = []
        for _ in range(ready):
            future = loop.create_future()
            future.set_result({"kernel_id": "k"})
            self.tasks.append(future)
        self.tasks += [loop.create_future() for _ in range(starting)]
        loop.close()


class _Manager:
    def __init__(self, running: int, ready: int, starting: int) -> None:
        self.running = running
        self._pools = {"dashboard.ipynb": _Pool(ready, starting).tasks}

    def list_kernel_ids(self) -> list[str]:
        return [str(i) for i in range(self.running)]


def test_sessions_in_use_counts_only_kernels_not_ready_in_the_pool():
    assert sessions_in_use(_Manager(running=7, ready=4, starting=0)) == 3
    # A kernel still starting for the pool counts as in use: the limit errs on the safe side.
    assert sessions_in_use(_Manager(running=7, ready=2, starting=2)) == 5
    assert sessions_in_use(_Manager(running=0, ready=0, starting=3)) == 0
