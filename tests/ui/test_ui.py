"""The dashboard without a browser: set the widget's traits as the page does, read them back.

The questionnaire is one anywidget (:class:`aid.ui.AidForm`); outside a kernel its comm is a dummy,
so setting ``answers`` fires the observers at once (TECH-NOTES). Tests use the small test API of
:class:`aid.ui.Dashboard` (``answer``, ``visible``, ``answers``, ``result``, ``card_html``,
``bar``, ``finish``, ``start_again``...) and the traits the page reads (``widget.card``,
``widget.bar``, ``widget.finish_state``...).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import logging
import re
import shutil
from typing import Any

import pytest

import aid
import aid.ui.dashboard as ui_dashboard
from aid import Urgency, load_knowledge
from aid.knowledge import Question
from aid.report import DISCLAIMER
from aid.ui import WARNING_SIGNS, Dashboard, parse_answers, question_table, steps, visible_questions
from aid.ui.failsafe import FAILSAFE_TITLE
from aid.ui.form import UNSURE

KB = load_knowledge()
FIXED_TIME = dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.UTC)

#: A person with a strained lower back after lifting: no warning sign anywhere.
BENIGN: dict[str, Any] = {
    "location": ("lower_back",),
    "onset": "gradual",
    "duration_days": 1,
    "course": "same",
    "recurring": "no",
    "severity": 4,
    "immobile": "no",
    "pain_quality": ("cramping",),
    "injury": "lifting",
    "radiates": "no",
    "age": 34,
    "sex": "male",
    "activity": ("heavy_lifting",),
    **{
        q.id: "no"
        for q in KB.questions.values()
        if q.section == "Warning signs" and q.kind == "yesno" and q.enable_when.text == ""
    },
    "chest_symptoms": ("none",),
    "history": ("none",),
}

XSS = '<img src=x onerror="window.__aidXss=1"><script>window.__aidXss=2</script>'


@pytest.fixture
def app(tmp_path, monkeypatch) -> Dashboard:
    monkeypatch.setenv("AID_DB", str(tmp_path / "encounters.sqlite3"))
    return Dashboard(clock=lambda: FIXED_TIME)


def raw(qid: str, value: Any) -> Any:
    """An engine answer as the page sends it: lists for multi, typed text for numbers."""
    kind = KB.questions[qid].kind
    if kind == "multi":
        return list(value)
    if kind == "number":
        return f"{value:g}"
    if kind == "scale":
        return str(value)
    return value


def answer(app: Dashboard, answers: dict[str, Any]) -> None:
    """All at once, as one change of the ``answers`` trait (the page sends one per click)."""
    app.widget.answers = {
        **app.widget.answers,
        **{qid: raw(qid, v) for qid, v in answers.items() if v is not None},
    }


def text_of(markup: str) -> str:
    """The visible text of some HTML (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


# --------------------------------------------------------------------------- building


def test_every_question_is_in_the_table_the_page_draws_and_starts_unanswered(app):
    table = app.widget.questions
    assert [q["id"] for q in table] == list(KB.questions)
    assert app.widget.answers == {}
    assert app.result.answers == {}
    assert app.answers == {}


def test_the_page_is_one_widget_model():
    """253 ipywidgets models per page became one anywidget (plus its Layout model)."""
    from ipywidgets.widgets.widget import _instances

    before = set(_instances)
    Dashboard(log=None)
    assert len(set(_instances) - before) <= 2


@pytest.mark.parametrize("kind", ["yesno", "choice", "multi", "number", "scale"])
def test_each_kind_gets_its_options(app, kind):
    questions = [q for q in app.widget.questions if q["kind"] == kind]
    assert questions, f"no {kind} question in the table"
    for q in questions:
        if kind == "yesno":
            assert [o[0] for o in q["options"]] == ["yes", "no", UNSURE]
        elif kind == "scale":
            assert [o[1] for o in q["options"]][-1] == "10"  # never cut to "1..."
        elif kind in ("choice", "multi"):
            question = KB.questions[q["id"]]
            assert q["options"] == [
                list(p) for p in zip(question.options, question.option_labels, strict=True)
            ]
        else:
            assert q["options"] == []


def test_yesno_offers_not_sure_which_stays_unanswered(app):
    app.answer("fever", UNSURE)
    assert "fever" not in app.answers
    assert "fever" in {u.question for u in app.result.unanswered}


def test_prompts_help_and_required_marks_come_from_the_table(app):
    table = {q["id"]: q for q in app.widget.questions}
    for q in KB.questions.values():
        assert table[q.id]["prompt"] == q.prompt
        assert table[q.id]["help"] == q.help
        assert table[q.id]["required"] == q.required


def test_required_questions_and_warning_signs_come_first(app):
    plan = app.widget.steps
    assert plan[0]["questions"] == [q.id for q in KB.questions.values() if q.required]
    assert plan[1]["title"] == "Warning signs"
    assert set(plan[1]["questions"]) == {
        q.id for q in KB.questions.values() if q.section == "Warning signs" and not q.required
    }
    every = [qid for step in plan for qid in step["questions"]]
    assert sorted(every) == sorted(KB.questions), "each question in exactly one step"


def test_built_from_the_table_not_hard_coded(tmp_path, monkeypatch):
    """A row added to questions.csv becomes a question in the dashboard with no code change."""
    monkeypatch.setenv("AID_DB", "off")
    directory = tmp_path / "knowledge"
    shutil.copytree(KB.directory, directory)
    with (directory / "questions.csv").open("a", encoding="utf-8", newline="") as handle:
        handle.write(
            "hiccups,Other symptoms,Do you have hiccups?,Just checking.,yesno,,,,fever=yes,no,S1\r\n"
        )
    kb = load_knowledge(directory)
    app = Dashboard(knowledge=kb, log=None)
    row = next(q for q in question_table(kb) if q["id"] == "hiccups")
    assert row["help"] == "Just checking." and row["kind"] == "yesno"
    assert any("hiccups" in step["questions"] for step in steps(kb))
    assert not app.visible("hiccups") and app.widget.visible["hiccups"] is False
    app.answer("fever", "yes")
    assert app.visible("hiccups") and app.widget.visible["hiccups"] is True


# --------------------------------------------------------------------------- enable_when


def test_initial_visibility_follows_enable_when_on_no_answers(app):
    for q in KB.questions.values():
        assert app.visible(q.id) == q.enable_when.matches({}), q.id


def test_questions_appear_and_disappear_as_answers_change(app):
    assert app.visible("pregnant")  # sex unanswered: `sex!=male` holds (not known to be male)
    assert not app.visible("pregnancy_weeks")
    app.answer("pregnant", "yes")
    assert app.visible("pregnancy_weeks") and app.visible("rhythmic")
    app.answer("sex", "male")
    assert not app.visible("pregnant")
    assert not app.visible("pregnancy_weeks"), "hiding must cascade to questions that depend on it"
    assert not app.visible("rhythmic")
    app.answer("sex", "female")
    assert app.visible("pregnant") and app.visible("pregnancy_weeks")

    assert not app.visible("rib_numbness")
    app.answer("location", ["upper_back", "ribs"])
    assert app.visible("rib_numbness")
    app.answer("location", ["upper_back"])
    assert not app.visible("rib_numbness")


def test_a_hidden_answer_is_not_sent_to_triage(app):
    answer(app, {"sex": "female", "pregnant": "yes", "rhythmic": "yes"})
    assert "RF-LABOUR" in app.result.fired_rule_ids
    app.answer("sex", "male")
    assert "pregnant" not in app.answers and "rhythmic" not in app.answers
    assert "RF-LABOUR" not in app.result.fired_rule_ids
    assert app.widget.answers["rhythmic"] == "yes", "the page keeps the answer in case it reappears"
    assert app.widget.visible["rhythmic"] is False


def test_visibility_is_computed_from_visible_answers_only():
    questions = KB.questions
    raw = {"sex": "male", "pregnant": "yes"}
    visible = visible_questions(questions, raw)
    assert (
        not visible["pregnant"]
        and not visible["pregnancy_weeks"]
        and not visible["vaginal_bleeding"]
    )


# --------------------------------------------------------------------------- the card


def test_nothing_reassuring_is_shown_before_the_required_answers(app):
    assert app.result.urgency == Urgency.SELFCARE
    assert "aid-card-incomplete" in app.card_html
    assert "banner-selfcare" not in app.card_html
    assert app.bar["level"] == "incomplete"
    for qid in app.result.unanswered_required:
        assert KB.questions[qid].prompt in text_of(app.card_html)


def test_benign_case_reaches_self_care_advice(app):
    answer(app, BENIGN)
    result = app.result
    assert result.urgency == Urgency.SELFCARE, result.fired_rule_ids
    assert not result.unanswered_required
    card = app.card_html
    assert "banner-selfcare" in card and Urgency.SELFCARE.action in text_of(card)
    assert app.bar == {
        "level": "selfcare",
        "label": Urgency.SELFCARE.label,
        "action": Urgency.SELFCARE.action,
    }
    assert result.advice_of("selfcare"), "a strained back after lifting must get self-care advice"
    for item in result.advice_of("selfcare")[:5] + result.safety_net:
        assert item.text in text_of(card)
    for cause in result.causes:
        assert cause.lay_name in text_of(card)
    assert "not a diagnosis" in text_of(card)
    assert DISCLAIMER in text_of(card)
    # the action and where to go first, then why, then what to do
    order = [
        card.index(m)
        for m in (
            "banner-selfcare",
            "card-where",
            "card-why",
            "card-advice-selfcare",
            "card-advice-safety-net",
            "aid-disclaimer",
        )
    ]
    assert order == sorted(order)


def test_patients_see_no_rule_ids_or_source_codes_but_the_summary_does(app):
    answer(app, {**BENIGN, "fever": "yes", "saddle_numbness": "yes"})
    ids = [r.rule_id for r in app.result.reasons]
    assert ids
    sources = {s for r in app.result.reasons for s in r.source}
    for rule_id in ids:
        assert rule_id not in app.card_html
    assert not re.search(r"\[(S|G)\d+", app.card_html)
    app.finish()
    summary = app.summary_html
    for rule_id in ids:
        assert rule_id in summary
    legend = summary[summary.index('id="sources"') :]
    for source in sources:
        assert KB.sources[source].title in html.unescape(legend)


def test_an_unanswered_qualifier_is_not_quoted_back_as_said(app):
    # a rule that fires because a reassuring answer is missing must not say "You said: not answered"
    answer(app, {"radiates": "both_legs"})
    assert app.result.urgency >= Urgency.URGENT
    assert "not answered" not in text_of(app.card_html)


def test_card_explains_unanswered_questions_could_change_the_advice(app):
    answer(app, {k: v for k, v in BENIGN.items() if k != "bladder_trouble"})
    assert "bladder_trouble" in {u.question for u in app.result.unanswered}
    card = text_of(app.card_html)
    assert "Answering these could change the advice" in card
    assert KB.questions["bladder_trouble"].prompt in card
    assert "could mean" not in card


def _satisfy(question: Question, op: str, values: tuple[str, ...]) -> Any:
    """A widget value that makes one `when` atom hold (None: leave it unanswered)."""
    if op in ("!=", "missing"):  # both hold on an unanswered question
        return None
    if question.kind in ("number", "scale"):
        n = float(values[0]) if values else question.minimum
        value = {">": n + 1, "<": n - 1}.get(op, n)
        return int(value) if question.kind == "scale" else value
    chosen = values[0] if values else question.options[-1]
    return (chosen,) if question.kind == "multi" else chosen


def answers_firing(rule_when) -> dict[str, Any]:
    """Widget values that make a rule hold and keep every question it reads visible."""
    out: dict[str, Any] = {}
    pending = list(rule_when.atoms)
    while pending:
        atom = pending.pop(0)
        question = KB.questions[atom.question]
        value = _satisfy(question, atom.op, atom.values)
        if value is not None and atom.question not in out:
            out[atom.question] = value
        pending.extend(a for a in question.enable_when.atoms if a.question not in out)
    return out


EMERGENCY_RULES = [r for r in KB.red_flags if r.urgency == Urgency.EMERGENCY]


@pytest.mark.parametrize("rule", EMERGENCY_RULES, ids=[r.id for r in EMERGENCY_RULES])
def test_each_emergency_red_flag_shows_the_bar_at_once(app, rule):
    values = answers_firing(rule.when)
    answer(app, values)
    result = app.result
    assert rule.id in result.fired_rule_ids, (values, result.fired_rule_ids)
    assert result.urgency == Urgency.EMERGENCY
    assert result.unanswered_required, "the bar must show before the questionnaire is finished"
    bar = app.bar
    assert bar["level"] == "emergency" and bar["action"] == Urgency.EMERGENCY.action
    assert bar["stop"] == "You can stop here."
    card = app.card_html
    assert card.index("banner-emergency") < card.index("card-where") < card.index("card-why")
    assert rule.reason in text_of(card)
    assert "You can stop answering" in text_of(card)
    # only what matters now: no home care, causes, tests or "most cramps settle"
    for heading in ("What you can do now", "Tests a doctor may use", "Possible contributing"):
        assert heading not in text_of(card)
    for item in result.safety_net + result.advice_of("tests"):
        assert item.text not in text_of(card)


def test_do_not_drive_shows_in_the_bar_where_the_tables_say_so(app):
    app.answer("saddle_numbness", "yes")
    assert app.result.service.id == "emergency_department"
    assert app.bar["no_drive"] == "Do not drive yourself."
    assert "Do not drive yourself" in text_of(app.card_html)


def test_an_emergency_combination_shows_the_emergency_bar(app):
    answer(app, {"fever": "yes", "history": ["injects_drugs"]})
    assert app.result.urgency == Urgency.EMERGENCY
    assert app.bar["level"] == "emergency"


def test_unrelated_urgent_signs_are_urgent_not_emergency(app):
    answer(app, {"fever": "yes", "blood_stool": "yes"})
    assert app.result.urgency == Urgency.URGENT
    assert app.bar["level"] == "urgent" and "stop" not in app.bar


def test_bar_goes_back_when_the_red_flag_answer_is_corrected(app):
    app.answer("saddle_numbness", "yes")
    assert app.bar["level"] == "emergency"
    app.answer("saddle_numbness", "no")
    assert app.bar["level"] == "incomplete"


def test_urgent_shows_in_the_card_before_required_answers(app):
    app.answer("fever", "yes")
    assert app.result.urgency == Urgency.URGENT
    assert "banner-urgent" in app.card_html


# --------------------------------------------------------------------------- inputs


def test_numbers_are_checked_and_explained(app):
    app.answer("age", "45")
    assert app.answers["age"] == 45 and "age" not in app.widget.errors
    app.answer("age", "forty")
    assert "age" not in app.answers
    assert "not a number" in app.widget.errors["age"] and "0 to 120" in app.widget.errors["age"]
    app.answer("age", "500")
    assert "age" not in app.answers and "out of range" in app.widget.errors["age"]
    app.answer("age", "61,0")
    assert app.answers["age"] == 61 and app.widget.errors == {}


@pytest.mark.parametrize(
    "amount, unit, days", [("3", "days", 3), ("2", "weeks", 14), ("1.5", "months", 45)]
)
def test_duration_is_a_number_and_a_unit_converted_to_days(app, amount, unit, days):
    assert question_table(KB)[2]["units"] == ["days", "weeks", "months"]
    app.answer("duration_days", {"amount": amount, "unit": unit})
    assert app.answers["duration_days"] == days
    assert app.result.answers["duration_days"] == days


def test_a_tampered_answer_is_an_error_never_an_answer(app):
    parsed, errors = parse_answers(KB, {"fever": "maybe", "nope": "yes", "location": ["moon"]})
    assert parsed == {} and set(errors) == {"fever", "nope", "location"}
    app.widget.answers = {"fever": "maybe", "duration_days": {"amount": "2", "unit": "years"}}
    assert app.answers == {} and not app.failed
    assert "days, weeks or months" in app.widget.errors["duration_days"]


def test_typed_markup_is_never_echoed_as_markup(app):
    app.answer("age", XSS)
    assert "<img" not in app.widget.errors["age"] and "<script" not in app.widget.errors["age"]


def test_notes_are_shown_as_text_and_never_sent_to_triage(app):
    answer(app, BENIGN)
    app.widget.notes = XSS
    assert app.notes == XSS
    assert XSS not in app.card_html and "<script" not in app.card_html
    assert XSS in text_of(app.card_html)
    assert app.result.answers == app.answers  # notes are not an answer


# --------------------------------------------------------------------------- finishing


def download(app: Dashboard) -> str:
    href = app.widget.finish_state["href"]
    prefix = "data:text/html;charset=utf-8;base64,"
    assert href.startswith(prefix)
    return base64.b64decode(href[len(prefix) :]).decode("utf-8")


def test_finish_asks_for_required_answers_first(app):
    app.answer("age", "30")
    app.finish()
    assert app.finished is None and app.summary_html is None and app.record_id is None
    state = app.widget.finish_state
    assert state["status"] == "missing" and "href" not in state
    assert KB.questions["location"].prompt in state["message"]


def test_the_page_says_what_finish_saves(app, monkeypatch):
    assert "encounter log" in app.widget.saves and "no name" in app.widget.saves
    monkeypatch.setenv("AID_DB", "off")
    assert "Nothing is saved" in Dashboard().widget.saves


def test_finish_records_the_encounter_and_offers_the_summary(app, tmp_path):
    from aid.store import EncounterLog

    answer(app, BENIGN)
    app.widget.notes = "Pain started after moving house " + XSS
    app.widget.subject = "P-0042"
    app.finish()
    assert app.finished == app.result and app.staff_notice == ""
    log = EncounterLog(tmp_path / "encounters.sqlite3", create=False)
    assert log.count() == 1
    stored = log.get(app.record_id)
    assert stored.answers == app.result.answers
    assert stored.notes == app.notes
    assert stored.subject == "P-0042"
    assert stored.urgency == Urgency.SELFCARE
    state = app.widget.finish_state
    assert f"Saved as record {app.record_id}." in state["message"]
    assert state["filename"] == "back-cramp-aid-summary-20260304-0506.html"
    summary = download(app)
    assert summary == app.summary_html
    text = text_of(summary)
    assert 'datetime="2026-03-04T05:06:00Z"' in summary and "2026-03-04 05:06 UTC" in text
    assert '<meta name="viewport"' in summary and "window.print()" in summary
    assert "Name (write by hand)" in text
    assert KB.version in text
    assert Urgency.SELFCARE.action in text
    assert KB.questions["severity"].prompt in text  # the answers
    assert XSS in text and "<script>window" not in summary  # notes escaped
    for item in app.result.advice_of("selfcare"):
        assert item.text in text

    app.finish()  # nothing changed: not logged twice
    assert log.count() == 1


@pytest.mark.parametrize("subject", ["jane@example.org", "Jane Doe", "x" * 65, "P/1"])
def test_a_subject_id_is_checked_as_the_log_checks_it(app, tmp_path, subject):
    from aid.store import EncounterLog

    answer(app, BENIGN)
    app.widget.subject = subject
    assert "pseudonymous" not in app.widget.subject_error  # plain words for staff
    assert "never a name" in app.widget.subject_error
    app.finish()
    assert app.finished is None and app.record_id is None
    assert not (tmp_path / "encounters.sqlite3").exists() or (
        EncounterLog(tmp_path / "encounters.sqlite3", create=False).count() == 0
    )
    app.widget.subject = ""
    assert app.widget.subject_error == ""
    app.finish()
    assert app.record_id is not None


def test_start_again_clears_every_answer_and_the_card(app):
    answer(app, {**BENIGN, "saddle_numbness": "yes"})
    app.widget.notes = "private note"
    app.widget.subject = "P-1"
    app.finish()
    generation = app.widget.generation
    app.start_again()
    assert app.widget.answers == {} and app.answers == {} and app.result.answers == {}
    assert app.widget.notes == "" and app.widget.subject == "" and app.widget.finish_state == {}
    assert app.finished is None and app.summary_html is None and app.record_id is None
    assert app.bar["level"] == "incomplete" and "aid-card-incomplete" in app.card_html
    assert "private note" not in app.card_html
    assert app.widget.generation == generation + 1


def test_the_page_asks_for_finish_and_reset_by_message(app):
    answer(app, BENIGN)
    app._on_msg(app.widget, {"event": "finish"})
    assert app.finished is not None
    app._on_msg(app.widget, {"event": "reset"})
    assert app.widget.answers == {} and app.finished is None
    app._on_msg(app.widget, {"event": "something else"})
    app._on_msg(app.widget, "not a dict")
    assert not app.failed


def test_changing_an_answer_after_finishing_withdraws_the_old_summary(app):
    answer(app, BENIGN)
    app.finish()
    assert app.widget.finish_state["href"]
    app.answer("severity", "6")
    assert app.finished is None and app.summary_html is None
    assert app.widget.finish_state["status"] == "changed"
    assert "href" not in app.widget.finish_state
    app.finish()
    assert app.finished is not None and "6 out of 10" in text_of(app.summary_html)


def test_emergency_can_be_finished_without_the_required_answers(app):
    app.answer("incontinence", "yes")
    app.finish()
    assert app.finished is not None and "banner-emergency" in app.summary_html


def test_finish_also_offers_the_encounter_as_a_fhir_bundle(app):
    """The staff download: a Bundle whose RiskAssessment carries the card's urgency and whose
    QuestionnaireResponse reads back (aid.fhir) to the answers triage used."""
    import json

    from aid import fhir, triage

    app.answer("incontinence", "yes")
    app.finish()
    state = app.widget.finish_state
    assert state["fhir_filename"].endswith(".fhir.json")
    prefix = "data:application/fhir+json;base64,"
    assert state["fhir_href"].startswith(prefix)
    bundle = json.loads(base64.b64decode(state["fhir_href"][len(prefix) :]))
    assert bundle["resourceType"] == "Bundle"
    kinds = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}
    assert set(kinds) >= {"QuestionnaireResponse", "RiskAssessment"}
    codes = json.dumps(kinds["RiskAssessment"]["prediction"][0]["outcome"])
    assert '"emergency"' in codes
    answers = fhir.answers_from(kinds["QuestionnaireResponse"])
    assert answers == app.finished.answers
    assert triage(answers).urgency is Urgency.EMERGENCY


