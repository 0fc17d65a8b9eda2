"""Dashboard speed in a real browser: time to usable and answer to card, against two baselines.

Run: ``.venv/bin/python benchmarks/dashboard.py [--loads 7]`` (needs /usr/bin/chromium: ``make chromium``).

Three pages are measured in the same run on the same machine, one server at a time so they do not
compete for the two cores:

* ``dashboard``: ``notebooks/dashboard.ipynb`` served by Voila exactly like ``make dashboard``
  (the repo's voila.json: preheated kernel, pool of 1);
* ``voila-trivial``: a one-checkbox notebook (plus the text it updates) served by Voila with the
  same config: Voila's own floor for a preheated widget page;
* ``static``: a plain HTML page of the same form (same questions, same controls, generated from
  questions.csv) with a few lines of JavaScript that fill the card, served by ``http.server``.

Figures, each over ``--loads`` page loads (median / min / max, milliseconds):

* time to usable: navigation start to the first question's first checkbox visible and enabled
  (``performance.now()`` in the page, so it excludes Playwright's own round trips);
* answer to card: the click on the last required answer to the card showing the result (a
  MutationObserver in the page; the click and the clock are in the same JavaScript task).

Cold loads use a new browser context each (empty cache); warm loads reuse one context after one
discarded warm-up load. Between Voila loads the script waits until the server has refilled its
preheated kernel pool, so every load meets the steady state a clinic's second visitor meets.

Per new visitor, in a real kernel started by jupyter_client (the way Voila's pool starts one),
``--kernels`` times: the number of widget models the served notebook creates (each one is created
in the kernel, sent and rendered by the page) and the kernel's CPU time (user + system, from
/proc) to start and run the notebook.

Targets (issue 3): warm time to usable within 1.2x Voila's own preheated minimum for the trivial
notebook; answer to card within 30 ms of the static page. Issue 11: at most 20 widget models.
"""

from __future__ import annotations

import argparse
import functools
import html
import http.server
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from aid import load_knowledge

ROOT = Path(__file__).resolve().parents[1]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
#: The first question's first checkbox, per page (the dashboard draws its own HTML).
FIRST_OF = {
    "static": ".aid-input-location input[type=checkbox]",
    "voila-trivial": ".aid-input-location input[type=checkbox]",
    "dashboard": "[data-question=location] input[type=checkbox]",
}
#: Seconds to wait after Voila reports its pool filled (the notebook runs on for about a second).
SETTLE = 3.0
#: Milliseconds of quiet before the timed answer (earlier answers' messages are all handled).
IDLE_MS = 300

TRIVIAL_NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "trivial",
            "metadata": {},
            "outputs": [],
            "source": [
                "import ipywidgets as w\n",
                "box = w.Checkbox(description='Lower back', indent=False)\n",
                "card = w.HTML('')\n",
                "box.add_class('aid-input-location'); card.add_class('aid-card-area')\n",
                "box.observe(lambda c: setattr(card, 'value', \"<div class='banner-selfcare'>Self-care</div>\""
                " if c['new'] else ''), names='value')\n",
                "w.VBox([box, card])",
            ],
        }
    ],
    "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}

#: Measured in the page: click the last answer, resolve when the card shows the result.
ANSWER_TO_CARD = """
async ([selector, done]) => {
    const target = document.querySelector(selector);
    return await new Promise((resolve) => {
        let t0 = 0;
        const observer = new MutationObserver(() => {
            if (document.querySelector(done)) { observer.disconnect(); resolve(performance.now() - t0); }
        });
        observer.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
        t0 = performance.now();
        target.click();
    });
}
"""

