"""FHIR R4B: the questions as a Questionnaire, answers as a QuestionnaireResponse, and a triage
result as a RiskAssessment that a clinic's record system can store.

Why: a record system reads FHIR, not the aid's own JSON, and form tools such as LHC-Forms render
an SDC Questionnaire. Everything here is built from the same tables as the dashboard
(``questions.csv`` with its ``enable_when``), so the published form asks exactly what the aid
asks, and :func:`answers_from` takes its answers back through the same validation
(:class:`aid.answers.Answers`).

Every resource is a plain JSON-ready ``dict`` that has been validated with the ``fhir.resources``
R4B models before it is returned (most record systems speak R4; R4B has the same Questionnaire,
QuestionnaireResponse and RiskAssessment). The aid's own codes (urgency levels, warning-sign
rules, possible causes and every answer option) live in one CodeSystem, :func:`codesystem`.

Visibility. Each ``enable_when`` becomes FHIR ``enableWhen``, with these translations:

* ``q=v``, ``q>n`` and the other comparisons: one ``enableWhen``;
* ``q exists`` / ``q missing``: ``exists`` true / false;
* ``q in a|b``: one ``=`` per value, joined with ``enableBehavior`` ``any``;
* ``q!=v``: in the aid it also holds while ``q`` is unanswered ("not known to be v"), but FHIR's
  ``!=`` is false on an unanswered question, so it becomes ``q != v`` *or* ``q exists false``.

A condition of several atoms uses ``enableBehavior`` ``all`` when every atom is one
``enableWhen``. A condition that would need "all of (any of ...)" cannot be said with
``enableWhen`` alone; it becomes the SDC ``enableWhenExpression`` extension, a FHIRPath
expression over the response that follows the aid's semantics atom by atom.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from .answers import AnswerError, Answers, allowed_text, shown
from .conditions import NUMERIC_OPERATORS, Atom, Condition
from .knowledge import Knowledge, Question, load_knowledge
from .result import INCOMPLETE_ACTION, INCOMPLETE_LABEL, Result
from .urgency import MOST_URGENT_FIRST, Urgency

#: Where the aid's canonical URLs live. They name things; nothing needs to be served there.
#: ``.example`` is a reserved top-level domain, so the names cannot clash with a real site.
BASE = "https://back-cramp-aid.example/fhir"
QUESTIONNAIRE_URL = f"{BASE}/Questionnaire/back-cramp-aid"
CODESYSTEM_URL = f"{BASE}/CodeSystem/back-cramp-aid"
#: The pseudonymous subject ids of the encounter log (``P-0042``): an identifier system.
SUBJECT_SYSTEM = f"{BASE}/NamingSystem/subject"

# HL7 extensions and code systems used (each is named where it is used).
EXT_MIN = "http://hl7.org/fhir/StructureDefinition/minValue"
EXT_MAX = "http://hl7.org/fhir/StructureDefinition/maxValue"
EXT_ITEM_CONTROL = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"
EXT_ENTRY_FORMAT = "http://hl7.org/fhir/StructureDefinition/entryFormat"
EXT_ENABLE_WHEN_EXPRESSION = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression"
)
ITEM_CONTROL_SYSTEM = "http://hl7.org/fhir/questionnaire-item-control"
CONCEPT_PROPERTY_NOT_SELECTABLE = "http://hl7.org/fhir/concept-properties#notSelectable"

#: Link ids of the section groups and help texts. Question ids are ``[a-z][a-z0-9_]*``, so a
#: hyphen can never make one of these collide with a question.
SECTION_PREFIX = "section-"
HELP_SUFFIX = "-help"

INCOMPLETE_CODE = "incomplete"
ASSESSMENT_CODE = "triage"
DISCLAIMER = (
    "General information to help decide how soon to get care; not a diagnosis. Possible causes "
    "are possible contributing causes, never diagnoses."
)

_ITEM_TYPE = {"yesno": "choice", "choice": "choice", "multi": "choice", "number": "decimal"}
_FHIR_OPERATOR = {"=": "=", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


# --------------------------------------------------------------------------- codes


def option_code(question_id: str, option: str) -> str:
    """The aid's code for one answer option: the ``when`` atom that option makes true.

    Why ``question=option``: option ids repeat across questions with different meanings
    ("one_leg" for pain down a leg and for weakness in a leg), and one CodeSystem needs unique
    codes. The atom form is unique and reads the same as the knowledge tables.
    """
    return f"{question_id}={option}"


def _coding(code: str, display: str) -> dict[str, str]:
    return {"system": CODESYSTEM_URL, "code": code, "display": display}


def _section_link(section: str) -> str:
    return SECTION_PREFIX + re.sub(r"[^a-z0-9]+", "-", section.lower()).strip("-")


def codesystem(knowledge: Knowledge | None = None) -> dict[str, Any]:
    """The aid's own codes as one FHIR CodeSystem (version = the knowledge-base version).

    Top-level concepts group the codes and are not selectable: ``urgency`` (the four levels and
    ``incomplete``), ``red-flag`` (the rules of ``red_flags.csv``), ``cause`` (``causes.csv``),
    ``answer`` (every option of every question, as ``question=option``) and ``assessment``.
    """
    kb = knowledge or load_knowledge()
    not_selectable = [{"code": "notSelectable", "valueBoolean": True}]
    urgency = [
        {"code": u.value, "display": u.label, "definition": u.action} for u in MOST_URGENT_FIRST
    ]
    urgency.append(
        {"code": INCOMPLETE_CODE, "display": INCOMPLETE_LABEL, "definition": INCOMPLETE_ACTION}
    )
    rules = [
        {
            "code": r.id,
            "display": r.reason,
            "definition": f"{r.urgency.value}: {r.clinician_note or r.reason} (when {r.when.text})",
        }
        for r in kb.red_flags
    ]
    causes = [
        {"code": c.id, "display": c.name, "definition": c.summary} for c in kb.causes.values()
    ]
    answers = [
        {
            "code": option_code(q.id, option),
            "display": label,
            "definition": f"Answer to {q.id!r}: {q.prompt} - {label}",
        }
        for q in kb.questions.values()
        for option, label in zip(q.options, q.option_labels, strict=True)
    ]

    def group(code: str, display: str, definition: str, concepts: list) -> dict[str, Any]:
        return {
            "code": code,
            "display": display,
            "definition": definition,
            "property": not_selectable,
            "concept": concepts,
        }

    resource = {
        "resourceType": "CodeSystem",
        "id": "back-cramp-aid",
        "url": CODESYSTEM_URL,
        "version": kb.version,
        "name": "BackCrampAidCodes",
        "title": "Back Cramp Aid codes",
        "status": "active",
        "experimental": False,
        "description": "Urgency levels, warning-sign rules, possible causes and answer options "
        "of Back Cramp Aid, a decision aid for back and rib cramps. " + DISCLAIMER,
        "caseSensitive": True,
        "hierarchyMeaning": "grouped-by",
        "content": "complete",
        "property": [
            {
                "code": "notSelectable",
                "uri": CONCEPT_PROPERTY_NOT_SELECTABLE,
                "description": "A grouping concept, not a code to record",
                "type": "boolean",
            }
        ],
        "concept": [
            group("urgency", "Urgency", "How soon to get care", urgency),
            group("red-flag", "Warning-sign rule", "A rule of red_flags.csv that fired", rules),
            group("cause", "Possible contributing cause", "Never a diagnosis", causes),
            group("answer", "Answer option", "One option of one question", answers),
            {
                "code": ASSESSMENT_CODE,
                "display": "Back Cramp Aid triage",
                "definition": "How urgently to get care for back or rib cramps, and why",
            },
        ],
    }
    concepts = cast(list[dict[str, Any]], resource["concept"])
    resource["count"] = sum(1 + len(c.get("concept", ())) for c in concepts)
    return _checked("CodeSystem", resource)


# --------------------------------------------------------------------------- Questionnaire


def questionnaire(knowledge: Knowledge | None = None) -> dict[str, Any]:
    """``questions.csv`` as an SDC-style FHIR Questionnaire (one group item per section)."""
    kb = knowledge or load_knowledge()
    groups: dict[str, dict[str, Any]] = {}
    for q in kb.questions.values():
        group = groups.setdefault(
            q.section,
            {"linkId": _section_link(q.section), "text": q.section, "type": "group", "item": []},
        )
        group["item"].append(_question_item(q, kb))
    resource = {
        "resourceType": "Questionnaire",
        "id": "back-cramp-aid",
        "url": QUESTIONNAIRE_URL,
        "version": kb.version,
        "name": "BackCrampAid",
        "title": "Back Cramp Aid: back and rib cramps",
        "status": "active",
        "experimental": False,
        "subjectType": ["Patient"],
        "description": "How urgently to get care for back or rib cramps. " + DISCLAIMER,
        "item": list(groups.values()),
    }
    return _checked("Questionnaire", resource)


def _question_item(q: Question, kb: Knowledge) -> dict[str, Any]:
    item: dict[str, Any] = {"linkId": q.id, "text": q.prompt}
    extensions: list[dict[str, Any]] = []
    if q.kind in ("number", "scale"):
        assert q.minimum is not None and q.maximum is not None
        item["type"] = _ITEM_TYPE.get(q.kind, "integer")
        key = "valueDecimal" if q.kind == "number" else "valueInteger"
        low, high = (_number(q, q.minimum), _number(q, q.maximum))
        extensions += [{"url": EXT_MIN, key: low}, {"url": EXT_MAX, key: high}]
        unit = f" {q.unit}" if q.unit else ""
        extensions.append({"url": EXT_ENTRY_FORMAT, "valueString": f"{low} to {high}{unit}"})
    else:
        item["type"] = "choice"
        item["answerOption"] = [
            {"valueCoding": _coding(option_code(q.id, option), label)}
            for option, label in zip(q.options, q.option_labels, strict=True)
        ]
        control = "check-box" if q.kind == "multi" else "radio-button"
        extensions.append(
            {
                "url": EXT_ITEM_CONTROL,
                "valueCodeableConcept": {
                    "coding": [{"system": ITEM_CONTROL_SYSTEM, "code": control}]
                },
            }
        )
    if q.kind == "multi":
        item["repeats"] = True
    if q.required:
        item["required"] = True
    enable = enable_when(q.enable_when, kb)
    extensions += enable.pop("extension", [])
    item.update(enable)
    if extensions:
        item["extension"] = extensions
    if q.help:
        item["item"] = [
            {
                "linkId": q.id + HELP_SUFFIX,
                "text": q.help,
                "type": "display",
                "extension": [
                    {
                        "url": EXT_ITEM_CONTROL,
                        "valueCodeableConcept": {
                            "coding": [{"system": ITEM_CONTROL_SYSTEM, "code": "help"}]
                        },
                    }
                ],
            }
        ]
    return item


def _number(q: Question, value: float) -> int | float:
    """A bound or answer in the item's FHIR type: a whole number is written without a point
    (FHIR JSON decimals are plain numbers; Python's float repr round-trips exactly)."""
    if q.kind == "scale" or float(value).is_integer():
        return int(value)
    return float(value)


def enable_when(condition: Condition, knowledge: Knowledge | None = None) -> dict[str, Any]:
    """The FHIR form of one ``enable_when``: ``enableWhen`` (+ ``enableBehavior``), or an
    ``extension`` holding an SDC ``enableWhenExpression``, or ``{}`` for "always asked"."""
    kb = knowledge or load_knowledge()
    if not condition.atoms:
        return {}
    alternatives = [_alternatives(atom, kb.questions[atom.question]) for atom in condition.atoms]
    if len(alternatives) == 1:
        (only,) = alternatives
        return {"enableWhen": only, **({"enableBehavior": "any"} if len(only) > 1 else {})}
    if all(len(a) == 1 for a in alternatives):
        return {"enableWhen": [a[0] for a in alternatives], "enableBehavior": "all"}
    expression = " and ".join(
        f"({fhirpath_atom(atom, kb.questions[atom.question])})" for atom in condition.atoms
    )
    return {
        "extension": [
            {
                "url": EXT_ENABLE_WHEN_EXPRESSION,
                "valueExpression": {
                    "description": f"enable_when: {condition.text}",
                    "language": "text/fhirpath",
                    "expression": expression,
                },
            }
        ]
    }


def _answer_value(q: Question, value: str) -> dict[str, Any]:
    """The typed right-hand side of an enableWhen for this question."""
    if q.kind == "number":
        return {"answerDecimal": _number(q, float(value))}
    if q.kind == "scale":
        return {"answerInteger": int(float(value))}
    return {"answerCoding": _coding(option_code(q.id, value), q.label_of(value))}


def _alternatives(atom: Atom, q: Question) -> list[dict[str, Any]]:
    """One aid atom as FHIR enableWhen entries, any one of which makes it hold."""
    if atom.op == "exists":
        return [{"question": q.id, "operator": "exists", "answerBoolean": True}]
    if atom.op == "missing":
        return [{"question": q.id, "operator": "exists", "answerBoolean": False}]
    if atom.op == "in":
        return [{"question": q.id, "operator": "=", **_answer_value(q, v)} for v in atom.values]
    entry = {
        "question": q.id,
        "operator": _FHIR_OPERATOR[atom.op],
        **_answer_value(q, atom.values[0]),
    }
    if atom.op == "!=":  # the aid's != also holds while unanswered; FHIR's does not
        return [entry, {"question": q.id, "operator": "exists", "answerBoolean": False}]
    return [entry]


def fhirpath_atom(atom: Atom, q: Question) -> str:
    """One aid atom as a FHIRPath boolean over the response (``%resource``), same semantics:
    every positive atom is false when unanswered, ``!=`` and ``missing`` are true."""
    answers = f"%resource.repeat(item).where(linkId='{q.id}').answer"
    if atom.op == "exists":
        return f"{answers}.exists()"
    if atom.op == "missing":
        return f"{answers}.empty()"
    if atom.op in NUMERIC_OPERATORS:
        return f"{answers}.value.where($this {atom.op} {atom.values[0]}).exists()"
    # =, != and in: options only (knowledge.py refuses them on number questions).
    codes = " | ".join(f"'{option_code(q.id, v)}'" for v in atom.values)
    if atom.op == "!=":
        return f"{answers}.value.where(code = {codes}).empty()"
    if atom.op == "in":
        return f"{answers}.value.where(code in ({codes})).exists()"
    return f"{answers}.value.where(code = {codes}).exists()"


# --------------------------------------------------------------------------- responses


def canonical(knowledge: Knowledge | None = None) -> str:
    """``url|version`` of the Questionnaire a response must answer."""
    kb = knowledge or load_knowledge()
    return f"{QUESTIONNAIRE_URL}|{kb.version}"


def response(
    answers: Mapping[str, Any],
    *,
    subject: str | None = None,
    authored: datetime | None = None,
    knowledge: Knowledge | None = None,
) -> dict[str, Any]:
    """Answers (raw or :class:`Answers`) as a QuestionnaireResponse to :func:`questionnaire`.

    The answers are validated first (an :class:`AnswerError` names the question). Unanswered
    questions are left out, as FHIR expects; sections with no answer are left out too.
    """
    kb = knowledge or load_knowledge()
    checked = answers if isinstance(answers, Answers) else Answers(answers, kb)
    return _checked("QuestionnaireResponse", _response(checked, kb, kb.version, subject, authored))


def _response(
    answers: Mapping[str, Any],
    kb: Knowledge,
    version: str,
    subject: str | None,
    authored: datetime | None,
) -> dict[str, Any]:
    groups: dict[str, dict[str, Any]] = {}
    for q in kb.questions.values():
        if q.id in answers:
            group = groups.setdefault(
                q.section, {"linkId": _section_link(q.section), "text": q.section, "item": []}
            )
            group["item"].append(
                {"linkId": q.id, "text": q.prompt, "answer": _answers(q, answers[q.id])}
            )
    items = list(groups.values())
    # Logged answers to questions this knowledge version no longer has (log export only).
    items += [
        {"linkId": key, "answer": _answers(None, value)}
        for key, value in answers.items()
        if key not in kb.questions
    ]
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{QUESTIONNAIRE_URL}|{version}",
        "status": "completed",
        "authored": _instant(authored),
        "item": items,
    }
    if subject:
        resource["subject"] = _subject(subject)
    if not resource["item"]:
        del resource["item"]
    return resource


