"""The served dashboard in a real Chromium against a real Voila server (see conftest.py).

Each test acts like a person (clicks, keys, typing), asserts text or values, and leaves a
screenshot of its final state in ``tests/browser/artifacts/``. The layout, accessibility and
keyboard proofs of issue 11 are in ``test_layout_a11y.py``.
"""

from __future__ import annotations

import html
import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from aid import Urgency, load_knowledge
from aid.ui import steps

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "dashboard.ipynb"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

pytestmark = pytest.mark.browser

KB = load_knowledge()
STEPS = steps(KB)
STEP_OF = {qid: i for i, step in enumerate(STEPS) for qid in step["questions"]}
#: How long "at once" may take: one round trip to the kernel plus rendering, with margin for CI.
AT_ONCE_MS = 3_000
FIRST_QUESTION = "[data-question=location] input[type=checkbox]"  # as in conftest.py
XSS = '<img src=x onerror="window.__aidXss=1"><script>window.__aidXss=2</script>'


def question(page, qid: str):
    return page.locator(f"[data-question={qid}]")


def go_to_step(page, index: int) -> None:
    """Next / Back until the step is shown (questions live in steps)."""
    for _ in range(len(STEPS)):
        text = page.locator(".aid-progress-text").inner_text()
        current = int(re.match(r"Step (\d+)", text).group(1)) - 1
        if current == index:
            return
        page.locator(".aid-next" if current < index else ".aid-back").click()
    raise AssertionError(f"could not reach step {index + 1}")


def show(page, qid: str):
    go_to_step(page, STEP_OF[qid])
    return question(page, qid)


def press_button(page, qid: str, label: str) -> None:
    """A choice of a yes/no, choice or 0-10 question, or a checkbox, by its visible label."""
    show(page, qid).locator("label.aid-choice").get_by_text(label, exact=True).click()


choose = press_button


def type_number(page, qid: str, value: str) -> None:
    field = show(page, qid).locator("input.aid-number")
    field.fill(value)
    field.press("Tab")  # the number is sent when the field loses focus


def label_of(qid: str, option: str) -> str:
    q = KB.questions[qid]
    return dict(zip(q.options, q.option_labels, strict=True))[option]


def answer_benign(page) -> None:
    """A strained lower back, no warning signs: the essentials, then every warning sign "No"."""
    choose(page, "location", label_of("location", "lower_back"))
    type_number(page, "duration_days", "1")
    press_button(page, "severity", "4")
    type_number(page, "age", "34")
    for q in KB.questions.values():
        if q.section == "Warning signs" and q.kind == "yesno" and not q.enable_when.atoms:
            press_button(page, q.id, "No")


def card_text(page) -> str:
    return page.locator(".aid-card-area").inner_text()


def bar(page):
    return page.locator(".aid-bar")


# --------------------------------------------------------------------------- the person's view


def test_benign_case_reaches_self_care_advice(page):
    answer_benign(page)
    page.locator(".aid-card-area .banner-selfcare").wait_for(state="visible")
    text = card_text(page)
    assert Urgency.SELFCARE.action in text
    assert "What you can do now" in text and "When to get help" in text
    assert Urgency.SELFCARE.label in bar(page).inner_text()
    assert page.dialogs == []


@pytest.mark.parametrize("qid", ["bladder_trouble", "saddle_numbness"])
def test_a_red_flag_shows_the_emergency_bar_at_once(page, qid):
    show(page, qid).scroll_into_view_if_needed()
    start = time.perf_counter()
    press_button(page, qid, "Yes")
    emergency = page.locator(".aid-bar-emergency")
    emergency.wait_for(state="visible", timeout=AT_ONCE_MS)
    elapsed = time.perf_counter() - start
    text = emergency.inner_text()
    assert Urgency.EMERGENCY.action in text and "You can stop here" in text
    assert "Do not drive yourself" in text
    box = emergency.bounding_box()
    assert box is not None and 0 <= box["y"] < 900 and box["height"] < 200
    assert elapsed < AT_ONCE_MS / 1000


def test_questions_appear_and_disappear_as_answers_change(page):
    weeks = question(page, "pregnancy_weeks")
    pregnant = show(page, "pregnant")
    assert pregnant.is_visible() and weeks.is_hidden()
    choose(page, "pregnant", label_of("pregnant", "yes"))
    weeks.wait_for(state="visible")
    question(page, "rhythmic").wait_for(state="visible")
    choose(page, "sex", label_of("sex", "male"))
    pregnant.wait_for(state="hidden")
    weeks.wait_for(state="hidden")
    question(page, "rhythmic").wait_for(state="hidden")

    choose(page, "location", label_of("location", "ribs"))
    ribs = show(page, "rib_numbness")
    ribs.wait_for(state="visible")
    choose(page, "location", label_of("location", "ribs"))  # untick
    show(page, "rib_numbness").wait_for(state="hidden")


