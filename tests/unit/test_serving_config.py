"""The serving settings and the page template, checked without a server (fast).

The behaviour they produce is proved against real servers in tests/serving and tests/browser.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from traitlets.utils.importstring import import_item

from aid.report import EMERGENCY_SIGNS
from aid.serving import (
    FAILSAFE_PARTIAL,
    KERNEL_ID,
    TEMPLATE_DIR,
    WAITING_PARTIAL,
    OpenPages,
    built_pages_waiting,
    template_partials,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / "voila.json").read_text())


def test_page_failsafe_is_generated_from_the_dashboards_own():
    """Run scripts/make_page_failsafe.py after changing the fail-safe or the warning signs."""
    partials = template_partials()
    assert set(partials) == {FAILSAFE_PARTIAL, WAITING_PARTIAL}
    for path, text in partials.items():
        assert path.read_text(encoding="utf-8") == text, path.name
        assert all(sign.replace("'", "&#x27;") in text for sign in EMERGENCY_SIGNS), path.name
    assert "something went wrong" in partials[FAILSAFE_PARTIAL]
    assert "something went wrong" not in partials[WAITING_PARTIAL]


def test_every_page_of_the_template_includes_the_warning_signs():
    for name in ("index.html.j2", "error.html"):
        assert "{% include 'aid_failsafe.html' %}" in (TEMPLATE_DIR / name).read_text(), name
    # The waiting page: nothing went wrong, the same signs under "While you wait".
    assert "{% include 'aid_waiting_signs.html' %}" in (TEMPLATE_DIR / "503.html").read_text()
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
    # The pool builds a few kernels at a time, when the people answering leave it a moment.
    manager = import_item(voila["multi_kernel_manager_class"])
    assert manager.__name__ == "ClinicKernelManager"
    assert CONFIG["ClinicKernelManager"]["starts_at_once"] >= 0


def _pool_entry(loop: asyncio.AbstractEventLoop, started: bool, built: bool) -> asyncio.Future:
    """A Voila pool entry: the task starting a kernel, whose result holds the page-build task."""
    page = loop.create_future()
    if built:
        page.set_result(([], None))
    entry = loop.create_future()
    if started:
        entry.set_result({"kernel_id": "k", "task": page, "renderer": None})
    return entry


def test_built_pages_waiting_counts_the_built_pages_at_the_front_of_the_pool():
    """Voila hands out the front entry whether built or not: only a built front counts."""
    loop = asyncio.new_event_loop()
    try:
        built, building, starting = (True, True), (True, False), (False, False)

        def entries(*kinds: tuple[bool, bool]) -> list[asyncio.Future]:
            return [_pool_entry(loop, *kind) for kind in kinds]

        pools = {
            "dash.ipynb": entries(built, built, building),
            "front-building.ipynb": entries(building, built),
            "starting.ipynb": entries(starting),
            "empty.ipynb": [],
        }
        assert built_pages_waiting(pools, "dash.ipynb") == 2
        assert built_pages_waiting(pools, "front-building.ipynb") == 0
        assert built_pages_waiting(pools, "starting.ipynb") == 0
        # No pool (preheating off, or none yet): Voila starts a kernel per page; no waiting.
        assert built_pages_waiting(pools, "empty.ipynb") is None
        assert built_pages_waiting(pools, "other.ipynb") is None
    finally:
        loop.close()


def test_open_pages_counts_pages_being_served_and_pages_whose_kernel_runs():
    pages = OpenPages()
    for _ in range(3):
        pages.admitted()  # a burst: three pages admitted, none sent yet
    assert pages.count(running_kernel_ids=["pool-1", "pool-2"]) == 3  # pool kernels never count
    pages.served("k1")
    pages.served("k2")
    pages.served(None)  # a page that failed before it had a kernel
    assert pages.count(["pool-1", "k1", "k2"]) == 2
    # k1's page closed (beacon) or was culled: its kernel is gone, so is the page.
    assert pages.count(["pool-1", "k2"]) == 1
    assert pages.count(["pool-1", "k1", "k2"]) == 1  # a kernel id is not counted twice


def test_the_kernel_id_is_read_as_voila_writes_it():
    kid = "1fdef50b-c6af-4565-907a-44bc0fb5d5dd"
    config = json.dumps({"baseUrl": "/", "kernelId": kid})
    assert KERNEL_ID.search(f'<script id="jupyter-config-data">{config}</script>').group(1) == kid


def test_page_templates_are_compiled_once_for_every_page_voila_builds(monkeypatch):
    """Voila builds each page with a new exporter and Jinja environment; with the shared cache
    (aid.serving.share_compiled_page_templates) the second page compiles nothing."""
    from jinja2 import Environment
    from voila.exporter import VoilaExporter
    from voila.paths import collect_template_paths

    from aid.serving import COMPILED_TEMPLATES, share_compiled_page_templates

    share_compiled_page_templates()
    share_compiled_page_templates()  # a second call does not wrap twice
    compiled: list[str | None] = []
    compile_source = Environment.compile

    def counting(self, source, name=None, filename=None, *args, **kwargs):
        compiled.append(name)
        return compile_source(self, source, name, filename, *args, **kwargs)

    monkeypatch.setattr(Environment, "compile", counting)
    paths = collect_template_paths(["voila", "nbconvert"], TEMPLATE_DIR.name)
    hits = []
    for _ in range(2):
        environment = VoilaExporter(template_paths=paths, template_name="aid").environment
        assert environment.bytecode_cache is COMPILED_TEMPLATES
        before = len(compiled)
        environment.get_template("index.html.j2")
        hits.append((len(compiled) - before, COMPILED_TEMPLATES.hits))
    assert hits[1][0] == 0, "the second page compiled its template again"
    assert hits[1][1] > hits[0][1]


def test_the_page_does_not_echo_what_it_writes():
    """One kernel message fewer per click for the server thread to relay (aid.ui.form)."""
    from aid.ui.form import AidForm

    assert {"answers", "notes", "subject"} <= set(AidForm.class_trait_names(echo_update=False))
    assert "card" not in AidForm.class_trait_names(echo_update=False)
