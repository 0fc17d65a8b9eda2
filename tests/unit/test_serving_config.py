"""The serving settings and the page template, checked without a server (fast).

The behaviour they produce is proved against real servers in tests/serving and tests/browser.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
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


def test_voila_json_selects_the_kernel_websocket_connection():
    connection = import_item(CONFIG["Voila"]["kernel_websocket_connection_class"])
    assert connection.__name__ == "ClinicKernelConnection"
    assert connection().limit_rate is False  # the served notebook prints nothing


def test_a_pages_kernel_websocket_sends_each_message_at_once(monkeypatch):
    """``ClinicKernelConnection.connect`` turns Nagle's algorithm off on the page's real TCP
    socket (read back with getsockopt on a websocket served by Tornado in this process); the
    kernel side of the connection is Jupyter's own and not under test here."""
    import socket

    from jupyter_server.services.kernels.connection.channels import (
        ZMQChannelsWebsocketConnection,
    )
    from jupyter_server.services.kernels.websocket import KernelWebsocketHandler
    from tornado import web, websocket
    from tornado.httpserver import HTTPServer
    from tornado.testing import bind_unused_port

    from aid.serving import ClinicKernelConnection

    monkeypatch.setattr(ZMQChannelsWebsocketConnection, "connect", lambda self: None)
    seen: dict[str, int] = {}

    class Page(KernelWebsocketHandler):
        """Jupyter's kernel websocket handler without its login and kernel lookup."""

        async def prepare(self) -> None:
            pass

        async def get(self) -> None:  # type: ignore[override]
            await websocket.WebSocketHandler.get(self)

        def select_subprotocol(self, subprotocols: list[str]) -> None:
            return None

        def open(self) -> None:  # type: ignore[override]
            sock = self.ws_connection.stream.socket  # type: ignore[union-attr]
            seen["before"] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            ClinicKernelConnection(websocket_handler=self).connect()
            seen["after"] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            self.close()

    async def visit() -> None:
        listener, port = bind_unused_port()
        server = HTTPServer(web.Application([("/ws", Page)]))
        server.add_sockets([listener])
        try:
            ws = await websocket.websocket_connect(f"ws://127.0.0.1:{port}/ws")
            assert await ws.read_message() is None  # the page closed it after connecting
            ws.close()
        finally:
            server.stop()

    asyncio.run(visit())
    assert seen == {"before": 0, "after": 1}


def _iopub(session, msg_type: str, content: dict, parent_type: str | None) -> list[bytes]:
    """One IOPub message as a kernel sends it (topic, delimiter, signature, parts)."""
    parent = session.msg(parent_type, {}) if parent_type else {}
    message = session.msg(msg_type, content, parent=parent)
    return session.serialize(message, ident=f"kernel.k.{msg_type}".encode())


def test_the_lean_activity_watch_decides_as_jupyter_servers():
    """``ClinicKernelManager.start_watching_activity`` reads only the headers, but must keep
    the culler's clock and the execution state exactly as upstream's watch does: the same
    messages go through both."""
    from jupyter_client.session import Session
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

    from aid.serving import ClinicKernelManager

    session = Session(key=b"secret")

    class Stream:
        def on_recv(self, callback):
            self.callback = callback

    class Kernel:
        def __init__(self) -> None:
            self.session = session
            self.execution_state = "starting"
            self.last_activity = None
            self.stream = Stream()

        def connect_iopub(self) -> Stream:
            return self.stream

    messages = [
        ("status", {"execution_state": "starting"}, None),
        ("status", {"execution_state": "busy"}, "kernel_info_request"),  # not the user's
        ("status", {"execution_state": "idle"}, "kernel_info_request"),
        ("status", {"execution_state": "busy"}, "comm_msg"),  # a click on the page
        ("comm_msg", {"comm_id": "c", "data": {"method": "update"}}, "comm_msg"),
        ("status", {"execution_state": "idle"}, "comm_msg"),
        ("stream", {"name": "stdout", "text": "x"}, None),
        ("status", {"execution_state": "busy"}, "comm_info_request"),
        ("comm_msg", {"comm_id": "c", "data": {}}, "comm_info_request"),
        ("status", {"execution_state": "idle"}, "comm_info_request"),
    ]
    traces = []
    for manager in (AsyncMappingKernelManager(), ClinicKernelManager()):
        kernel = Kernel()
        manager._kernels["k"] = kernel
        manager.start_watching_activity("k")
        trace = []
        long_ago = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        for msg_type, content, parent_type in messages:
            kernel.last_activity = manager.last_kernel_activity = long_ago
            kernel.stream.callback(_iopub(session, msg_type, content, parent_type))
            touched = kernel.last_activity != long_ago
            assert touched == (manager.last_kernel_activity != long_ago)
            trace.append((msg_type, kernel.execution_state, touched))
        traces.append(trace)
    upstream, lean = traces
    assert lean == upstream
    assert {touched for _, _, touched in lean} == {True, False}  # the messages test both ways
    assert [state for _, state, _ in lean][:4] == ["starting", "idle", "idle", "busy"]