#: Navigation start to the first checkbox visible and enabled, measured by the page's own clock.
USABLE = """
(selector) => new Promise((resolve) => {
    const check = () => {
        const e = document.querySelector(selector);
        if (e && !e.disabled && e.offsetParent !== null) { resolve(performance.now()); return true; }
        return false;
    };
    if (check()) return;
    const observer = new MutationObserver(() => { if (check()) observer.disconnect(); });
    observer.observe(document, {subtree: true, childList: true, attributes: true});
})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: The answers the benchmark gives (all required ones; severity is the last, timed one).
ANSWERS = {"location": ["lower_back"], "duration_days": 2, "age": 40, "severity": 4}


def static_page() -> str:
    """The dashboard's form as plain HTML (same questions and controls) with a JS card.

    The card it shows is the dashboard's own card HTML for the same answers, so both pages do the
    same DOM work and the difference in "answer to card" is what the server round trip costs.
    """
    from aid import triage
    from aid.report import card_html

    kb = load_knowledge()
    card = json.dumps(card_html(triage(ANSWERS, kb), kb))
    parts = []
    for section in kb.sections:
        parts.append(f"<h3>{html.escape(section)}</h3>")
        for q in kb.questions.values():
            if q.section != section:
                continue
            qid = q.id.replace("_", "-")
            star = " *" if q.required else ""
            inner = ""
            if q.kind == "multi":
                inner = "".join(
                    f"<label><input type=checkbox value='{o}'>{html.escape(lab)}</label><br>"
                    for o, lab in zip(q.options, q.option_labels, strict=True)
                )
            elif q.kind == "choice":
                inner = "".join(
                    f"<label><input type=radio name='{qid}' value='{o}'>{html.escape(lab)}</label><br>"
                    for o, lab in zip(q.options, q.option_labels, strict=True)
                )
            elif q.kind == "yesno":
                inner = "".join(
                    f"<button type=button>{b}</button>" for b in ("Yes", "No", "Not sure")
                )
            elif q.kind == "scale":
                inner = "".join(
                    f"<button type=button>{i}</button>"
                    for i in range(int(q.minimum or 0), int(q.maximum or 10) + 1)
                )
            else:
                inner = "<input type=text>"
            parts.append(
                f"<div class='aid-q aid-q-{qid}'><p><b>{html.escape(q.prompt)}</b>{star}</p>"
                f"<div class='aid-input aid-input-{qid}'>{inner}</div></div>"
            )
    return f"""<!DOCTYPE html><html><head><meta charset=utf-8><title>static form</title></head>
<body><div style='display:flex'><form style='flex:1'>{"".join(parts)}</form>
<div class='aid-card-area' style='flex:1'></div></div>
<script>
const answered = {{}};
function update() {{
  const done = ['location', 'duration-days', 'severity', 'age'].every(k => answered[k]);
  document.querySelector('.aid-card-area').innerHTML = done
    ? {card} : "<div>Answer the questions marked *</div>";
}}
document.addEventListener('click', (e) => {{
  const q = e.target.closest('.aid-q');
  if (q && e.target.tagName === 'BUTTON') {{ answered[q.classList[1].slice(6)] = true; update(); }}
}});
document.addEventListener('change', (e) => {{
  const q = e.target.closest('.aid-q');
  if (q) {{ answered[q.classList[1].slice(6)] = true; update(); }}
}});
update();
</script></body></html>"""


class Server:
    """A page server: start, url, loads_done (to wait for the kernel pool), stop."""

    name = ""
    url = ""

    def ready_for_next_load(self, loads_done: int) -> None:
        return None

    def stop(self) -> None:
        return None


class StaticServer(Server):
    def __init__(self, directory: Path):
        self.name = "static"
        (directory / "index.html").write_text(static_page(), encoding="utf-8")
        handler = functools.partial(QuietHandler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/index.html"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class VoilaServer(Server):
    """Voila with the repo's voila.json (preheated pool of 1), like ``make dashboard``."""

    def __init__(self, name: str, notebook: Path, work: Path):
        self.name = name
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        self.log_path = work / f"{name}.log"
        self._log = self.log_path.open("w")
        env = dict(os.environ, AID_DB="off")
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("voila")),
                f"--Voila.config_file_paths={ROOT}",
                f"--port={port}",
                "--Voila.port_retries=0",
                str(notebook),
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.ready_for_next_load(0)
        with urllib.request.urlopen(self.url, timeout=60):
            pass
        self.ready_for_next_load(1)  # the fetch above used the first preheated kernel

    def pool_fills(self) -> int:
        return len(re.findall(r"Kernel pool of \S+ is filled", self.log_path.read_text()))

    def ready_for_next_load(self, loads_done: int) -> None:
        deadline = time.monotonic() + 120
        while self.pool_fills() < loads_done + 1:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: Voila not ready\n{self.log_path.read_text()}")
            time.sleep(0.05)
        # "filled" is logged when the kernel has started, while it still executes the notebook;
        # wait until that is surely done, so no load competes with the previous one's refill.
        time.sleep(SETTLE)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def prepare_answers(page, name: str) -> tuple[str, str]:
    """Answer all but the last required question; return (last answer selector, card-done selector)."""
    first = FIRST_OF[name]
    if name == "voila-trivial":
        return (first, ".aid-card-area .banner-selfcare")
    page.locator(first).first.click()
    for qid, value in (
        ("duration_days", str(ANSWERS["duration_days"])),
        ("age", str(ANSWERS["age"])),
    ):
        field = page.locator(
            f"[data-question={qid}] input.aid-number"
            if name == "dashboard"
            else f".aid-input-{qid.replace('_', '-')} input"
        )
        field.fill(value)
        field.press("Tab")
    if name == "dashboard":  # wait until the kernel has taken the typed answers
        page.locator(".aid-card-area").get_by_text("How old are you?").wait_for(state="detached")
        return (
            f"[data-question=severity] input[value='{ANSWERS['severity']}']",
            ".aid-card-area .banner-selfcare",
        )
    nth = ANSWERS["severity"] + 1  # the scale's buttons are 0..10
    return (f".aid-input-severity button:nth-child({nth})", ".aid-card-area .banner-selfcare")


