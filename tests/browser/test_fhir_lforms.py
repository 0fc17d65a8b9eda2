"""The aid's FHIR Questionnaire in a real form renderer: LHC-Forms (the ``lforms`` npm package,
installed by ``make lforms``) in Debian's Chromium.

A small static page (``tests/browser/fhir/index.html``) and the package's prebuilt files are
served by Python's http.server on a free port; nothing is fetched from the network. The test
loads ``aid.fhir.questionnaire()``, fills in a benign and an emergency case by clicking the
rendered form, takes the QuestionnaireResponse with LHC-Forms' own
``LForms.Util.getFormFHIRData``, and feeds it to ``python -m aid triage FILE --fhir``: the
urgency must be the one ``aid.triage`` gives on the same answers typed as plain JSON.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aid import Answers, triage
from aid import fhir as aid_fhir

HERE = Path(__file__).resolve().parent / "fhir"
LFORMS = HERE / "node_modules" / "lforms" / "dist" / "lforms"

pytestmark = pytest.mark.browser

BENIGN = {
    "location": ["lower_back"],
    "onset": "gradual",
    "duration_days": 2,
    "severity": 4,
    "injury": "none",
    "fever": "no",
    "age": 34,
    "sex": "female",
    "pregnant": "no",
    "period_now": "yes",  # asked through the SDC enableWhenExpression (sex!=male & pregnant!=yes)
}
EMERGENCY = {
    "location": ["lower_back"],
    "duration_days": 3,
    "severity": 8,
    "leg_weakness": "yes",
    "leg_weakness_side": "both_legs",  # asked only once leg_weakness=yes (enableWhen)
    "saddle_numbness": "yes",
    "age": 52,
    "sex": "male",
}


class _Handler(http.server.SimpleHTTPRequestHandler):
    """``/`` is the test page, ``/lforms/...`` the package's dist folder; nothing else."""

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0]
        if path.startswith("/lforms/") and ".." not in path:
            return str(LFORMS / path[len("/lforms/") :])
        return str(HERE / "index.html")

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
        pass


@pytest.fixture(scope="module")
def renderer() -> Iterator[str]:
    if not (LFORMS / "webcomponent" / "lhc-forms.js").exists():
        pytest.fail(f"{LFORMS} is missing: run `make lforms` (make test does it)")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def form(browser, renderer):
    """One page with the Questionnaire rendered; each test resets it by rendering it again."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(renderer)
    page.wait_for_function(
        "() => Boolean(window.LForms && LForms.Util && LForms.Util.getFormFHIRData)"
    )
    page.errors = errors  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()


def _render(page) -> None:
    page.evaluate("q => window.showForm(q)", aid_fhir.questionnaire())
    page.wait_for_selector('[id="location/1/1"], [id^="location/1/1|"]', state="visible")


def _option(link: str, option: str) -> str:
    return f'[id="{link}/1/1|{aid_fhir.CODESYSTEM_URL}|{aid_fhir.option_code(link, option)}"]'


def _shown(page, link: str) -> bool:
    return page.locator(f'[id^="{link}/1/1"]').count() > 0


def _fill(page, answers: dict[str, Any]) -> None:
    """Answer as a person would: click each option, type each number, in form order."""
    for link, value in answers.items():
        if isinstance(value, int | float):
            field = page.locator(f'input[id="{link}/1/1"]')
            field.fill(str(value))
            field.press("Tab")
        else:
            for option in value if isinstance(value, list) else [value]:
                page.locator(_option(link, option)).click()


def _triage_fhir(tmp_path: Path, response: dict[str, Any]) -> dict[str, Any]:
    path = tmp_path / "response.json"
    path.write_text(json.dumps(response), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "aid", "triage", str(path), "--fhir", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("answers", "urgency"),
    [(BENIGN, "selfcare"), (EMERGENCY, "emergency")],
    ids=["benign", "emergency"],
)
def test_lhc_forms_renders_the_questionnaire_and_its_response_triages_the_same(
    form, tmp_path, answers, urgency
):
    _render(form)
    # Visibility in the renderer follows the aid's enable_when.
    assert _shown(form, "pregnant") and _shown(form, "period_now")
    assert not _shown(form, "leg_weakness_side") and not _shown(form, "pregnancy_weeks")
    _fill(form, answers)
    if answers["sex"] == "male":
        assert not _shown(form, "pregnant") and not _shown(form, "period_now")
    else:
        assert _shown(form, "period_now") and not _shown(form, "pregnancy_weeks")

    response = form.evaluate("window.formResponse()")
    assert response["questionnaire"] == aid_fhir.canonical()
    assert aid_fhir.answers_from(response) == Answers(answers)

    expected = triage(answers)
    assert expected.urgency.value == urgency and not expected.incomplete
    out = _triage_fhir(tmp_path, response)
    assert (out["urgency"], out["status"]) == (urgency, "complete")
    assert out["reasons"] == [r.to_dict() for r in expected.reasons]
    assert not form.errors, form.errors
