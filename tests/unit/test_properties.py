"""Property tests over thousands of generated answer sets (hypothesis).

* any valid answers give a Result;
* adding a red-flag answer never lowers urgency;
* the smallest answer set satisfying a red-flag row gives at least that row's urgency;
* invalid answers always raise AnswerError, never anything else.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from answer_strategies import valid_answers
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aid import AnswerError, Answers, Urgency, load_knowledge, triage
from aid.conditions import Atom
from aid.knowledge import Question, RedFlag

KB = load_knowledge()
QUESTIONS = list(KB.questions.values())
MANY = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def satisfying_value(atom: Atom, question: Question) -> Any:
    """The simplest answer that makes a positive atom true."""
    if atom.op in ("=", "in"):
        value = atom.values[0]
        return [value] if question.kind == "multi" else value
    if atom.op == "exists":
        if question.kind in ("number", "scale"):
            return question.minimum
        return [question.options[-1]] if question.kind == "multi" else question.options[0]
    n = atom.number
    return {">=": n, "<=": n, ">": n + 1, "<": n - 1}[atom.op]


def smallest_answers(rule: RedFlag) -> dict[str, Any]:
    """Answer only what the rule's positive atoms need, and what makes those questions asked
    (an answer to a question that is not asked is ignored, issue 9); `!=` and `missing` hold
    when unanswered."""
    answers: dict[str, Any] = {}

    def satisfy(atom: Atom) -> None:
        value = satisfying_value(atom, KB.questions[atom.question])
        if isinstance(value, list) and isinstance(answers.get(atom.question), list):
            value = sorted(set(answers[atom.question]) | set(value))
        answers[atom.question] = value

    for atom in rule.when.atoms:
        if not atom.holds_when_unanswered:
            satisfy(atom)
    pending = list(answers)
    while pending:
        for atom in KB.questions[pending.pop()].enable_when.atoms:
            if not atom.holds_when_unanswered and not atom.holds(Answers(answers)):
                satisfy(atom)
                pending.append(atom.question)
    return answers


RED_FLAG_ANSWERS = [
    (atom.question, satisfying_value(atom, KB.questions[atom.question]), rule.urgency)
    for rule in KB.red_flags
    if rule.urgency >= Urgency.URGENT
    for atom in rule.when.atoms
    if not atom.holds_when_unanswered
]


@MANY
@given(valid_answers())
def test_any_valid_answers_give_a_result(answers):
    result = triage(answers)
    assert result.urgency in Urgency
    assert result.safety_net
    assert json.loads(json.dumps(result.to_dict()))["urgency"] == result.urgency.value
    if result.urgency is Urgency.SELFCARE:
        assert result.reasons == ()
    else:
        assert max(r.urgency for r in result.reasons) is result.urgency


@MANY
@given(valid_answers(), st.sampled_from(RED_FLAG_ANSWERS))
def test_adding_a_red_flag_answer_never_lowers_urgency(answers, flag):
    question, value, _ = flag
    before = triage(answers).urgency
    extended = dict(answers)
    if question in answers:
        if KB.questions[question].kind != "multi" or answers[question] == ["none"]:
            assume(False)  # replacing an answer is a change, not an addition
        value = sorted(set(answers[question]) | set(value))
    extended[question] = value
    assert triage(extended).urgency >= before


@pytest.mark.parametrize("rule", KB.red_flags, ids=lambda r: r.id)
def test_smallest_answer_set_reaches_the_rule_urgency(rule):
    answers = smallest_answers(rule)
    result = triage(answers)
    assert rule.when.matches(Answers(answers)), answers
    assert rule.id in result.fired_rule_ids
    assert result.urgency >= rule.urgency


NOT_AN_ANSWER = st.one_of(
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.booleans(),
    st.lists(st.one_of(st.text(max_size=8), st.integers()), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.tuples(st.integers()),
)


@MANY
@given(
    st.dictionaries(
        st.one_of(st.sampled_from([q.id for q in QUESTIONS]), st.text(max_size=12)),
        NOT_AN_ANSWER,
        min_size=1,
        max_size=4,
    )
)
def test_arbitrary_input_is_valid_or_an_answer_error(raw):
    try:
        Answers(raw)
    except AnswerError as exc:
        assert exc.allowed and str(exc)
        assert exc.question in raw


@st.composite
def one_invalid_answer(draw) -> tuple[str, Any]:
    question = draw(st.sampled_from(QUESTIONS))
    if question.kind in ("number", "scale"):
        bad = draw(
            st.one_of(
                st.floats(
                    max_value=question.minimum,
                    exclude_max=True,
                    allow_nan=False,
                    allow_infinity=False,
                ),
                st.floats(
                    min_value=question.maximum,
                    exclude_min=True,
                    allow_nan=False,
                    allow_infinity=False,
                ),
                st.just(float("inf")),
                st.text(min_size=1).filter(str.strip),
                st.booleans(),
            )
        )
    elif question.kind == "multi":
        bad = draw(
            st.one_of(
                st.lists(
                    st.text(min_size=1).filter(lambda t: t not in question.options), min_size=1
                ),
                st.integers(),
            )
        )
    else:
        bad = draw(
            st.one_of(
                st.text(min_size=1).filter(lambda t: t.strip() and t not in question.options),
                st.integers(),
            )
        )
    return question.id, bad


@MANY
@given(valid_answers(), one_invalid_answer())
def test_invalid_answers_always_raise_answer_error(answers, invalid):
    question, bad = invalid
    answers = {**answers, question: bad}
    with pytest.raises(AnswerError) as info:
        triage(answers)
    assert info.value.question == question


@settings(max_examples=500, deadline=None)
@given(valid_answers(), st.text(min_size=1, max_size=20).filter(lambda t: t not in KB.questions))
def test_unknown_questions_always_raise_answer_error(answers, key):
    with pytest.raises(AnswerError) as info:
        triage({**answers, key: "yes"})
    assert info.value.question == key
