"""Load test: N people open the dashboard at once, answer one question and get their card.

Run: ``.venv/bin/python benchmarks/load.py [--sessions 1 10 25 50] [--rounds 1]
[--set VoilaConfiguration.default_pool_size=25]`` (``--set`` tries a setting on a temporary copy
of ``voila.json``; that is how the pool size and the limit in ``voila.json`` were chosen).

A real Voila server is started on 127.0.0.1 exactly as ``make dashboard`` starts it (the repo's
``voila.json``, the ``aid`` template, the encounter log in a temporary file). Each session is a
light client, not a browser, so that the server's two cores are not shared with N Chromiums. It
speaks to the server exactly as the page does:

1. ``GET /`` (keeping the cookies), read ``kernelId`` from the page's ``jupyter-config-data`` and
   check the cell output holds the widget (``application/vnd.jupyter.widget-view+json``); a page
   without it is a **blank page** (the server ran out of time). HTTP 503 is a **waiting page**
   (``aid.serving``: "getting ready" when no built page is in the pool, "busy" at the open-page
   limit ``ClinicIdentityProvider.max_sessions``); it reloads itself (meta refresh), and the
   client follows it as a browser does, within the session's timeout.
2. Open ``/api/kernels/<id>/channels`` with the ``v1.kernel.websocket.jupyter.org`` subprotocol
   (binary frames, jupyter_server's own serializer), send ``kernel_info_request`` and wait for
   the reply, as ``KernelConnection`` does on connect.
3. Open the ``jupyter.widget.control`` comm and send ``request_states``, as ipywidgets 8's
   widget manager does; the page is **usable** when the ``update_states`` reply has arrived
   (every widget state). Time to usable runs from the ``GET`` to that moment.
4. Answer one question the way the front end does after a click: a ``comm_msg`` with
   ``{"method": "update", "state": {...}, "buffer_paths": []}`` on that widget's comm
   (:func:`choose_answer`), then wait for the kernel's ``update`` of the result card
   (:func:`is_card_update`). Answer to card runs from the send to that message.
5. Close the websocket and post the page's shutdown beacon (``/voila/api/shutdown/<id>`` with the
   ``_xsrf`` cookie as form field, as Voila's page does on ``beforeunload``). A refused beacon is
   counted: that kernel would outlive its page.

Only :func:`choose_answer`, :func:`find_card` and :func:`is_card_update` know the questionnaire
(today: the one ``AidForm`` anywidget, its ``answers`` and ``card`` traits); steps 1-3 and 5 are
the same for any page.

Printed per N: pages that worked, blank pages, visitors who saw a waiting page (by kind), visitors
still waiting at the timeout, errors, time to usable (waits included) and answer to
card (p50, p95, max), server memory (Voila and all its kernels, resident) with every session open,
memory per kernel (each open page holds one, and so does each page waiting in the preheated pool),
and kernels left after the pages closed. All N pages stay open until every
one has its card (N people in the waiting room at once), except when N is above
``max_sessions`` (marked ``*``). Every loop is bounded in count and in
time (``--timeout`` per session), and the script stops the server it started.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_server.services.kernels.connection.base import (
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "dashboard.ipynb"
WS_PROTOCOL = "v1.kernel.websocket.jupyter.org"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CONTROL_TARGET = "jupyter.widget.control"
CONFIG_DATA = re.compile(
    r'<script id="jupyter-config-data" type="application/json">\s*(.*?)\s*</script>', re.S
)

# --------------------------------------------------------------------------------------------
# What this page's questionnaire looks like: the only part that knows aid/ui's widgets.
# --------------------------------------------------------------------------------------------

#: The question answered, and the answer: a warning sign, so the card must turn to Emergency.
QUESTION = "saddle_numbness"
ANSWER = "yes"
CARD_WORD = "Emergency"


def _form(states: dict[str, dict[str, Any]]) -> str:
    """The model id of the page's one questionnaire widget (``aid.ui.AidForm``, an anywidget)."""
    for model_id, state in states.items():
        if "answers" in state and "questions" in state and "card" in state:
            return model_id
    raise LookupError("no AidForm widget (a model with answers, questions and card)")


