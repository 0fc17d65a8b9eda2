"""aid.fhir: the Questionnaire, responses, results and codes validate as FHIR R4B, round-trip
exactly, refuse wrong input by item, and show the same questions as the aid."""

from __future__ import annotations

import json
import re
from typing import Any

import fhirpathpy
import pytest
from answer_strategies import valid_answers, value_for
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from fhir.resources.R4B.riskassessment import RiskAssessment
from fhirpathpy.models import models
from hypothesis import given, settings
from hypothesis import strategies as st

from aid import AnswerError, Answers, load_knowledge, triage
from aid import fhir as aid_fhir
from aid.enablement import visible_questions
from aid.vignettes import load_vignettes

KB = load_knowledge()
MODELS = {
    "Questionnaire": Questionnaire,
    "QuestionnaireResponse": QuestionnaireResponse,
    "RiskAssessment": RiskAssessment,
    "Bundle": Bundle,
    "CodeSystem": CodeSystem,
}
EMERGENCY = {"saddle_numbness": "yes", "age": 45, "location": ["lower_back"]}
BENIGN = {
    "location": ["lower_back"],
    "injury": "lifting",
    "duration_days": 1,
    "severity": 5,
    "age": 30,
}


def valid(resource: dict[str, Any]) -> Any:
    """Parse the JSON text the aid writes with the fhir.resources R4B model of its type."""
    text = aid_fhir.dumps(resource)
    data = json.loads(text)
    kind = data.pop("resourceType")
    return MODELS[kind].model_validate(data)


def items(resource: dict[str, Any]):
    for item in resource.get("item", []):
        yield item
        yield from items(item)


# --------------------------------------------------------------------------- validity


def test_every_resource_the_aid_writes_validates_with_fhir_resources():
    q = valid(aid_fhir.questionnaire())
    assert q.version == KB.version and q.url == aid_fhir.QUESTIONNAIRE_URL
    valid(aid_fhir.codesystem())
    qr = aid_fhir.response(EMERGENCY, subject="P-0042")
    valid(qr)
    bundle = aid_fhir.result(triage(EMERGENCY), qr)
    parsed = valid(bundle)
    assert [e.resource.__resource_type__ for e in parsed.entry] == [
        "QuestionnaireResponse",
        "RiskAssessment",
    ]
    valid(bundle["entry"][1]["resource"])
    valid(json.loads(aid_fhir.bundle_json(triage(BENIGN), BENIGN)))


def test_questionnaire_has_one_item_per_question_typed_by_kind_in_section_groups():
    q = aid_fhir.questionnaire()
    groups = q["item"]
    assert [g["text"] for g in groups] == list(KB.sections)
    assert all(g["type"] == "group" for g in groups)
    by_id = {i["linkId"]: i for g in groups for i in g["item"]}
    assert list(by_id) == list(KB.questions)
    for qid, question in KB.questions.items():
        item = by_id[qid]
        assert item["text"] == question.prompt
        assert item.get("required", False) == question.required
        expected = {"yesno": "choice", "choice": "choice", "multi": "choice"}
        assert item["type"] == expected.get(
            question.kind, {"number": "decimal"}.get(question.kind, "integer")
        )
        assert item.get("repeats", False) == (question.kind == "multi")
        if question.kind in ("number", "scale"):
            bounds = {e["url"]: e for e in item["extension"]}
            key = "valueDecimal" if question.kind == "number" else "valueInteger"
            assert bounds[aid_fhir.EXT_MIN][key] == question.minimum
            assert bounds[aid_fhir.EXT_MAX][key] == question.maximum
        else:
            codes = [o["valueCoding"]["code"] for o in item["answerOption"]]
            assert codes == [f"{qid}={o}" for o in question.options]
            labels = [o["valueCoding"]["display"] for o in item["answerOption"]]
            assert labels == list(question.option_labels)
        helps = [c for c in item.get("item", []) if c["type"] == "display"]
        assert [h["text"] for h in helps] == ([question.help] if question.help else [])


