"""The dashboard without a browser: set widget values in Python, read the test API.

Outside a kernel ipywidgets 8 uses a dummy comm, so setting ``.value`` fires the observers and
``Button.click()`` the handlers at once (TECH-NOTES). Tests use only the small test API of
:class:`aid.ui.Dashboard` (``inputs``, ``visible``, ``answers``, ``result``, ``card_html``,
``banner_html``, ``finish``...), never ``.children``.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import logging
import re
import shutil
from typing import Any

import ipywidgets as widgets
import pytest

import aid
import aid.ui.dashboard as ui_dashboard
from aid import Urgency, load_knowledge
from aid.knowledge import Question
from aid.report import DISCLAIMER
from aid.ui import WARNING_SIGNS, Dashboard, visible_questions
from aid.ui.failsafe import FAILSAFE_TITLE
from aid.ui.questionnaire import UNSURE, CheckboxGroup, NumberField

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


def answer(app: Dashboard, answers: dict[str, Any]) -> None:
    for qid, value in answers.items():
        if qid in app.inputs:
            app.inputs[qid].value = value


def text_of(markup: str) -> str:
    """The visible text of some HTML (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


# --------------------------------------------------------------------------- building


def test_every_question_gets_an_input_that_starts_unanswered(app):
    assert set(app.inputs) == set(KB.questions)
    for qid, _q in KB.questions.items():
        value = app.inputs[qid].value
        assert value in (None, ()), f"{qid} starts as {value!r}: unanswered must stay unanswered"
    assert app.result.answers == {}
    assert app.answers == {}


@pytest.mark.parametrize(
    "kind, widget_type",
    [
        ("yesno", widgets.ToggleButtons),
        ("choice", widgets.RadioButtons),
        ("multi", CheckboxGroup),
        ("number", NumberField),
        ("scale", widgets.ToggleButtons),
    ],
)
def test_each_kind_gets_its_widget(app, kind, widget_type):
    questions = [q for q in KB.questions.values() if q.kind == kind]
    assert questions, f"no {kind} question in the table"
    for q in questions:
        assert isinstance(app.inputs[q.id], widget_type), q.id


def test_yesno_offers_not_sure_which_stays_unanswered(app):
    app.inputs["fever"].value = UNSURE
    assert "fever" not in app.answers
    assert "fever" in {u.question for u in app.result.unanswered}


def test_prompts_show_help_and_mark_required_questions(app):
    prompts = app.questionnaire.prompts
    for q in KB.questions.values():
        assert q.prompt in text_of(prompts[q.id])
        assert ("aid-required" in prompts[q.id]) == q.required, q.id
        if q.help:
            assert q.help in text_of(prompts[q.id]), q.id


def test_sections_follow_the_table(app):
    assert list(dict.fromkeys(q.section for q in KB.questions.values())) == list(KB.sections)


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
    assert isinstance(app.inputs["hiccups"], widgets.ToggleButtons)
    assert not app.visible("hiccups")
    app.inputs["fever"].value = "yes"
    assert app.visible("hiccups")
    assert "Just checking." in app.questionnaire.prompts["hiccups"]


# --------------------------------------------------------------------------- enable_when


def test_initial_visibility_follows_enable_when_on_no_answers(app):
    for q in KB.questions.values():
        assert app.visible(q.id) == q.enable_when.matches({}), q.id


def test_questions_appear_and_disappear_as_answers_change(app):
    assert app.visible("pregnant")  # sex unanswered: `sex!=male` holds (not known to be male)
    assert not app.visible("pregnancy_weeks")
    app.inputs["pregnant"].value = "yes"
    assert app.visible("pregnancy_weeks") and app.visible("rhythmic")
    app.inputs["sex"].value = "male"
    assert not app.visible("pregnant")
    assert not app.visible("pregnancy_weeks"), "hiding must cascade to questions that depend on it"
    assert not app.visible("rhythmic")
    app.inputs["sex"].value = "female"
    assert app.visible("pregnant") and app.visible("pregnancy_weeks")

    assert not app.visible("rib_numbness")
    app.inputs["location"].value = ("upper_back", "ribs")
    assert app.visible("rib_numbness")
    app.inputs["location"].value = ("upper_back",)
    assert not app.visible("rib_numbness")


def test_a_hidden_answer_is_not_sent_to_triage(app):
    answer(app, {"sex": "female", "pregnant": "yes", "rhythmic": "yes"})
    assert "RF-LABOUR" in app.result.fired_rule_ids
    app.inputs["sex"].value = "male"
    assert "pregnant" not in app.answers and "rhythmic" not in app.answers
    assert "RF-LABOUR" not in app.result.fired_rule_ids
    assert app.inputs["rhythmic"].value == "yes", "the widget keeps the answer in case it reappears"


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
    assert "aid-card-pending" in app.card_html
    assert "banner-selfcare" not in app.card_html
    assert app.banner_html == ""
    for qid in app.result.unanswered_required:
        assert KB.questions[qid].prompt in text_of(app.card_html)


def test_benign_case_reaches_self_care_advice(app):
    answer(app, BENIGN)
    result = app.result
    assert result.urgency == Urgency.SELFCARE, result.fired_rule_ids
    assert not result.unanswered_required
    card = app.card_html
    assert "banner-selfcare" in card and Urgency.SELFCARE.action in text_of(card)
    assert result.advice_of("selfcare"), "a strained back after lifting must get self-care advice"
    for item in result.advice_of("selfcare") + result.safety_net:
        assert item.text in text_of(card)
    for cause in result.causes:
        assert cause.lay_name in text_of(card)
    assert "not a diagnosis" in text_of(card)
    assert DISCLAIMER in text_of(card)
    assert app.banner_html == ""
    # most important first: the banner, then why, then the rest
    order = [
        card.index(m) for m in ("banner-selfcare", "card-why", "card-safety-net", "aid-disclaimer")
    ]
    assert order == sorted(order)


def test_card_lists_unanswered_questions_that_could_change_the_advice(app):
    answer(app, {k: v for k, v in BENIGN.items() if k != "bladder_trouble"})
    assert "bladder_trouble" in {u.question for u in app.result.unanswered}
    assert "card-unanswered" in app.card_html
    assert KB.questions["bladder_trouble"].prompt in text_of(app.card_html)


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
def test_each_emergency_red_flag_shows_the_banner_at_once(app, rule):
    values = answers_firing(rule.when)
    answer(app, values)
    result = app.result
    assert rule.id in result.fired_rule_ids, (values, result.fired_rule_ids)
    assert result.urgency == Urgency.EMERGENCY
    assert result.unanswered_required, "the banner must show before the questionnaire is finished"
    assert "banner-emergency" in app.banner_html
    assert Urgency.EMERGENCY.action in text_of(app.banner_html)
    assert rule.reason in text_of(app.banner_html)
    card = app.card_html
    assert card.index("banner-emergency") < card.index("card-why")
    assert rule.reason in text_of(card)
    assert "What you can do now" not in text_of(card), "no home care advice in an emergency"


def test_an_emergency_combination_shows_the_emergency_banner(app):
    answer(app, {"fever": "yes", "history": ["injects_drugs"]})
    assert app.result.urgency == Urgency.EMERGENCY
    assert "banner-emergency" in app.banner_html


def test_unrelated_urgent_signs_do_not_show_the_emergency_banner(app):
    answer(app, {"fever": "yes", "blood_stool": "yes"})
    assert app.result.urgency == Urgency.URGENT
    assert app.banner_html == ""


def test_the_emergency_alert_says_where_to_go_first(app):
    app.inputs["saddle_numbness"].value = "yes"
    alert = app.banner_html
    assert "Emergency department" in alert and "Do not drive yourself" in alert
    assert alert.index("aid-alert-service") < alert.index("aid-alert-reasons")


def test_banner_goes_away_when_the_red_flag_answer_is_corrected(app):
    app.inputs["saddle_numbness"].value = "yes"
    assert "banner-emergency" in app.banner_html
    app.inputs["saddle_numbness"].value = "no"
    assert app.banner_html == ""


def test_urgent_shows_in_the_card_before_required_answers(app):
    app.inputs["fever"].value = "yes"
    assert app.result.urgency == Urgency.URGENT
    assert "banner-urgent" in app.card_html
    assert app.banner_html == ""  # only emergencies take over the top of the page


# --------------------------------------------------------------------------- inputs


def test_number_field_accepts_numbers_and_explains_bad_text(app):
    age = app.inputs["age"]
    age.text.value = "45"
    assert age.value == 45 and app.answers["age"] == 45
    age.text.value = "forty"
    assert age.value is None and "age" not in app.answers
    assert "is not a number" in age.error.value and "0 to 120" in text_of(age.error.value)
    age.text.value = "500"
    assert age.value is None and "out of range" in age.error.value
    age.value = 61
    assert age.text.value == "61" and age.error.value == ""


def test_number_field_shows_typed_markup_as_text(app):
    app.inputs["age"].text.value = XSS
    error = app.inputs["age"].error.value
    assert "<img" not in error and "<script" not in error
    assert XSS in text_of(error)


def test_none_of_these_excludes_the_other_options(app):
    history = app.inputs["history"]
    history.boxes["cancer"].value = True
    history.boxes["smoker"].value = True
    assert history.value == ("cancer", "smoker")
    history.boxes["none"].value = True
    assert history.value == ("none",)
    assert not history.boxes["cancer"].value
    history.boxes["diabetes"].value = True
    assert history.value == ("diabetes",)
    assert app.answers["history"] == ["diabetes"]


def test_notes_are_shown_as_text_and_never_sent_to_triage(app):
    answer(app, BENIGN)
    app.questionnaire.notes.value = XSS
    assert app.notes == XSS
    assert XSS not in app.card_html and "<script" not in app.card_html
    assert XSS in text_of(app.card_html)
    assert app.result.answers == app.answers  # notes are not an answer


# --------------------------------------------------------------------------- finishing


def test_finish_asks_for_required_answers_first(app):
    app.inputs["age"].value = 30
    app._finish_button.click()
    assert app.finished is None and app.download_html == "" and app.summary_html is None
    assert app.record_id is None


def test_finish_records_the_encounter_and_offers_the_summary(app, tmp_path):
    from aid.store import EncounterLog

    answer(app, BENIGN)
    app.questionnaire.notes.value = "Pain started after moving house " + XSS
    app._finish_button.click()
    assert app.finished == app.result and app.staff_notice == ""
    log = EncounterLog(tmp_path / "encounters.sqlite3", create=False)
    assert log.count() == 1
    stored = log.get(app.record_id)
    assert stored.answers == app.result.answers
    assert stored.notes == app.notes
    assert stored.urgency == Urgency.SELFCARE

    link = re.search(r"href='data:text/html;charset=utf-8;base64,([^']+)'", app.download_html)
    assert link and "download='back-cramp-aid-summary-20260304-0506.html'" in app.download_html
    summary = base64.b64decode(link.group(1)).decode("utf-8")
    assert summary == app.summary_html
    text = text_of(summary)
    assert "2026-03-04 05:06 UTC" in text
    assert KB.version in text
    assert Urgency.SELFCARE.action in text
    assert KB.questions["severity"].prompt in text  # the answers
    assert XSS in text and "<script" not in summary  # notes escaped
    for item in app.result.advice_of("selfcare"):
        assert item.text in text

    app._finish_button.click()  # nothing changed: not logged twice
    assert log.count() == 1


def test_changing_an_answer_after_finishing_withdraws_the_old_summary(app):
    answer(app, BENIGN)
    app.finish()
    assert app.download_html
    app.inputs["severity"].value = 6
    assert app.finished is None and app.download_html == "" and app.summary_html is None
    app.finish()
    assert app.finished is not None and "6 out of 10" in text_of(app.summary_html)


def test_emergency_can_be_finished_without_the_required_answers(app):
    app.inputs["incontinence"].value = "yes"
    app.finish()
    assert app.finished is not None and "banner-emergency" in app.summary_html


def test_a_log_failure_never_changes_the_advice(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log's folder should be")
    monkeypatch.setenv("AID_DB", str(blocker / "encounters.sqlite3"))
    app = Dashboard(clock=lambda: FIXED_TIME)
    answer(app, BENIGN)
    card_before = app.card_html
    with caplog.at_level(logging.ERROR, logger="aid.ui"):
        app._finish_button.click()
    assert "not saved" in app.staff_notice
    assert app.card_html == card_before and not app.failed
    assert app.download_html and app.finished is not None
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
    for markup in (app.card_html, app.banner_html):
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
        app.inputs["fever"].value = "yes"  # must not raise
    assert_failsafe(app)
    logged = [r for r in caplog.records if r.name == "aid.ui" and r.exc_info]
    assert logged and "secret internal detail" in str(logged[0].exc_info[1])

    monkeypatch.undo()  # the next answer that works brings the advice back
    app.inputs["fever"].value = "no"
    assert not app.failed and FAILSAFE_TITLE not in app.card_html


def test_an_error_while_finishing_shows_the_failsafe_message(app, monkeypatch):
    answer(app, BENIGN)
    monkeypatch.setattr(ui_dashboard, "to_html", _boom)
    app._finish_button.click()
    assert_failsafe(app)
    assert app.download_html == ""


def test_an_error_inside_an_input_widget_shows_the_failsafe_message(app, monkeypatch):
    monkeypatch.setattr(ui_dashboard, "triage", _boom)
    app.inputs["age"].text.value = "40"
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
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == app.widget.model_id
