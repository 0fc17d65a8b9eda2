"""Issue 11 proved in a real Chromium: phone, tablet and desktop; axe-core; the accessibility
tree; keyboard only. One page per screen size walks through every state (initial, self-care,
soon, emergency, finished, started again) so that the whole file costs a few page loads.

Screenshots of every state: ``tests/browser/artifacts/<screen>-<state>.png``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aid import load_knowledge
from aid.ui import steps

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"  # as in conftest.py
KB = load_knowledge()
STEPS = steps(KB)
STEP_OF = {qid: i for i, step in enumerate(STEPS) for qid in step["questions"]}
BLOCKING = ("critical", "serious", "moderate")


def question(page, qid: str):
    return page.locator(f"[data-question={qid}]")


def go_to_step(page, index: int) -> None:
    for _ in range(len(STEPS)):
        text = page.locator(".aid-progress-text").inner_text()
        current = int(re.match(r"Step (\d+)", text).group(1)) - 1
        if current == index:
            return
        page.locator(".aid-next" if current < index else ".aid-back").click()
    raise AssertionError(f"could not reach step {index + 1}")


def click_choice(page, qid: str, label: str) -> None:
    go_to_step(page, STEP_OF[qid])
    question(page, qid).locator("label.aid-choice").get_by_text(label, exact=True).click()


def type_number(page, qid: str, value: str) -> None:
    go_to_step(page, STEP_OF[qid])
    field = question(page, qid).locator("input.aid-number")
    field.fill(value)
    field.press("Tab")


def wait_bar(page, level: str) -> None:
    page.locator(f".aid-bar-{level}").wait_for(state="visible", timeout=5_000)


def shot(page, screen: str, state: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{screen}-{state}.png"))


def no_sideways_scroll(page) -> None:
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"
    )
    assert max(widths[:2]) <= widths[2], f"horizontal overflow: {widths}"


def axe_violations(page) -> list[str]:
    """axe-core's critical, serious and moderate violations on the whole page."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
        for v in found
        if v["impact"] in BLOCKING
    ]


def overlap(a: dict, b: dict) -> bool:
    return not (
        a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
        or a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
    )


def focused_question_clear_of_bar(page) -> None:
    """The focused control and its question's prompt are on screen and not under the bar."""
    page.wait_for_timeout(150)  # the bar's own scroll adjustment runs on the next frame
    boxes = page.evaluate(
        """() => {
          const f = document.activeElement;
          const legend = f.closest('[data-question]').querySelector('.aid-prompt');
          const r = (e) => { const b = e.getBoundingClientRect();
                             return {x: b.x, y: b.y, width: b.width, height: b.height}; };
          return {control: r(f.closest('label') || f), legend: r(legend),
                  bar: r(document.querySelector('.aid-bar')), height: innerHeight};
        }"""
    )
    for part in ("control", "legend"):
        assert not overlap(boxes[part], boxes["bar"]), (part, boxes)
        assert 0 <= boxes[part]["y"] < boxes["height"], (part, boxes)