def choose_answer(states: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """(widget model id, state patch) that answers ``QUESTION`` as the page does.

    The page is one ``AidForm`` anywidget: a click on a choice writes the whole ``answers``
    dict back to the kernel (form.js ``model.set("answers", ...)`` then ``save_changes``).
    """
    model_id = _form(states)
    answers = dict(states[model_id].get("answers") or {})
    answers[QUESTION] = ANSWER
    return model_id, {"answers": answers}


def find_card(states: dict[str, dict[str, Any]]) -> str:
    """The model id that carries the result card: the same ``AidForm`` (its ``card`` trait)."""
    return _form(states)


def is_card_update(model_id: str, state: dict[str, Any], card_id: str) -> bool:
    """True for the kernel's update of the card that shows the answer's result."""
    return model_id == card_id and CARD_WORD in str(state.get("card", ""))


# --------------------------------------------------------------------------------------------
# The protocol: the same for any page.
# --------------------------------------------------------------------------------------------


@dataclass
class Session:
    """One visitor's outcome: ``ok``, ``blank``, ``waiting`` (still on the waiting page at the
    timeout) or ``error`` (with ``detail``). ``waits`` counts the waiting pages seen before the
    questionnaire, by kind (``getting-ready``: no built page in the pool; ``busy``: the open-page
    limit); time to usable includes them."""

    outcome: str = "error"
    waits: dict[str, int] = field(default_factory=dict)
    waited_s: float = 0.0
    usable_s: float | None = None
    answer_ms: float | None = None
    detail: str = ""
    kernel_id: str | None = None
    beacon_status: int | None = None
    messages: int = 0
    timings: dict[str, float] = field(default_factory=dict)


class KernelChannel:
    """The page's kernel websocket, v1 binary protocol."""

    def __init__(self, ws: Any, session_id: str) -> None:
        self.ws = ws
        self.session_id = session_id
        self.received = 0

    def send(
        self, msg_type: str, content: dict, metadata: dict | None = None, channel: str = "shell"
    ) -> str:
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "msg_type": msg_type,
            "username": "",
            "session": self.session_id,
            "date": dt.datetime.now(dt.UTC).isoformat(),
            "version": "5.3",
        }
        parts = [header, {}, metadata or {}, content]
        frame = serialize_msg_to_ws_v1([json.dumps(p).encode() for p in parts], channel)
        self.ws.write_message(frame, binary=True)
        return msg_id

    async def receive(self, deadline: float) -> tuple[str, dict, dict]:
        """(channel, header, content) of the next message, or TimeoutError at ``deadline``."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        frame = await asyncio.wait_for(self.ws.read_message(), remaining)
        if frame is None:
            raise ConnectionError("the kernel websocket closed")
        channel, parts = deserialize_msg_from_ws_v1(frame)
        self.received += 1
        return channel, json.loads(parts[0]), json.loads(parts[3])

    async def wait_for(self, deadline: float, accept: Callable[[str, dict, dict], Any]) -> Any:
        """Read messages until ``accept`` returns something other than None (bounded by time)."""
        while True:
            channel, header, content = await self.receive(deadline)
            if header.get("msg_type") == "status" and content.get("execution_state") in (
                "dead",
                "restarting",
            ):
                raise ConnectionError(f"kernel {content['execution_state']}")
            found = accept(channel, header, content)
            if found is not None:
                return found


CELL_OUTPUT = re.compile(
    r'<script type="application/vnd.voila.cell-output\+json">(.*?)</script>', re.S
)


def has_widget_output(html: str) -> bool:
    """True when a cell's output (not just any text of the page) holds a widget view."""
    return any(WIDGET_VIEW in output for output in CELL_OUTPUT.findall(html))


#: The waiting page (``503.html`` of the aid template): its kind and its reload interval.
WAIT_KIND = re.compile(r'data-aid-wait="([a-z-]+)"')
REFRESH = re.compile(r'<meta http-equiv="refresh" content="(\d+)"')


def waiting_page(html: str) -> tuple[str, int] | None:
    """(kind, seconds until the page reloads itself) of a waiting page, else None."""
    kind, refresh = WAIT_KIND.search(html), REFRESH.search(html)
    if kind and refresh:
        return kind.group(1), int(refresh.group(1))
    return None


def _cookies(response: Any) -> dict[str, str]:
    jar = {}
    for line in response.headers.get_list("Set-Cookie"):
        name, _, rest = line.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]
    return jar