def _answers(q: Question | None, value: Any) -> list[dict[str, Any]]:
    """FHIR answers for one validated value. ``q`` is None (or of another kind) only for a
    logged answer to a question this knowledge version no longer asks that way: it is then
    written by its own type (a number, or text), never dropped."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if q is not None and q.kind == "number" and is_number:
        return [{"valueDecimal": _number(q, float(value))}]
    if q is not None and q.kind == "scale" and is_number and float(value).is_integer():
        return [{"valueInteger": int(value)}]
    if is_number:
        return [{"valueDecimal": value}]
    chosen = list(value) if isinstance(value, frozenset | set | list | tuple) else [value]
    if q is None or q.kind in ("number", "scale"):
        return [{"valueString": str(v)} for v in chosen]
    order = {o: i for i, o in enumerate(q.options)}
    chosen.sort(key=lambda v: (order.get(v, len(order)), str(v)))
    return [{"valueCoding": _coding(option_code(q.id, v), q.label_of(v))} for v in chosen]


def answers_from(resource: Any, knowledge: Knowledge | None = None) -> Answers:
    """Read a QuestionnaireResponse (JSON text, a dict or a fhir.resources model) back into
    validated :class:`Answers`.

    Refused, each as an :class:`AnswerError` naming the item: a resource that is not a valid
    QuestionnaireResponse, a response to another form or another version of this one (its
    questions may differ), an unknown linkId, a question answered twice, an answer of the wrong
    type, several answers to a one-answer question, or a value ``questions.csv`` does not allow.
    """
    kb = knowledge or load_knowledge()
    data = _as_dict(resource)
    expected = canonical(kb)
    got = data.get("questionnaire")
    if got != expected:
        url, _, version = str(got or "").partition("|")
        if not got:
            problem = "the response does not say which form it answers"
        elif url != QUESTIONNAIRE_URL:
            problem = f"answers another form, {shown(got)}"
        else:
            problem = (
                f"answers version {shown(version or '(none)')} of the form; this aid asks "
                f"version {kb.version} and its questions may differ"
            )
        raise AnswerError("questionnaire", problem, expected)
    _validate("QuestionnaireResponse", data)
    if data.get("status") == "entered-in-error":
        raise AnswerError(
            "status",
            "the response is marked entered-in-error; it must not be triaged",
            "in-progress, completed, amended or stopped (unanswered questions stay unknown)",
        )
    raw: dict[str, Any] = {}
    sections = {_section_link(s) for s in kb.sections}
    for item in _walk(data.get("item") or [], sections):
        link = item.get("linkId")
        q = kb.questions.get(link) if isinstance(link, str) else None
        if q is None:
            raise AnswerError(
                str(link),
                "unknown item",
                f"linkIds of {QUESTIONNAIRE_URL}: {', '.join(kb.questions)}",
            )
        if link in raw:
            raise AnswerError(q.id, "answered twice", "one item per question")
        if item.get("item"):
            raise AnswerError(q.id, "has nested items", "answers only")
        raw[q.id] = _value_of(q, item.get("answer") or [])
    return Answers(raw, kb)


def _walk(items: Sequence[Mapping[str, Any]], sections: set[str]) -> Iterable[Mapping[str, Any]]:
    """Question items, wherever the response nests them under section groups."""
    for item in items:
        if item.get("linkId") in sections:
            if item.get("answer"):
                raise AnswerError(str(item["linkId"]), "a section has no answer", "its questions")
            yield from _walk(item.get("item") or [], sections)
        else:
            yield item


def _value_of(q: Question, answers: Sequence[Mapping[str, Any]]) -> Any:
    allowed = allowed_text(q)
    values = []
    for answer in answers:
        if answer.get("item"):
            raise AnswerError(q.id, "an answer has nested items", allowed)
        kinds = [k for k in answer if k.startswith("value")]
        kind = kinds[0] if kinds else "no value"
        if q.kind in ("number", "scale"):
            if kind not in ("valueDecimal", "valueInteger"):
                raise AnswerError(
                    q.id, f"expected valueDecimal or valueInteger, got {kind}", allowed
                )
            number = answer[kind]
            if isinstance(number, Decimal):
                number = float(number)
            values.append(number)
            continue
        if kind != "valueCoding":
            raise AnswerError(q.id, f"expected valueCoding, got {kind}", allowed)
        coding = answer[kind]
        if coding.get("system") != CODESYSTEM_URL:
            raise AnswerError(
                q.id, f"a coding from {shown(coding.get('system'))}", f"codes of {CODESYSTEM_URL}"
            )
        code = str(coding.get("code") or "")
        prefix = option_code(q.id, "")
        if not code.startswith(prefix):
            raise AnswerError(q.id, f"unknown option code {shown(code)}", allowed)
        values.append(code[len(prefix) :])
    if not values:
        return None
    if q.kind == "multi":
        return values
    if len(values) > 1:
        raise AnswerError(q.id, f"{len(values)} answers to a one-answer question", allowed)
    return values[0]


# --------------------------------------------------------------------------- results


def risk_assessment(
    result: Result | Mapping[str, Any],
    response_reference: str | None = None,
    *,
    subject: str | None = None,
    occurrence: datetime | None = None,
) -> dict[str, Any]:
    """A triage result as a RiskAssessment.

    * ``prediction[0]``: the urgency as a coded outcome (the aid's ``urgency`` codes, with
      ``incomplete`` while required answers are missing), its action as text and the reasons as
      its rationale; status ``preliminary`` while incomplete, else ``final``;
    * ``basis``: the QuestionnaireResponse the result was made from (when given);
    * ``reasonCode``: the fired warning-sign rules (``red-flag`` codes, the reason as text);
    * ``prediction[1:]``: each possible cause (``cause`` codes) with its evidence as rationale;
    * ``mitigation``: what to do and where to go.

    ``result`` may be a :class:`Result` or its ``to_dict()`` form (as the encounter log stores).
    """
    data = result.to_dict() if isinstance(result, Result) else dict(result)
    incomplete = data.get("status") == "incomplete"
    level = INCOMPLETE_CODE if incomplete else data["urgency"]
    label = INCOMPLETE_LABEL if incomplete else Urgency(data["urgency"]).label
    reasons = data.get("reasons") or []
    rationale = "; ".join(f"{r['reason']} [{r['rule_id']}]" for r in reasons)
    urgency: dict[str, Any] = {
        "outcome": {"coding": [_coding(level, label)], "text": data.get("action") or label}
    }
    if rationale:
        urgency["rationale"] = "Warning signs: " + rationale
    elif incomplete:
        missing = ", ".join(data.get("unanswered_required") or [])
        urgency["rationale"] = f"Required questions unanswered: {missing}"
    else:
        urgency["rationale"] = "No warning-sign rule fired."
    predictions = [urgency]
    for cause in data.get("causes") or []:
        evidence = "; ".join(e["explanation"] for e in cause.get("evidence") or [])
        predictions.append(
            {
                "outcome": {
                    "coding": [_coding(cause["cause_id"], cause["name"])],
                    "text": f"Possible contributing cause: {cause['lay_name']}",
                },
                "rationale": f"Evidence (score {cause['score']:g}): {evidence}",
            }
        )
    service = data.get("service") or {}
    where = " ".join(
        part
        for part in (service.get("name"), service.get("instruction"), service.get("phone"))
        if part
    )
    resource: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "status": "preliminary" if incomplete else "final",
        "code": {
            "coding": [_coding(ASSESSMENT_CODE, "Back Cramp Aid triage")],
            "text": "How urgently to get care for back or rib cramps",
        },
        "method": {
            "text": f"Back Cramp Aid rules, knowledge-base version {data.get('kb_version', '')}"
        },
        "subject": _subject(subject),
        "occurrenceDateTime": _instant(occurrence),
        "prediction": predictions,
        "mitigation": " ".join(
            p for p in (data.get("action"), where and f"Where to go: {where}") if p
        ),
        "note": [{"text": DISCLAIMER}],
    }
    if reasons:
        resource["reasonCode"] = [
            {"coding": [_coding(r["rule_id"], r["reason"])], "text": r["reason"]} for r in reasons
        ]
    if response_reference:
        resource["basis"] = [
            {"reference": response_reference, "type": "QuestionnaireResponse", "display": "answers"}
        ]
    return _checked("RiskAssessment", resource)


def result(
    result: Result,
    response: Mapping[str, Any],
    *,
    subject: str | None = None,
    occurrence: datetime | None = None,
) -> dict[str, Any]:
    """A Bundle (type ``collection``) of the QuestionnaireResponse and the RiskAssessment made
    from it, the second pointing at the first by its ``urn:uuid`` full URL."""
    return bundle([(response, result)], subject=subject, occurrence=occurrence)


def bundle(
    encounters: Iterable[tuple[Mapping[str, Any], Result | Mapping[str, Any]]],
    *,
    subject: str | None = None,
    occurrence: datetime | None = None,
) -> dict[str, Any]:
    """Several (QuestionnaireResponse, result) pairs as one collection Bundle."""
    entries = []
    for qr, res in encounters:
        qr_url = f"urn:uuid:{uuid.uuid4()}"
        qr_subject = (qr.get("subject") or {}).get("identifier", {}).get("value")
        when = occurrence or _parse_instant(qr.get("authored"))
        ra = risk_assessment(res, qr_url, subject=subject or qr_subject, occurrence=when)
        entries.append({"fullUrl": qr_url, "resource": dict(qr)})
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": ra})
    resource = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _instant(None),
        "entry": entries,
    }
    return _checked("Bundle", resource)


def bundle_json(result: Result, answers: Mapping[str, Any], *, subject: str | None = None) -> str:
    """The dashboard's "FHIR Bundle (JSON)" download: the answers as a QuestionnaireResponse and
    ``result`` as a RiskAssessment in one collection Bundle, as JSON text.

    ``answers`` are those the result was computed from (raw or :class:`Answers`); an answer
    that does not validate raises :class:`AnswerError`, as :func:`aid.triage` would have.
    """
    return dumps(bundle([(response(answers, subject=subject), result)], subject=subject))


def log_bundle(frame: Any) -> dict[str, Any]:
    """The encounter log (``EncounterLog.to_frame()``) as one Bundle: per encounter its
    answers as a QuestionnaireResponse (to the form version it was triaged with) and its stored
    result as a RiskAssessment. Nothing is re-triaged: the record holds what the person saw."""
    kb = load_knowledge()
    pairs = []
    for row in frame.itertuples(index=False):
        created = row.created_utc.to_pydatetime()
        subject = row.subject if isinstance(row.subject, str) and row.subject else None
        answers = json.loads(row.answers_json)
        qr = _response(answers, kb, row.kb_version, subject, created)
        qr["identifier"] = {"system": f"{BASE}/NamingSystem/encounter", "value": str(row.id)}
        pairs.append((_checked("QuestionnaireResponse", qr), json.loads(row.result_json)))
    return bundle(pairs)


# --------------------------------------------------------------------------- helpers


def dumps(resource: Mapping[str, Any]) -> str:
    """JSON text of a resource (decimals written as numbers, as FHIR JSON wants)."""
    return json.dumps(resource, indent=2, ensure_ascii=False, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _subject(subject: str | None) -> dict[str, Any]:
    if subject:
        return {"type": "Patient", "identifier": {"system": SUBJECT_SYSTEM, "value": subject}}
    return {"type": "Patient", "display": "not identified (the aid asks for no identity)"}


def _instant(when: datetime | None) -> str:
    when = (when or datetime.now(UTC)).astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _parse_instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _as_dict(resource: Any) -> dict[str, Any]:
    if isinstance(resource, (str, bytes)):
        try:
            resource = json.loads(resource)
        except ValueError as exc:
            raise AnswerError("QuestionnaireResponse", f"not JSON ({exc})", "FHIR JSON") from None
    if hasattr(resource, "model_dump"):
        resource = json.loads(resource.model_dump_json(by_alias=True, exclude_none=True))
    if not isinstance(resource, Mapping):
        raise AnswerError(
            "QuestionnaireResponse",
            f"expected a JSON object, got {type(resource).__name__}",
            "a FHIR QuestionnaireResponse",
        )
    if resource.get("resourceType") != "QuestionnaireResponse":
        raise AnswerError(
            "resourceType",
            f"expected QuestionnaireResponse, got {shown(resource.get('resourceType'))}",
            "QuestionnaireResponse",
        )
    return dict(resource)


def _model(kind: str) -> Any:
    from importlib import import_module

    module = import_module(f"fhir.resources.R4B.{kind.lower()}")
    return getattr(module, kind)


def _validate(kind: str, data: Mapping[str, Any]) -> None:
    """Validate with fhir.resources; an invalid response is an AnswerError naming the item."""
    from pydantic import ValidationError

    payload = {k: v for k, v in data.items() if k != "resourceType"}
    try:
        _model(kind).model_validate(json.loads(dumps(payload)))
    except ValidationError as exc:
        first = exc.errors()[0]
        where: Any = data
        link = kind
        for step in first.get("loc", ()):
            try:
                where = where[step]
            except (KeyError, IndexError, TypeError):
                break
            if isinstance(where, Mapping) and isinstance(where.get("linkId"), str):
                link = where["linkId"]
        path = ".".join(str(step) for step in first.get("loc", ()))
        raise AnswerError(
            link, f"not a valid FHIR {kind}: {first.get('msg')} at {path}", f"FHIR R4B {kind}"
        ) from None


def _checked(kind: str, resource: dict[str, Any]) -> dict[str, Any]:
    """Validate what the aid writes; a failure here is a bug in this module, so it raises."""
    payload = {k: v for k, v in resource.items() if k != "resourceType"}
    _model(kind).model_validate(json.loads(dumps(payload)))
    return resource