#: Run in the kernel after the notebook: how many widget models it holds.
COUNT_MODELS = (
    "from ipywidgets.widgets.widget import _instances as __aid_models\n"
    "print('AID-MODELS', len(__aid_models))"
)


def kernel_cost(notebook: Path, runs: int) -> tuple[list[int], list[float]]:
    """(widget models, kernel CPU seconds) per new visitor: a fresh kernel runs the notebook."""
    from jupyter_client.manager import KernelManager

    code = "\n".join(
        "".join(cell["source"])
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        if cell["cell_type"] == "code"
    )
    models: list[int] = []
    cpu: list[float] = []
    tick = os.sysconf("SC_CLK_TCK")
    for _ in range(runs):
        manager = KernelManager(kernel_name="python3")
        manager.start_kernel(cwd=str(ROOT), env=dict(os.environ, AID_DB="off"))
        client = manager.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            client.execute_interactive(code, timeout=120, output_hook=lambda msg: None)
            out: list[str] = []

            def hook(msg: dict, out: list[str] = out) -> None:
                if msg["msg_type"] == "stream":
                    out.append(msg["content"]["text"])

            client.execute_interactive(COUNT_MODELS, timeout=60, output_hook=hook)
            pid = manager.provisioner.process.pid  # type: ignore[union-attr]
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu.append((int(fields[11]) + int(fields[12])) / tick)  # utime + stime
            found = re.search(r"AID-MODELS (\d+)", "".join(out))
            models.append(int(found.group(1)) if found else -1)
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    return models, cpu


def measure_load(context, server: Server) -> tuple[float, float]:
    page = context.new_page()
    try:
        page.goto(server.url, wait_until="commit")
        usable = page.evaluate(USABLE, FIRST_OF[server.name])
        last, done = prepare_answers(page, server.name)
        page.wait_for_timeout(IDLE_MS)  # every page starts the timed answer from idle
        card = page.evaluate(ANSWER_TO_CARD, [last, done])
        return usable, card
    finally:
        page.close(run_before_unload=True)