def test_full_garbage_collection_waits_for_a_quiet_moment(monkeypatch):
    """Due (Python's own count), it does not run while kernels talk, runs once they are quiet,
    and runs anyway after ``longest_collection_delay``."""
    import gc

    from jupyter_server._tz import utcnow

    from aid import serving
    from aid.serving import GC_FULL_EVERY, ClinicKernelManager

    collections: list[int] = []
    monkeypatch.setattr(serving.gc, "collect", lambda *a: collections.append(1) or 0)
    counts = {"gen2": 0}
    monkeypatch.setattr(serving.gc, "get_count", lambda: (0, 0, counts["gen2"]))
    clock = {"now": 1000.0}
    monkeypatch.setattr(serving.time, "monotonic", lambda: clock["now"])
    manager = ClinicKernelManager(quiet_before_start=1.0, longest_collection_delay=60.0)

    manager.last_kernel_activity = utcnow()  # people answering
    assert not manager.collect_garbage_if_due()  # not due yet
    counts["gen2"] = GC_FULL_EVERY
    assert not manager.collect_garbage_if_due()  # due, but kernels are talking
    clock["now"] += 30
    assert not manager.collect_garbage_if_due()
    clock["now"] += 31  # waited longer than longest_collection_delay
    assert manager.collect_garbage_if_due() and len(collections) == 1

    manager.last_kernel_activity = utcnow() - dt.timedelta(seconds=5)  # quiet
    assert manager.collect_garbage_if_due() and len(collections) == 2
    counts["gen2"] = 0
    assert not manager.collect_garbage_if_due()
    assert gc.get_threshold()[2] == GC_FULL_EVERY  # the test process's own GC is untouched


def test_voilas_pool_preparation_is_the_method_clinic_kernel_manager_wraps():
    """``ClinicKernelManager`` wraps ``_initialize`` of Voila's pool class by name: if Voila
    renamed it or changed its arguments, the refill would again prepare pages among the answers."""
    import inspect

    from voila.voila_kernel_manager import voila_kernel_manager_factory

    from aid.serving import ClinicKernelManager

    pooled = voila_kernel_manager_factory(ClinicKernelManager, True, 1)
    parameters = list(inspect.signature(pooled._initialize).parameters)
    assert parameters[:3] == ["self", "notebook_path", "kernel_id"]
    assert "renderer = self._notebook_renderer_factory" in inspect.getsource(pooled._initialize)


def test_a_refill_prepares_its_page_only_in_its_turn(monkeypatch):
    """A pool refill takes its start slot and waits for quiet before Voila prepares the page
    (the renderer), then starts its kernel in that same slot; a restart prepares at once; a
    preparation that fails gives its slot back."""
    from jupyter_server._tz import utcnow
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

    from aid.serving import ClinicKernelManager

    events: list[tuple[str, str, float]] = []

    async def start_kernel(self, **kwargs):  # the real one starts a process
        events.append(("kernel", kwargs["name"], time.monotonic()))
        return kwargs["name"]

    monkeypatch.setattr(AsyncMappingKernelManager, "start_kernel", start_kernel)

    class Pooled(ClinicKernelManager):
        """Prepares as Voila's VoilaKernelManager._initialize does: renderer, then kernel."""

        async def _initialize(self, notebook_path, kernel_id=None, **kwargs):
            events.append(("prepare", notebook_path, time.monotonic()))
            if notebook_path == "broken":
                raise RuntimeError("the notebook could not be read")
            if kernel_id is None:
                kernel_id = await self.start_kernel(name=notebook_path)
            return kernel_id

    async def scenario() -> None:
        manager = Pooled(starts_at_once=1, quiet_before_start=0.3, collect_garbage_when_quiet=False)
        manager.last_kernel_activity = utcnow()  # someone answering right now
        asked = time.monotonic()
        refills = [
            asyncio.ensure_future(manager._initialize(name)) for name in ("a", "broken", "b")
        ]
        restart = await asyncio.wait_for(manager._initialize("r", "kernel-r"), 0.2)
        assert restart == "kernel-r"  # at once, without a slot or quiet
        results = await asyncio.wait_for(asyncio.gather(*refills, return_exceptions=True), 10)
        assert results[0] == "a" and results[2] == "b"
        assert isinstance(results[1], RuntimeError)
        order = [(kind, name) for kind, name, _ in events]
        assert order == [
            ("prepare", "r"),
            ("prepare", "a"),
            ("kernel", "a"),
            ("prepare", "broken"),
            ("prepare", "b"),
            ("kernel", "b"),
        ]
        first_prepared = next(t for kind, name, t in events if name == "a")
        assert first_prepared - asked >= 0.3  # waited for the quiet moment
        assert not manager._start_slots().locked()  # the one slot was given back

    asyncio.run(scenario())