def test_free_text_is_shown_as_text_never_run(page):
    type_number(page, "age", XSS)
    error = question(page, "age").locator(".aid-error")
    error.wait_for(state="visible")
    assert "not a number" in error.inner_text()
    answer_benign(page)
    notes = page.locator("textarea.aid-notes")
    notes.fill(XSS)
    notes.press("Tab")
    echo = page.locator(".aid-notes-echo")
    echo.wait_for(state="visible")
    assert echo.inner_text() == XSS
    page.locator(".aid-finish").click()
    with page.expect_download() as info:
        page.locator(".aid-download-link").click()
    summary = Path(info.value.path()).read_text(encoding="utf-8")
    assert XSS not in summary and "<img src=x" not in summary
    assert html.unescape(summary).count(XSS) >= 1  # shown as text
    assert page.evaluate("() => window.__aidXss") is None
    assert page.locator(".aid-app img[src=x]").count() == 0
    assert page.dialogs == []


def test_download_holds_the_summary_and_the_encounter_is_logged(page, voila):
    from aid.store import EncounterLog

    before = EncounterLog(voila.db_path).count() if voila.db_path.exists() else 0
    answer_benign(page)
    page.locator(".aid-card-area .banner-selfcare").wait_for(state="visible")
    page.locator("input.aid-subject").fill("P-0042")
    page.locator(".aid-finish").click()
    link = page.locator(".aid-download-link")
    link.wait_for(state="visible")
    assert "HTML" not in link.inner_text()
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert re.fullmatch(r"back-cramp-aid-summary-\d{8}-\d{4}\.html", download.suggested_filename)
    download.save_as(ARTIFACTS / "summary.html")
    summary = (ARTIFACTS / "summary.html").read_text(encoding="utf-8")
    assert summary.startswith("<!DOCTYPE html>") and '<meta name="viewport"' in summary
    version = re.search(r"Knowledge base version ([0-9a-f]{12})", summary)
    assert version, "the summary must name the knowledge-base version"
    assert Urgency.SELFCARE.action in summary
    assert html.escape(KB.questions["severity"].prompt) in summary and ">4 out of 10<" in summary
    log = EncounterLog(voila.db_path, create=False)
    assert log.count() == before + 1
    stored = log.to_frame().iloc[-1]
    assert stored["urgency"] == "selfcare" and stored["subject"] == "P-0042"
    assert stored["kb_version"] == version.group(1)
    record = page.locator(".aid-finish-message").inner_text()
    assert f"Saved as record {int(stored['id'])}." in record, record

    # the summary itself, opened in a browser in Tokyo: local time by its script, a Print button
    utc_text = re.search(r'<time class="aid-when"[^>]*>([^<]+)</time>', summary).group(1)
    tokyo = page.context.browser.new_context(timezone_id="Asia/Tokyo", locale="en-GB")
    summary_page = tokyo.new_page()
    summary_page.goto((ARTIFACTS / "summary.html").as_uri())
    shown = summary_page.locator("time.aid-when").inner_text()
    assert shown != utc_text and "UTC" not in shown, (shown, utc_text)
    utc_hour = int(re.search(r" (\d\d):\d\d UTC", utc_text).group(1))
    assert f"{(utc_hour + 9) % 24:02d}:" in shown, (shown, utc_text)  # Tokyo is UTC+9
    assert summary_page.get_by_role("button", name="Print this summary").is_visible()
    assert summary_page.get_by_text("Name (write by hand)").is_visible()
    summary_page.set_viewport_size({"width": 390, "height": 844})
    assert summary_page.evaluate("document.documentElement.scrollWidth") <= 390
    summary_page.screenshot(path=str(ARTIFACTS / "summary-phone.png"), full_page=True)
    tokyo.close()


@pytest.mark.expects_server_error
def test_a_failing_encounter_log_is_logged_on_the_server_not_shown(page, voila):
    """The log file's path becomes a folder: advice and download stay, staff see a notice."""
    db = voila.db_path
    moved = db.with_name("moved-aside.sqlite3")
    if db.exists():
        db.rename(moved)
    log_start = len(voila.log_text())
    db.mkdir()
    try:
        answer_benign(page)
        page.locator(".aid-card-area .banner-selfcare").wait_for(state="visible")
        page.locator(".aid-finish").click()
        notice = page.locator(".aid-staff-notice")
        notice.get_by_text("not saved", exact=False).wait_for(state="visible")
        assert page.locator(".aid-download-link").is_visible()
        assert Urgency.SELFCARE.action in card_text(page)
        content = page.content()
        assert "Traceback" not in content and "StoreError" not in content and str(db) not in content
        deadline = time.monotonic() + 20
        while str(db) not in voila.log_text()[log_start:] and time.monotonic() < deadline:
            time.sleep(0.1)
        server_log = voila.log_text()[log_start:]
        assert "encounter log failed" in server_log and "Traceback" in server_log, server_log[
            -3000:
        ]
        assert str(db) in server_log, f"the server log must name the path: {server_log[-3000:]}"
    finally:
        db.rmdir()
        if moved.exists():
            moved.rename(db)


# --------------------------------------------------------------------------- the server's safety