def test_a_log_failure_never_changes_the_advice(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log's folder should be")
    monkeypatch.setenv("AID_DB", str(blocker / "encounters.sqlite3"))
    app = Dashboard(clock=lambda: FIXED_TIME)
    answer(app, BENIGN)
    card_before = app.card_html
    with caplog.at_level(logging.ERROR, logger="aid.ui"):
        app.finish()
    assert "not saved" in app.staff_notice
    assert app.widget.finish_state["staff_notice"] == app.staff_notice
    assert app.card_html == card_before and not app.failed
    assert app.widget.finish_state["href"] and app.finished is not None
    assert any(r.exc_info and "encounter log failed" in r.getMessage() for r in caplog.records)


def test_logging_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("AID_DB", "off")
    app = Dashboard()
    answer(app, BENIGN)
    app.finish()
    assert app.finished is not None and app.record_id is None and app.staff_notice == ""


# --------------------------------------------------------------------------- fail-safe


def _boom(*args, **kwargs):
    raise RuntimeError("secret internal detail 0xdeadbeef")


def assert_failsafe(app: Dashboard) -> None:
    assert app.bar["level"] == "failsafe" and app.bar["label"] == FAILSAFE_TITLE
    for markup in (app.card_html,):
        text = text_of(markup)
        assert FAILSAFE_TITLE in text
        assert "contact a doctor" in text
        assert "call emergency services" in text
        for sign in WARNING_SIGNS:
            assert sign in text
        for leak in ("Traceback", "RuntimeError", "secret internal detail", 'File "'):
            assert leak not in markup
    assert app.failed


def test_an_error_in_a_callback_shows_the_failsafe_message(app, monkeypatch, caplog):
    monkeypatch.setattr(ui_dashboard, "triage", _boom)
    with caplog.at_level(logging.ERROR, logger="aid.ui"):
        app.answer("fever", "yes")  # must not raise
    assert_failsafe(app)
    logged = [r for r in caplog.records if r.name == "aid.ui" and r.exc_info]
    assert logged and "secret internal detail" in str(logged[0].exc_info[1])

    monkeypatch.undo()  # the next answer that works brings the advice back
    app.answer("fever", "no")
    assert not app.failed and FAILSAFE_TITLE not in app.card_html


def test_an_error_while_finishing_shows_the_failsafe_message(app, monkeypatch):
    answer(app, BENIGN)
    monkeypatch.setattr(ui_dashboard, "to_html", _boom)
    app._on_msg(app.widget, {"event": "finish"})
    assert_failsafe(app)
    assert app.widget.finish_state == {}


def test_an_error_while_starting_again_shows_the_failsafe_message(app, monkeypatch):
    monkeypatch.setattr(ui_dashboard, "triage", _boom)
    app._on_msg(app.widget, {"event": "reset"})
    assert_failsafe(app)


def test_a_broken_knowledge_base_still_gives_safe_advice(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise aid.KnowledgeError("red_flags.csv", 7, "when", "broken on purpose")

    monkeypatch.setattr(ui_dashboard, "load_knowledge", broken)
    with caplog.at_level(logging.ERROR, logger="aid.ui"):
        app = Dashboard(log=None)
    assert_failsafe(app)
    assert any(r.exc_info for r in caplog.records if r.name == "aid.ui")


def test_failsafe_names_a_sign_of_every_emergency_group():
    """WARNING_SIGNS is fixed text (it must work when the tables cannot load): keep it in step."""
    keyword = {
        "cauda_equina": "bladder",
        "spinal_cord": "both arms",
        "infection": "stiff neck",
        "sepsis": "confusion",
        "kidney": "Kidney-stone",
        "chest": "Chest pain",
        "aorta": "pulsing",
        "fracture": "serious accident",
        "cancer": "weakness in both legs",
        "pregnancy": "pregnant",
        "muscle": "dark urine",
    }
    groups = {r.group for r in KB.red_flags if r.urgency == Urgency.EMERGENCY}
    assert groups <= set(keyword), f"add a warning sign for {groups - set(keyword)}"
    text = " ".join(WARNING_SIGNS)
    for group in groups:
        assert keyword[group] in text, group


def test_dashboard_displays_as_its_widget(app):
    bundle = app._repr_mimebundle_()
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle  # anywidget: (data, metadata)
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == app.widget.model_id