def test_every_code_the_aid_writes_is_defined_in_its_code_system():
    cs = aid_fhir.codesystem()
    defined: set[str] = set()

    def walk(concepts):
        for c in concepts:
            assert c["code"] not in defined, f"code {c['code']} defined twice"
            defined.add(c["code"])
            walk(c.get("concept", []))

    walk(cs["concept"])
    assert cs["count"] == len(defined)
    written = json.dumps(
        [
            aid_fhir.questionnaire(),
            aid_fhir.result(triage(EMERGENCY), aid_fhir.response(EMERGENCY)),
            aid_fhir.result(triage(BENIGN), aid_fhir.response(BENIGN)),
            aid_fhir.result(triage({}), aid_fhir.response({})),
        ]
    )
    used = set()
    for match in re.finditer(r'\{"system": "([^"]+)", "code": "([^"]+)"', written):
        if match.group(1) == aid_fhir.CODESYSTEM_URL:
            used.add(match.group(2))
    assert used and used <= defined, used - defined
    assert {"emergency", "selfcare", "incomplete", "RF-CES-SADDLE"} <= used


# --------------------------------------------------------------------------- round trip


@settings(max_examples=200, deadline=None)
@given(valid_answers())
def test_response_round_trip_is_exact(raw):
    expected = Answers(raw)
    qr = aid_fhir.response(raw)
    assert aid_fhir.answers_from(qr) == expected
    # ... also through the JSON text a record system would store and send back.
    assert aid_fhir.answers_from(aid_fhir.dumps(qr)) == expected


def test_answers_from_takes_a_fhir_resources_model_too():
    model = valid(aid_fhir.response(EMERGENCY))
    assert aid_fhir.answers_from(model) == Answers(EMERGENCY)


def _qr(*question_items: dict[str, Any], questionnaire: str | None = None) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": questionnaire or aid_fhir.canonical(),
        "status": "completed",
        "item": list(question_items),
    }


def _coding(code: str) -> dict[str, Any]:
    return {"valueCoding": {"system": aid_fhir.CODESYSTEM_URL, "code": code}}


@pytest.mark.parametrize(
    ("resource", "item", "problem"),
    [
        (
            _qr(questionnaire="http://other.example/Questionnaire/x|1"),
            "questionnaire",
            "another form",
        ),
        (
            _qr(questionnaire=aid_fhir.QUESTIONNAIRE_URL + "|000000000000"),
            "questionnaire",
            "version '000000000000'",
        ),
        (
            {"resourceType": "QuestionnaireResponse", "status": "completed"},
            "questionnaire",
            "which form",
        ),
        ({"resourceType": "Patient"}, "resourceType", "expected QuestionnaireResponse"),
        ({**_qr(), "status": "entered-in-error"}, "status", "entered-in-error"),
        (
            _qr({"linkId": "favourite_colour", "answer": [{"valueString": "red"}]}),
            "favourite_colour",
            "unknown item",
        ),
        (
            _qr({"linkId": "fever", "answer": [{"valueString": "yes"}]}),
            "fever",
            "expected valueCoding, got valueString",
        ),
        (_qr({"linkId": "fever", "answer": [{"valueBoolean": True}]}), "fever", "got valueBoolean"),
        (_qr({"linkId": "age", "answer": [_coding("age=40")]}), "age", "expected valueDecimal"),
        (_qr({"linkId": "fever", "answer": [_coding("fever=maybe")]}), "fever", "unknown option"),
        (
            _qr({"linkId": "fever", "answer": [_coding("faint=yes")]}),
            "fever",
            "unknown option code",
        ),
        (
            _qr(
                {
                    "linkId": "fever",
                    "answer": [
                        {"valueCoding": {"system": "http://snomed.info/sct", "code": "373066001"}}
                    ],
                }
            ),
            "fever",
            "a coding from",
        ),
        (
            _qr({"linkId": "sex", "answer": [_coding("sex=female"), _coding("sex=male")]}),
            "sex",
            "2 answers",
        ),
        (
            _qr(
                {"linkId": "fever", "answer": [_coding("fever=yes")]},
                {"linkId": "fever", "answer": [_coding("fever=no")]},
            ),
            "fever",
            "answered twice",
        ),
        (_qr({"linkId": "age", "answer": [{"valueDecimal": 400}]}), "age", "out of range"),
        (
            _qr({"linkId": "severity", "answer": [{"valueInteger": "loud"}]}),
            "severity",
            "not a valid FHIR",
        ),
    ],
)
def test_a_wrong_response_is_an_answer_error_naming_the_item(resource, item, problem):
    with pytest.raises(AnswerError) as info:
        aid_fhir.answers_from(resource)
    assert info.value.question == item
    assert problem in str(info.value)