def test_the_page_holds_no_notebook_source(page, voila):
    source = "".join(
        next(c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code")[
            "source"
        ]
    )
    assert "Dashboard()" in source
    assert source not in page.content()
    with urllib.request.urlopen(voila.url) as response:
        assert source not in response.read().decode("utf-8")
    for path in (
        "voila/files/dashboard.ipynb",
        "voila/tree",
        "api/contents/dashboard.ipynb",
        "voila/render/dashboard.ipynb",
        "files/dashboard.ipynb",
    ):
        try:
            with urllib.request.urlopen(voila.url + path) as response:
                body, status = response.read().decode("utf-8", "replace"), response.status
        except urllib.error.HTTPError as exc:
            body, status = exc.read().decode("utf-8", "replace"), exc.code
        assert status in (403, 404), (path, status)
        assert source not in body and "aid.ui" not in body, path


CAPTURE_SOCKETS = """
window.__aidSockets = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = function (url, protocols) {
    const socket = protocols === undefined ? new NativeWebSocket(url) : new NativeWebSocket(url, protocols);
    window.__aidSockets.push(url);
    return socket;
};
window.WebSocket.prototype = NativeWebSocket.prototype;
Object.assign(window.WebSocket, NativeWebSocket);
"""

SEND_OVER_KERNEL_SOCKET = """
async ([url, code]) => {
    // Same kernel channels as the page, own session (the page's own would be replaced as stale);
    // no subprotocol: the JSON message format.
    const socket = new WebSocket(url.replace(/session_id=[^&]*/, 'session_id=' + crypto.randomUUID()));
    const replies = [];
    const message = (type, content) => ({
        header: {msg_id: crypto.randomUUID(), username: 'test', session: 'browser-test',
                 msg_type: type, version: '5.3', date: new Date().toISOString()},
        parent_header: {}, metadata: {}, content: content, channel: 'shell', buffers: [],
    });
    await new Promise((resolve, reject) => { socket.onopen = resolve; socket.onerror = reject; });
    socket.onmessage = (event) => replies.push(JSON.parse(event.data).header.msg_type);
    const waitFor = async (type) => {
        for (let i = 0; i < 100 && !replies.includes(type); i++) await new Promise(r => setTimeout(r, 50));
        return replies.includes(type);
    };
    socket.send(JSON.stringify(message('kernel_info_request', {})));
    const channelWorks = await waitFor('kernel_info_reply');
    socket.send(JSON.stringify(message('execute_request', {
        code: code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false,
        stop_on_error: true})));
    await new Promise(r => setTimeout(r, 1500));
    socket.close();
    return {channelWorks, replies};
}
"""


def test_execute_request_over_the_kernel_websocket_does_not_run_code(browser, voila):
    context = browser.new_context()
    try:
        context.add_init_script(CAPTURE_SOCKETS)
        page = context.new_page()
        page.goto(voila.url)
        page.wait_for_selector(FIRST_QUESTION, state="visible")
        urls = page.evaluate("() => window.__aidSockets")
        kernel_urls = [u for u in urls if re.search(r"/api/kernels/[^/]+/channels", u)]
        assert kernel_urls, urls
        marker = voila.marker_dir / "executed.marker"
        code = f"open({str(marker)!r}, 'w').write('ran')"
        outcome = page.evaluate(SEND_OVER_KERNEL_SOCKET, [kernel_urls[0], code])
        assert outcome["channelWorks"], (
            f"no kernel_info_reply: the test would prove nothing {outcome}"
        )
        assert "execute_reply" not in outcome["replies"]
        assert not marker.exists(), "an execute_request from the page ran code in the kernel"
        assert re.search(r"execute_request.*not allowed", voila.log_text())
        page.screenshot(path=str(ARTIFACTS / "test_execute_request_over_the_kernel_websocket.png"))
    finally:
        context.close()


def test_no_traceback_or_server_detail_reaches_the_page(page):
    """Malformed input in every field; the page shows calm text, never a Python error."""
    fields = page.locator(".aid-q:visible:has(input.aid-number)")
    assert fields.count() >= 2
    for field in fields.locator("input.aid-number").all():
        field.fill("1e999")
        field.press("Tab")
    for field in fields.all():
        field.locator(".aid-error").wait_for(state="visible")
        assert "out of range" in field.inner_text()
    content = page.content()
    for leak in ("Traceback", 'File "', "Error:", "aid/ui"):
        assert leak not in content, leak


def test_the_page_loads_nothing_from_other_sites(browser, voila):
    """A visit must not be announced to a CDN (Voila's template links one); CSP blocks it."""
    context = browser.new_context()
    try:
        page = context.new_page()
        loaded: list[str] = []
        page.on("requestfinished", lambda request: loaded.append(request.url))
        response = page.goto(voila.url)
        assert response is not None
        policy = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy and "connect-src 'self'" in policy
        page.wait_for_selector(FIRST_QUESTION, state="visible")
        press_button(page, "fever", "Yes")  # the kernel websocket still works under the policy
        page.locator(".aid-card-area .banner-urgent").wait_for(state="visible")
        # blob: URLs of this origin are anywidget's ES module, made in the page
        own = (voila.url, "data:", "blob:" + voila.url)
        foreign = [u for u in loaded if not u.startswith(own)]
        assert foreign == []
    finally:
        context.close()