async def run_session(
    base_url: str,
    timeout: float = 60.0,
    all_answered: asyncio.Event | None = None,
    think_s: float = 0.0,
) -> Session:
    """One visitor: page, websocket, widget states, one answer, the card, close and beacon.

    With ``all_answered`` the page stays open after its card until that event is set (bounded
    by the timeout): N sessions are then open at the same time, as N people in a waiting room,
    rather than the first ones closing while the last ones answer. ``think_s`` is the time the
    person reads the first question before answering (0: the instant the page is usable)."""
    result = Session()
    deadline = time.monotonic() + timeout
    client = AsyncHTTPClient()
    start = time.perf_counter()
    try:
        # A waiting page reloads itself (meta refresh), as a browser would follow it.
        while True:
            remaining = max(deadline - time.monotonic(), 0.01)
            response = await client.fetch(base_url, raise_error=False, request_timeout=remaining)
            if response.code != 503:
                break
            wait = waiting_page(response.body.decode("utf-8", "replace"))
            if wait is None:
                result.detail = "HTTP 503 without the waiting page"
                return result
            kind, seconds = wait
            result.waits[kind] = result.waits.get(kind, 0) + 1
            if time.monotonic() + seconds >= deadline:
                result.outcome = "waiting"
                result.detail = f"still on the {kind} waiting page after {timeout:.0f} s"
                return result
            await asyncio.sleep(seconds)
        result.waited_s = time.perf_counter() - start if result.waits else 0.0
        result.timings["page_s"] = time.perf_counter() - start
        if response.code != 200:
            result.detail = f"HTTP {response.code}"
            return result
        html = response.body.decode("utf-8", "replace")
        config = json.loads(CONFIG_DATA.search(html).group(1))
        result.kernel_id = kernel_id = config["kernelId"]
        if not has_widget_output(html):
            result.outcome = "blank"
            result.detail = "the cell output holds no widget"
        jar = _cookies(response)
        cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
        ws_url = base_url.replace("http://", "ws://", 1) + f"api/kernels/{kernel_id}/channels"
        ws_url += f"?session_id={uuid.uuid4()}"
        ws = await asyncio.wait_for(
            websocket_connect(
                HTTPRequest(ws_url, headers={"Cookie": cookie}),
                subprotocols=[WS_PROTOCOL],
                max_message_size=256 * 1024 * 1024,
            ),
            max(deadline - time.monotonic(), 0.01),
        )
        try:
            if result.outcome != "blank":
                chan = KernelChannel(ws, uuid.uuid4().hex)
                await _use_page(chan, deadline, start, result, think_s)
                result.outcome = "ok"
        finally:
            result.timings["answered_s"] = time.perf_counter() - start
            if all_answered is not None:
                _answered(result)
                await _wait_event(all_answered, deadline)
            ws.close()
            result.beacon_status = await _beacon(client, base_url, kernel_id, jar)
    except TimeoutError:
        result.detail = result.detail or f"timed out after {timeout:.0f} s"
        result.outcome = "error"
    except Exception as exc:  # noqa: BLE001 - a load test counts every failure, it never stops
        result.detail = f"{type(exc).__name__}: {exc}"
        result.outcome = "error"
    finally:
        _answered(result)  # a session that never reached its card must not hold the others
    return result


def _answered(result: Session) -> None:
    if all(r is not result for r in _ANSWERED):
        _ANSWERED.append(result)


async def _use_page(
    chan: KernelChannel, deadline: float, start: float, result: Session, think_s: float = 0.0
) -> None:
    info_id = chan.send("kernel_info_request", {})
    await chan.wait_for(
        deadline,
        lambda ch, h, c: True if h.get("msg_type") == "kernel_info_reply" else None,
    )
    control = uuid.uuid4().hex
    chan.send(
        "comm_open",
        {"comm_id": control, "target_name": CONTROL_TARGET, "data": {}},
        metadata={"version": "1.0.0"},
    )
    chan.send("comm_msg", {"comm_id": control, "data": {"method": "request_states"}})

    def states_reply(ch: str, header: dict, content: dict) -> dict | None:
        data = content.get("data") or {}
        if header.get("msg_type") == "comm_msg" and data.get("method") == "update_states":
            return {mid: s.get("state", {}) for mid, s in data["states"].items()}
        return None

    states = await chan.wait_for(deadline, states_reply)
    result.usable_s = time.perf_counter() - start
    del info_id
    if think_s > 0:
        await asyncio.sleep(min(think_s, max(deadline - time.monotonic(), 0.0)))
    model_id, patch = choose_answer(states)
    card_id = find_card(states)
    sent = time.perf_counter()
    chan.send(
        "comm_msg",
        {"comm_id": model_id, "data": {"method": "update", "state": patch, "buffer_paths": []}},
        metadata={"version": "2.1.0"},
    )

    def card_reply(ch: str, header: dict, content: dict) -> bool | None:
        data = content.get("data") or {}
        if header.get("msg_type") == "comm_msg" and data.get("method") == "update":
            if is_card_update(content.get("comm_id", ""), data.get("state", {}), card_id):
                return True
        return None

    await chan.wait_for(deadline, card_reply)
    result.answer_ms = (time.perf_counter() - sent) * 1000
    result.messages = chan.received