def run(server: Server, browser, loads: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {
        "cold usable": [],
        "cold card": [],
        "warm usable": [],
        "warm card": [],
    }
    done = 1 if isinstance(server, VoilaServer) else 0
    for _ in range(loads):
        context = browser.new_context()
        usable, card = measure_load(context, server)
        context.close()
        done += 1
        server.ready_for_next_load(done)
        out["cold usable"].append(usable)
        out["cold card"].append(card)
    context = browser.new_context()
    measure_load(context, server)  # warm-up: fills the HTTP cache, discarded
    done += 1
    server.ready_for_next_load(done)
    for _ in range(loads):
        usable, card = measure_load(context, server)
        done += 1
        server.ready_for_next_load(done)
        out["warm usable"].append(usable)
        out["warm card"].append(card)
    context.close()
    return out


def stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loads", type=int, default=7, help="page loads per measure (default 7)")
    parser.add_argument(
        "--kernels", type=int, default=3, help="fresh kernels for models and CPU (default 3)"
    )
    args = parser.parse_args(argv)
    if args.loads < 1:
        parser.error("--loads must be at least 1")
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: run `make chromium`", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    print(
        f"measuring the kernel cost of a new visitor ({args.kernels} kernels)...", file=sys.stderr
    )
    models, cpu = kernel_cost(ROOT / "notebooks" / "dashboard.ipynb", args.kernels)
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        work = Path(tmp)
        trivial = work / "trivial.ipynb"
        trivial.write_text(json.dumps(TRIVIAL_NOTEBOOK), encoding="utf-8")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        factories: list[tuple[str, Callable[[], Server]]] = [
            ("static", lambda: StaticServer(work)),
            ("voila-trivial", lambda: VoilaServer("voila-trivial", trivial, work)),
            (
                "dashboard",
                lambda: VoilaServer("dashboard", ROOT / "notebooks" / "dashboard.ipynb", work),
            ),
        ]
        for name, factory in factories:
            print(
                f"measuring {name} ({args.loads} cold + {args.loads} warm loads)...",
                file=sys.stderr,
            )
            server = factory()
            try:
                results[name] = run(server, browser, args.loads)
            finally:
                server.stop()
        browser.close()

    print(
        f"\nDashboard benchmark: {args.loads} loads each, headless Chromium, {os.cpu_count()} cores"
    )
    print("milliseconds: median / min / max;  ratio = dashboard median / baseline median\n")
    header = f"{'measure':<13} {'static':>22} {'voila-trivial':>22} {'dashboard':>22} {'x static':>9} {'x trivial':>9}"
    print(header)
    print("-" * len(header))
    for measure in ("cold usable", "warm usable", "cold card", "warm card"):
        row = [f"{measure:<13}"]
        for name in ("static", "voila-trivial", "dashboard"):
            med, lo, hi = stats(results[name][measure])
            row.append(f"{med:7.0f} /{lo:6.0f} /{hi:6.0f}")
        dash = stats(results["dashboard"][measure])[0]
        row.append(f"{dash / stats(results['static'][measure])[0]:9.1f}")
        row.append(f"{dash / stats(results['voila-trivial'][measure])[0]:9.2f}")
        print(" ".join(row))

    print(
        f"\nPer new visitor (fresh kernel, {args.kernels} runs): widget models "
        f"{statistics.median(models):.0f} (target at most 20: "
        f"{'met' if max(models) <= 20 else 'NOT met'}); kernel CPU to start and run the "
        f"notebook {statistics.median(cpu):.2f} s median (min {min(cpu):.2f}, max {max(cpu):.2f})"
    )
    warm = stats(results["dashboard"]["warm usable"])[0]
    floor = stats(results["voila-trivial"]["warm usable"])[1]
    card_gap = (
        stats(results["dashboard"]["warm card"])[0] - stats(results["static"]["warm card"])[0]
    )
    print("\nTargets")
    print(
        f"  warm time to usable {warm:.0f} ms vs 1.2 x trivial Voila minimum {1.2 * floor:.0f} ms: "
        f"{'met' if warm <= 1.2 * floor else 'NOT met'} ({warm / floor:.2f}x)"
    )
    print(
        f"  warm answer to card {card_gap:+.0f} ms vs static page (target within 30 ms): "
        f"{'met' if card_gap <= 30 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