# --------------------------------------------------------------------------- enableWhen


def _fhir_visibility(questionnaire: dict[str, Any], raw: dict[str, Any]) -> dict[str, bool]:
    """FHIR's rules, evaluated on the published Questionnaire alone (not on questions.csv).

    R4 Questionnaire.item.enableWhen: ``=`` holds when at least one answer equals the value,
    ``!=`` when no answer does, comparisons when at least one answer compares; an enableWhen on
    a question with no answer is false except ``exists`` = false; a question that is not enabled
    counts as unanswered. ``enableBehavior`` joins several with all/any. The SDC
    ``enableWhenExpression`` is evaluated with fhirpathpy (R4 model) on the response so far.
    """
    by_id = {i["linkId"]: i for i in items(questionnaire) if i["type"] != "group"}
    given = {i["linkId"]: i["answer"] for i in items(aid_fhir.response(raw)) if "answer" in i}
    memo: dict[str, bool] = {}

    def answers_of(link: str) -> list[Any]:
        return given.get(link, []) if enabled(link) else []

    def holds(rule: dict[str, Any]) -> bool:
        answers = answers_of(rule["question"])
        if rule["operator"] == "exists":
            return bool(answers) == rule["answerBoolean"]
        if not answers:
            return False
        key = next(k for k in rule if k.startswith("answer"))
        wanted = rule[key]
        values = [
            a[key.replace("answer", "value")]
            for a in answers
            if key.replace("answer", "value") in a
        ]
        if key == "answerCoding":
            same = [v["system"] == wanted["system"] and v["code"] == wanted["code"] for v in values]
            return any(same) if rule["operator"] == "=" else not any(same)
        compare = {
            "=": lambda v: v == wanted,
            "!=": lambda v: v != wanted,
            ">": lambda v: v > wanted,
            ">=": lambda v: v >= wanted,
            "<": lambda v: v < wanted,
            "<=": lambda v: v <= wanted,
        }[rule["operator"]]
        return any(compare(v) for v in values)

    def enabled(link: str) -> bool:
        if link not in memo:
            memo[link] = True  # a cycle shows the question, as the aid does
            item = by_id[link]
            rules = item.get("enableWhen", [])
            expressions = [
                e["valueExpression"]["expression"]
                for e in item.get("extension", [])
                if e["url"] == aid_fhir.EXT_ENABLE_WHEN_EXPRESSION
            ]
            result = True
            if rules:
                outcomes = [holds(r) for r in rules]
                result = any(outcomes) if item.get("enableBehavior") == "any" else all(outcomes)
            for expression in expressions:
                deps = re.findall(r"linkId='([a-z0-9_]+)'", expression)
                qr = {
                    "resourceType": "QuestionnaireResponse",
                    "item": [{"linkId": d, "answer": answers_of(d)} for d in deps if answers_of(d)],
                }
                (value,) = fhirpathpy.evaluate(qr, expression, {"resource": qr}, model=models["r4"])
                result = result and value is True
            memo[link] = result
        return memo[link]

    return {link: enabled(link) for link in by_id if not link.endswith(aid_fhir.HELP_SUFFIX)}


QUESTIONNAIRE = aid_fhir.questionnaire()
#: Every question some enable_when reads: drawn often, so that each branch is reached.
DEPENDENCIES = sorted({d for q in KB.questions.values() for d in q.enable_when.questions})