async def _beacon(client: Any, base_url: str, kernel_id: str, jar: dict[str, str]) -> int:
    """The page's shutdown beacon: a form post with the ``_xsrf`` cookie as ``_xsrf`` field."""
    token = jar.get("_xsrf", "")
    body = f"_xsrf={token}"
    response = await client.fetch(
        f"{base_url}voila/api/shutdown/{kernel_id}",
        method="POST",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()),
        },
        raise_error=False,
        request_timeout=30,
    )
    return response.code


#: Sessions that have their card (or failed) in the current run_sessions.
_ANSWERED: list[Session] = []


async def _wait_event(event: asyncio.Event, deadline: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), max(deadline - time.monotonic(), 0.01))
    except TimeoutError:
        pass


async def run_sessions(
    base_url: str,
    n: int,
    timeout: float,
    close_together: bool = True,
    think: float = 0.0,
    when_all_answered: Callable[[], Any] | None = None,
) -> list[Session]:
    """N visitors at the same moment. With ``close_together`` every page stays open until all N
    have their card (or failed, or timed out), then all close: the answers are measured while N
    sessions are open, and ``when_all_answered`` is called at that moment, before any page
    closes. Without it each page closes as soon as it has its card. ``think`` > 0: the visitors
    read for between 0.5 and 1.5 times ``think`` seconds (evenly spread) before answering, as
    people do; 0: every answer is sent the instant its page is usable, in the middle of the
    other pages loading (the harshest case)."""
    AsyncHTTPClient.configure(None, max_clients=max(n * 2, 10))
    all_answered = asyncio.Event() if close_together else None
    _ANSWERED.clear()

    async def watch() -> None:
        while len(_ANSWERED) < n:
            await asyncio.sleep(0.05)
        assert all_answered is not None
        if when_all_answered is not None:
            when_all_answered()
        all_answered.set()

    watcher = asyncio.ensure_future(watch()) if close_together else None
    try:
        sessions = list(
            await asyncio.gather(
                *(
                    run_session(base_url, timeout, all_answered, think * (0.5 + i / max(n - 1, 1)))
                    for i in range(n)
                )
            )
        )
    finally:
        if watcher is not None:
            watcher.cancel()
    return sessions


# --------------------------------------------------------------------------------------------
# The server, its memory, and the report.
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def voila_command(port: int, config_dir: Path = ROOT, notebook: Path = NOTEBOOK) -> list[str]:
    """``make dashboard``'s invocation (Makefile VOILA_ARGS) on another port."""
    voila = Path(sys.executable).with_name("voila")
    return [
        str(voila),
        f"--Voila.config_file_paths={config_dir}",
        f"--port={port}",
        "--Voila.port_retries=0",
        str(notebook.relative_to(ROOT)) if notebook.is_relative_to(ROOT) else str(notebook),
    ]


