"""The questionnaire as one custom widget: native, accessible HTML drawn by an ES module.

ipywidgets gave every button, label and box its own model (253 per page) and could not give a
question fieldset/legend semantics or a selected state. :class:`AidForm` is one anywidget model:
``form.js`` (in this package, no bundler) draws fieldsets with legends, native radio groups
(arrow keys, one Tab stop each), checkboxes and labelled number fields from the question table
below, and syncs one ``answers`` dict back. Python parses those raw answers
(:func:`parse_answers`), runs the engine and sends back the card (HTML from the Jinja template) and
the sticky result bar. Nothing here decides urgency.

Raw answers as the page sends them (question id -> value; a missing key is unanswered):

=======  ==============================================================================
kind     raw value
=======  ==============================================================================
yesno    ``"yes"``, ``"no"`` or ``"unsure"`` ("Not sure": sent to triage as unanswered)
choice   an option id
multi    a list of option ids (``none`` excludes the others)
scale    a whole number, or its text
number   the text typed; for a question in days, ``{"amount": text, "unit": "weeks"}``
=======  ==============================================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..answers import AnswerError, allowed_text, validate_answer
from ..knowledge import Knowledge, Question
from ..report import stylesheet

#: The yes/no questions' third choice: an explicit "I don't know", sent to triage as unanswered.
UNSURE = "unsure"

#: A number asked in days can be typed in these units (the engine always gets days).
DAY_UNITS: dict[str, int] = {"days": 1, "weeks": 7, "months": 30}

_HERE = Path(__file__).resolve().parent


def question_table(kb: Knowledge) -> list[dict[str, Any]]:
    """The questions as the page draws them (JSON), in table order."""
    table = []
    for q in kb.questions.values():
        if q.kind == "yesno":
            options = [["yes", "Yes"], ["no", "No"], [UNSURE, "Not sure"]]
        elif q.kind == "scale":
            lo, hi = int(q.minimum or 0), int(q.maximum or 10)
            options = [[str(n), str(n)] for n in range(lo, hi + 1)]
        else:
            options = [list(pair) for pair in zip(q.options, q.option_labels, strict=True)]
        table.append(
            {
                "id": q.id,
                "section": q.section,
                "prompt": q.prompt,
                "help": q.help,
                "kind": q.kind,
                "options": options,
                "unit": q.unit,
                "units": list(DAY_UNITS) if (q.kind == "number" and q.unit == "days") else [],
                "min": q.minimum,
                "max": q.maximum,
                "required": q.required,
            }
        )
    return table


def steps(kb: Knowledge) -> list[dict[str, Any]]:
    """The questionnaire in steps: the required questions, then the warning signs, then the
    other sections in table order. Advice can be given once the first step is answered."""
    required = [q.id for q in kb.questions.values() if q.required]
    out = [{"title": "The essentials", "questions": required}]
    sections: dict[str, list[str]] = {}
    for q in kb.questions.values():
        if not q.required:
            sections.setdefault(q.section, []).append(q.id)
    if "Warning signs" in sections:
        out.append({"title": "Warning signs", "questions": sections.pop("Warning signs")})
    out += [{"title": title, "questions": ids} for title, ids in sections.items()]
    return out


def _number(question: Question, raw: Any) -> tuple[float | None, str]:
    """(days or the number, error message) from typed text, optionally with a unit."""
    factor = 1
    if isinstance(raw, Mapping):
        unit = raw.get("unit") or "days"
        if unit not in DAY_UNITS:
            return None, f"Please choose days, weeks or months (not {str(unit)[:20]!r})."
        factor = DAY_UNITS[unit]
        raw = raw.get("amount")
    if raw is None:
        return None, ""
    if isinstance(raw, bool):
        return None, f"Please enter {allowed_text(question)}."
    if isinstance(raw, (int, float)):
        number = float(raw)
    else:
        text = str(raw).strip().replace(",", ".")
        if not text:
            return None, ""
        try:
            number = float(text)
        except ValueError:
            return None, f"That is not a number. Please enter {allowed_text(question)}."
    if not math.isfinite(number):
        return None, f"That is out of range. Please enter {allowed_text(question)}."
    try:
        return float(validate_answer(question, number * factor)), ""  # type: ignore[arg-type]
    except AnswerError:
        return None, f"That is out of range. Please enter {allowed_text(question)}."


def parse_answers(kb: Knowledge, raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(answers in the engine's vocabulary, error message per question) from the page's values.

    Unanswered, "Not sure" and an empty list are left out (unknown, never "no"). A value the page
    could not have sent (an unknown question or option) is an error naming the question, so a
    tampered message never reaches triage as an answer.
    """
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for qid, value in raw.items():
        question = kb.questions.get(qid)
        if question is None:
            errors[qid] = "unknown question"
            continue
        if question.kind == "number":
            number, message = _number(question, value)
            if message:
                errors[qid] = message
            elif number is not None:
                answers[qid] = number
            continue
        if value is None or value == UNSURE or value == [] or value == "":
            continue
        if question.kind == "scale" and isinstance(value, str):
            value = int(value) if value.isdigit() else value
        try:
            validate_answer(question, value)
        except AnswerError as exc:
            errors[qid] = f"Please choose {allowed_text(question)} ({exc.problem})."
            continue
        answers[qid] = value
    return answers, errors


class AidForm(anywidget.AnyWidget):
    """One widget model for the whole page: questionnaire, result bar, card and Finish panel.

    Python -> page: ``questions``, ``steps``, ``visible``, ``errors``, ``card``, ``bar``,
    ``finish_state``, ``saves``, ``subject_error``. Page -> Python: ``answers``, ``notes``,
    ``subject``, and the messages ``{"event": "finish"}`` and ``{"event": "reset"}``.
    """

    _esm = _HERE / "form.js"
    _css = (_HERE / "form.css").read_text(encoding="utf-8") + "\n" + stylesheet()

    questions = traitlets.List().tag(sync=True)  # type: ignore[var-annotated]
    steps = traitlets.List().tag(sync=True)  # type: ignore[var-annotated]
    # The traits the page writes are not echoed back (ipywidgets 8's echo_update serves several
    # views of one model; this page has one): one kernel message fewer per click or keystroke
    # for Voila's single server thread to relay when a clinic's worth of people answer at once.
    answers = traitlets.Dict().tag(sync=True, echo_update=False)
    visible = traitlets.Dict().tag(sync=True)
    errors = traitlets.Dict().tag(sync=True)
    card = traitlets.Unicode("").tag(sync=True)
    bar = traitlets.Dict().tag(sync=True)
    notes = traitlets.Unicode("").tag(sync=True, echo_update=False)
    subject = traitlets.Unicode("").tag(sync=True, echo_update=False)
    subject_error = traitlets.Unicode("").tag(sync=True)
    saves = traitlets.Unicode("").tag(sync=True)
    finish_state = traitlets.Dict().tag(sync=True)
    #: Bumped by Python on "Start again": the page clears its own fields and goes to step 1.
    generation = traitlets.Int(0).tag(sync=True)