@pytest.mark.parametrize("viewport", ["phone", "tablet", "desktop"])
def test_every_state_fits_the_screen_and_passes_axe(page, viewport):
    problems: dict[str, list[str]] = {}

    # initial
    no_sideways_scroll(page)
    problems["initial"] = axe_violations(page)
    shot(page, viewport, "initial")

    # the essentials answered: the result bar shows the advice right away
    click_choice(page, "location", "Lower back")
    type_number(page, "duration_days", "2")
    click_choice(page, "severity", "4")
    type_number(page, "age", "34")  # the last required answer
    wait_bar(page, "selfcare")
    box = page.locator(".aid-bar").bounding_box()
    height = page.viewport_size["height"]
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= height + 1
    assert box["height"] <= height * 0.2, "the bar must stay compact"
    assert "Self-care" in page.locator(".aid-bar").inner_text()
    no_sideways_scroll(page)
    problems["self-care"] = axe_violations(page)
    shot(page, viewport, "selfcare")

    # soon: the same pain for two weeks (the unit list converts weeks to days)
    go_to_step(page, 0)
    question(page, "duration_days").locator("select").select_option("weeks")
    wait_bar(page, "soon")
    no_sideways_scroll(page)
    problems["soon"] = axe_violations(page)
    shot(page, viewport, "soon")

    # emergency, answered with the keyboard on a question at the bottom of the screen
    go_to_step(page, STEP_OF["saddle_numbness"])
    page.evaluate(
        "() => document.querySelector('[data-question=saddle_numbness]')"
        ".scrollIntoView({block: 'end'})"
    )
    yes = question(page, "saddle_numbness").get_by_role("radio").first
    yes.focus()
    page.keyboard.press("Space")
    wait_bar(page, "emergency")
    bar_text = page.locator(".aid-bar").inner_text()
    assert "You can stop here" in bar_text and "Do not drive yourself" in bar_text
    focused_question_clear_of_bar(page)
    page.keyboard.press("Tab")  # the next question: still not under the bar
    focused_question_clear_of_bar(page)
    assert page.locator(".aid-bar").bounding_box()["height"] <= height * 0.25
    no_sideways_scroll(page)
    problems["emergency"] = axe_violations(page)
    shot(page, viewport, "emergency")

    # finished
    page.locator(".aid-finish").click()
    page.locator(".aid-download-link").wait_for(state="visible")
    assert "Saved as record" in page.locator(".aid-finish-message").inner_text()
    no_sideways_scroll(page)
    problems["finished"] = axe_violations(page)
    shot(page, viewport, "finished")

    # start again, confirmed: no answer left anywhere in the page
    page.locator("textarea.aid-notes").fill("private note")
    page.locator(".aid-again").click()
    page.locator(".aid-confirm-yes").click()
    wait_bar(page, "incomplete")
    page.wait_for_timeout(300)
    left = page.evaluate(
        """() => {
          const app = document.querySelector('.aid-app');
          return {
            checked: app.querySelectorAll('input:checked').length,
            typed: [...app.querySelectorAll('input[type=text], textarea')].filter(e => e.value).length,
            units: [...app.querySelectorAll('select')].filter(e => e.value !== 'days').length,
            download: app.querySelectorAll('.aid-download-link').length,
            note: app.innerText.includes('private note'),
            step: app.querySelector('.aid-progress-text').innerText,
          };
        }"""
    )
    assert left == {
        "checked": 0,
        "typed": 0,
        "units": 0,
        "download": 0,
        "note": False,
        "step": f"Step 1 of {len(STEPS)}: The essentials",
    }
    assert "Not enough information" in page.locator(".aid-card-area").inner_text()
    shot(page, viewport, "started-again")

    blocking = {state: found for state, found in problems.items() if found}
    assert not blocking, "\n".join(f"{s}: {f}" for s, f in blocking.items())


CONTROL_ROLES = {"radio", "checkbox", "textbox", "combobox", "spinbutton", "listbox"}