@st.composite
def gating_answers(draw) -> dict[str, Any]:
    """Answers (or none) to every question that gates another, plus a random rest."""
    raw = draw(valid_answers())
    for qid in DEPENDENCIES:
        question = KB.questions[qid]
        raw[qid] = draw(st.one_of(st.none(), value_for(question)))
    return {k: v for k, v in raw.items() if v is not None}


def test_every_enable_when_has_a_fhir_equivalent():
    gated = [q for q in KB.questions.values() if q.enable_when.atoms]
    by_id = {i["linkId"]: i for i in items(QUESTIONNAIRE)}
    for q in gated:
        item = by_id[q.id]
        has_expression = any(
            e["url"] == aid_fhir.EXT_ENABLE_WHEN_EXPRESSION for e in item.get("extension", [])
        )
        assert item.get("enableWhen") or has_expression, q.id
        if len(item.get("enableWhen", [])) > 1:
            assert item["enableBehavior"] in ("all", "any")
    ungated = [q.id for q in KB.questions.values() if not q.enable_when.atoms]
    assert not any("enableWhen" in by_id[qid] for qid in ungated)


@settings(max_examples=200, deadline=None)
@given(gating_answers())
def test_fhir_enable_when_shows_the_same_questions_as_the_aid(raw):
    # Validated answers on both sides: visible_questions reads raw values as they are, so a raw
    # `True` for a yes/no question would not match `recurring=yes` there (see the report).
    answers = dict(Answers(raw))
    assert _fhir_visibility(QUESTIONNAIRE, answers) == visible_questions(KB.questions, answers)


def test_the_visibility_cases_that_matter_by_hand():
    """The != translation: FHIR's != is false on an unanswered question, the aid's is true."""
    for raw, pregnant, period_now in [
        ({}, True, True),
        ({"sex": "male"}, False, False),
        ({"sex": "female"}, True, True),
        ({"sex": "female", "pregnant": "yes"}, True, False),
        ({"sex": "male", "pregnant": "yes"}, False, False),  # hidden answer is ignored
    ]:
        shown = _fhir_visibility(QUESTIONNAIRE, raw)
        assert (shown["pregnant"], shown["period_now"]) == (pregnant, period_now), raw


# --------------------------------------------------------------------------- results


def test_risk_assessment_codes_urgency_reasons_and_causes():
    result = triage(EMERGENCY)
    bundle = aid_fhir.result(result, aid_fhir.response(EMERGENCY))
    qr_entry, ra_entry = bundle["entry"]
    ra = ra_entry["resource"]
    assert ra["status"] == "final"
    assert ra["prediction"][0]["outcome"]["coding"][0]["code"] == "emergency"
    assert ra["basis"][0]["reference"] == qr_entry["fullUrl"]
    assert [c["coding"][0]["code"] for c in ra["reasonCode"]] == list(result.fired_rule_ids)
    assert result.reasons[0].reason in ra["prediction"][0]["rationale"]
    causes = [p["outcome"]["coding"][0]["code"] for p in ra["prediction"][1:]]
    assert causes == [c.cause_id for c in result.causes]
    for prediction, cause in zip(ra["prediction"][1:], result.causes, strict=True):
        assert all(e.explanation in prediction["rationale"] for e in cause.evidence)
    assert result.service.name in ra["mitigation"]


def test_an_incomplete_result_is_preliminary_and_never_self_care():
    ra = aid_fhir.risk_assessment(triage({}))
    assert ra["status"] == "preliminary"
    assert ra["prediction"][0]["outcome"]["coding"][0]["code"] == "incomplete"
    assert "selfcare" not in json.dumps(ra["prediction"][0])


def test_every_vignette_through_fhir_gets_the_same_result():
    vignettes = load_vignettes()
    assert len(vignettes) > 100
    for vignette in vignettes:
        plain = triage(vignette.answers)
        qr = aid_fhir.dumps(aid_fhir.response(vignette.answers))
        through = triage(aid_fhir.answers_from(qr))
        assert through.to_dict() == plain.to_dict(), vignette.id