class Server:
    """A Voila server started like ``make dashboard``; ``stop()`` ends it and its kernels."""

    def __init__(
        self,
        work: Path,
        config_dir: Path = ROOT,
        port: int | None = None,
        notebook: Path = NOTEBOOK,
    ) -> None:
        self.port = port or free_port()
        config = json.loads((config_dir / "voila.json").read_text())
        self.pool = int(config["VoilaConfiguration"].get("default_pool_size", 1))
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = work / f"voila-{self.port}.log"
        env = dict(os.environ, AID_DB=str(work / "encounters.sqlite3"), PYTHONUNBUFFERED="1")
        env.pop("PYTEST_CURRENT_TEST", None)
        # A restarted server on the same port appends to the same log: read only what it wrote.
        self.log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("a", encoding="utf-8") as log:
            self.process = subprocess.Popen(
                voila_command(self.port, config_dir, notebook),
                cwd=ROOT if notebook.is_relative_to(ROOT) else notebook.parent,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def log_text(self) -> str:
        """What this server wrote to its log."""
        with self.log_path.open("rb") as log:
            log.seek(self.log_start)
            return log.read().decode("utf-8", errors="replace")

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Ready when the preheated pool is filled and, with ``aid.serving.ClinicKernelManager``,
        every kernel of it has built its page, so a visitor gets the questionnaire, not the
        waiting page (a bounded wait)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Voila exited:\n{self.log_text()}")
            text = self.log_text()
            filled = re.search(r"Kernel pool of \S+ is filled", text)
            built = "Kernels start " not in text or text.count("start slot free again") >= self.pool
            if filled and built:
                return
            time.sleep(0.2)
        raise RuntimeError(f"Voila not ready after {timeout:.0f} s:\n{self.log_text()}")

    def wait_pool_refilled(self, timeout: float = 120.0) -> None:
        """Bounded wait until the log's last pool message says it is filled again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text()
            last_fill = text.rfind("is filled with")
            last_use = text.rfind("Using pre-heated kernel")
            if last_fill > last_use and len(kernel_pids(self.process.pid)) <= self.pool:
                break
            time.sleep(0.5)
        # "Filled" is logged when the kernels have started; they then build the questionnaire.
        # Wait until the server and its kernels are idle, so every run meets a ready pool.
        while time.monotonic() < deadline:
            before = cpu_seconds(self.process.pid)
            time.sleep(2)
            if cpu_seconds(self.process.pid) - before < 0.2:
                return

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(timeout=10)


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            out += [int(p) for p in task.read_text().split()]
        except OSError:
            pass
    return out


def kernel_pids(server_pid: int) -> list[int]:
    """The server's kernels: its child processes running ipykernel."""
    pids = []
    for pid in _children(server_pid):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"ipykernel" in cmd:
            pids.append(pid)
    return pids


def _tree(pid: int) -> list[int]:
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        if p not in out:
            out.append(p)
            stack += _children(p)
    return out


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its descendants (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class Memory:
    """Resident memory of the server and its kernels at one moment (Linux /proc)."""

    total_mb: float  # the server and all its descendants
    server_mb: float  # the server process alone
    kernels: int

    @property
    def per_kernel_mb(self) -> float:
        """What one kernel (one open page, or one waiting in the pool) costs, on average."""
        return (self.total_mb - self.server_mb) / max(self.kernels, 1)


def memory(pid: int) -> Memory:
    """The server ``pid``'s memory now: one walk of /proc, which blocks the caller's event loop
    (see :func:`_run_and_measure` for when it is called)."""
    tree = _tree(pid)
    return Memory(
        total_mb=sum(_rss_kb(p) for p in tree) / 1024,
        server_mb=_rss_kb(pid) / 1024,
        kernels=len(kernel_pids(pid)),
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def summarise(n: int, sessions: list[Session], mem_open: Memory) -> dict:
    ok = [s for s in sessions if s.outcome == "ok"]
    usable = [s.usable_s for s in ok if s.usable_s is not None]
    answer = [s.answer_ms for s in ok if s.answer_ms is not None]
    return {
        "n": n,
        "ok": len(ok),
        "blank": sum(s.outcome == "blank" for s in sessions),
        "waited": sum(bool(s.waits) for s in sessions),
        "waited_ready": sum("getting-ready" in s.waits for s in sessions),
        "waited_busy": sum("busy" in s.waits for s in sessions),
        "still_waiting": sum(s.outcome == "waiting" for s in sessions),
        "errors": sum(s.outcome == "error" for s in sessions),
        "beacon_refused": sum(
            s.beacon_status is not None and s.beacon_status >= 400 for s in sessions
        ),
        "usable_p50": percentile(usable, 0.5),
        "usable_p95": percentile(usable, 0.95),
        "usable_max": max(usable, default=float("nan")),
        "answer_p50": percentile(answer, 0.5),
        "answer_p95": percentile(answer, 0.95),
        "answer_max": max(answer, default=float("nan")),
        "mem_open": mem_open.total_mb,
        "mem_per_kernel": mem_open.per_kernel_mb,
        "details": sorted({s.detail for s in sessions if s.outcome == "error"}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 10, 25, 50])
    parser.add_argument("--rounds", type=int, default=1, help="runs per N (fresh pool each)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per session")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="seconds a visitor reads before answering (spread 0.5x-1.5x); 0: at once",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=JSON",
        help="try a setting on a temporary copy of voila.json, e.g. "
        "VoilaConfiguration.default_pool_size=25 (repeatable)",
    )
    args = parser.parse_args()

    load = os.getloadavg()
    print(
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)"
    )
    config = json.loads((ROOT / "voila.json").read_text())
    for setting in args.set:
        key, _, value = setting.partition("=")
        section, _, name = key.partition(".")
        config.setdefault(section, {})[name] = json.loads(value)
    pool = int(config["VoilaConfiguration"].get("default_pool_size", 1))
    limit = int(config.get("ClinicIdentityProvider", {}).get("max_sessions", 0))
    print(f"pool size: {pool}; settings changed from voila.json: {args.set or 'none'}")
    print(f"think time before the answer: {args.think} s (spread 0.5x-1.5x; 0 = at once)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="aid-load-") as tmp:
        (Path(tmp) / "voila.json").write_text(json.dumps(config))
        server = Server(Path(tmp), config_dir=Path(tmp))
        try:
            server.wait_ready()
            server.wait_pool_refilled(timeout=300)
            for n in args.sessions:
                for _ in range(args.rounds):
                    server.wait_pool_refilled()
                    # Beyond the open-page limit, visitors get in only as others leave.
                    together = limit == 0 or n <= limit
                    sessions = asyncio.run(
                        _run_and_measure(server, n, args.timeout, args.think, together)
                    )
                    mem_open = _MEM_OPEN.pop()
                    rows.append(summarise(n, sessions, mem_open))
                    rows[-1]["together"] = together
                    time.sleep(2)
                    rows[-1]["kernels_after"] = len(kernel_pids(server.process.pid))
            log = server.log_text()
        finally:
            server.stop()
    _print_table(rows)
    for word in ("ZMQError", "Address already in use", "Timeout waiting for IOPub"):
        print(f"server log lines with {word!r}: {log.count(word)}")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


_MEM_OPEN: list[Memory] = []


async def _run_and_measure(
    server: Server, n: int, timeout: float, think: float = 0.0, together: bool = True
) -> list[Session]:
    """Run N sessions and read the server's memory while they are open. ``together``: every
    page stays open until all N have their card, and the memory is read once at that moment,
    when it is highest. Otherwise each page closes after its card (needed when N is over the
    open-page limit, where the last visitors get in only as others leave), and the memory is
    sampled every second for the peak.

    A reading walks /proc for the server and every kernel (about 400 files and 28 ms of CPU with
    25 kernels, on a quiet machine) and blocks this client's event loop while it runs: sampled
    every 0.25 s during a crowd of 25, it
    took more than half of the client's CPU (py-spy) and held back the timestamps of cards that
    had already arrived. So no reading falls inside the timed answers of a crowd that stays
    together."""
    peak = Memory(0.0, 0.0, 0)

    def read() -> None:
        nonlocal peak
        now = memory(server.process.pid)
        if now.total_mb > peak.total_mb:
            peak = now

    async def sample() -> None:
        for _ in range(int(timeout)):
            read()
            await asyncio.sleep(1.0)

    sampler = None if together else asyncio.ensure_future(sample())
    try:
        return await run_sessions(
            server.url, n, timeout, close_together=together, think=think, when_all_answered=read
        )
    finally:
        if sampler is not None:
            sampler.cancel()
        _MEM_OPEN.append(peak)


def _print_table(rows: list[dict]) -> None:
    print()
    print(
        "| N | worked | blank | waited (getting ready / busy) | still waiting | errors "
        "| usable p50 / p95 / max (s) "
        "| answer to card p50 / p95 / max (ms) | server MB (peak) | MB per kernel "
        "| beacons refused | kernels after |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['n']}{'' if r.get('together', True) else '*'} | {r['ok']}/{r['n']} "
            f"| {r['blank']} "
            f"| {r['waited']} ({r['waited_ready']} / {r['waited_busy']}) "
            f"| {r['still_waiting']} | {r['errors']} "
            f"| {r['usable_p50']:.2f} / {r['usable_p95']:.2f} / {r['usable_max']:.2f} "
            f"| {r['answer_p50']:.0f} / {r['answer_p95']:.0f} / {r['answer_max']:.0f} "
            f"| {r['mem_open']:.0f} | {r['mem_per_kernel']:.0f} | {r['beacon_refused']} "
            f"| {r.get('kernels_after', '?')} |"
        )
    if not all(r.get("together", True) for r in rows):
        print("* N above max_sessions: each page closed as soon as it had its card, so that the")
        print("  visitors beyond the limit could get in; otherwise all N pages stayed open until")
        print("  every one had its card.")
    for r in rows:
        for detail in r["details"]:
            print(f"N={r['n']} error: {detail}")


if __name__ == "__main__":
    main()