def test_every_control_has_an_accessible_name_with_its_question(page):
    """Chromium's own accessibility tree (CDP), not axe: a placeholder is not a name here."""
    session = page.context.new_cdp_session(page)
    session.send("Accessibility.enable")
    prompts = [q.prompt for q in KB.questions.values()]
    checked = 0
    for index in range(len(STEPS)):
        go_to_step(page, index)
        page.wait_for_timeout(100)
        nodes = session.send("Accessibility.getFullAXTree")["nodes"]
        controls = [
            n
            for n in nodes
            if n.get("role", {}).get("value") in CONTROL_ROLES and not n.get("ignored")
        ]
        in_questions = page.evaluate(
            "() => document.querySelectorAll('.aid-step:not([hidden]) "
            ".aid-q:not([hidden]) :is(input, select)').length"
        )
        named = 0
        for node in controls:
            name = (node.get("name") or {}).get("value", "").strip()
            assert name, f"a {node['role']['value']} without a name on step {index + 1}"
            if any(prompt in name for prompt in prompts):
                named += 1
        assert named == in_questions, (index, named, in_questions)
        checked += named
        # the selected state is exposed: tick one choice and read it back from the tree
    click_choice(page, "fever", "No")
    page.wait_for_timeout(100)
    nodes = session.send("Accessibility.getFullAXTree")["nodes"]
    fever = KB.questions["fever"].prompt
    states = {
        n["name"]["value"].split(" ")[0]: next(
            (p["value"]["value"] for p in n.get("properties", []) if p["name"] == "checked"),
            None,
        )
        for n in nodes
        if n.get("role", {}).get("value") == "radio" and fever in n.get("name", {}).get("value", "")
    }
    assert states == {"Yes": "false", "No": "true", "Not": "false"}, states
    roles = {n.get("role", {}).get("value") for n in nodes}
    assert {"main", "form", "navigation", "region"} <= roles, roles
    assert checked >= len([q for q in KB.questions.values() if q.enable_when.text == ""])


def test_keyboard_only_benign_case_to_the_downloaded_summary(page):
    """From the top of the page: at most 60 Tab presses, choices by arrow keys, Space, typing."""
    tabs = 0

    def tab() -> dict:
        nonlocal tabs
        page.keyboard.press("Tab")
        tabs += 1
        return page.evaluate(
            """() => {
              const e = document.activeElement;
              const q = e.closest('[data-question]');
              const label = e.closest('label');
              return {tag: e.tagName, type: e.type || '', question: q ? q.dataset.question : '',
                      label: label ? label.innerText.trim() : '', cls: e.className || '',
                      text: (e.innerText || '').trim()};
            }"""
        )

    page.locator("body").focus()
    seen: set[str] = set()
    downloaded = None
    for _ in range(60):
        f = tab()
        qid = f["question"]
        if "aid-download-link" in f["cls"]:
            with page.expect_download() as info:
                page.keyboard.press("Enter")
            downloaded = info.value
            break
        if "aid-finish" in f["cls"] and f["tag"] == "BUTTON":
            page.keyboard.press("Enter")
            page.locator(".aid-download-link").wait_for(state="visible")
            continue
        if "aid-next" in f["cls"]:
            if f["text"].endswith("Warning signs"):
                page.keyboard.press("Enter")  # on to the warning signs; later steps are skipped
            continue
        if "aid-notes" in f["cls"]:
            page.keyboard.type("Typed with the keyboard only.")
            continue
        if not qid or qid in seen:
            continue
        seen.add(qid)
        kind = KB.questions[qid].kind
        if qid == "location":
            page.keyboard.press("Space")  # Lower back, the first box
        elif qid == "duration_days":
            page.keyboard.type("2")
        elif qid == "age":
            page.keyboard.type("34")
        elif qid == "severity":
            for _ in range(4):
                page.keyboard.press("ArrowRight")  # 0 -> 4, one arrow each
        elif kind == "multi" and f["label"] == "None of these":
            page.keyboard.press("Space")
        elif f["type"] == "radio":
            # move with the arrow keys to "No"
            for _ in range(4):
                label = page.evaluate("() => document.activeElement.closest('label').innerText")
                if label.strip() == "No":
                    page.keyboard.press("Space")
                    break
                page.keyboard.press("ArrowRight")
    assert downloaded is not None, f"no download after {tabs} Tab presses"
    assert tabs <= 60
    summary = Path(downloaded.path()).read_text(encoding="utf-8")
    assert "Typed with the keyboard only." in summary
    assert ">34 years<" in summary and ">4 out of 10<" in summary and ">2 days<" in summary
    assert ">No<" in summary  # the warning signs answered by arrow keys
    assert "Self-care" in summary
    downloaded.save_as(ARTIFACTS / "keyboard-summary.html")
    print(f"keyboard only: {tabs} Tab presses to the downloaded summary")
