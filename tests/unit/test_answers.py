"""Answer validation: every wrong answer is an AnswerError naming the question and what it allows."""

import math

import pytest

from aid import AnswerError, Answers, load_knowledge


def test_valid_answers_are_canonical():
    a = Answers({"fever": True, "age": 41, "location": ["ribs", "lower_back"], "onset": "sudden",
                 "severity": 6})
    assert a["fever"] == "yes"
    assert a["age"] == 41.0
    assert a["location"] == frozenset({"ribs", "lower_back"})
    assert a.to_json() == {"fever": "yes", "age": 41, "location": ["lower_back", "ribs"],
                           "onset": "sudden", "severity": 6}


@pytest.mark.parametrize("blank", [None, "", "  ", [], float("nan")])
def test_blank_is_unanswered_not_no(blank):
    a = Answers({"fever": blank})
    assert "fever" not in a and len(a) == 0


@pytest.mark.parametrize(
    "raw, question, problem, allowed",
    [
        ({"fevr": "yes"}, "fevr", "unknown question", "question ids:"),
        ({"fever": "maybe"}, "fever", "unknown option 'maybe'", "one of: yes, no"),
        ({"fever": 1}, "fever", "unknown option 1", "one of: yes, no"),
        ({"onset": "slowly"}, "onset", "unknown option 'slowly'", "one of: sudden, gradual"),
        ({"age": "forty"}, "age", "expected a number", "a number from 0 to 120 (years)"),
        ({"age": True}, "age", "expected a number", "a number from 0 to 120"),
        ({"age": 121}, "age", "out of range", "a number from 0 to 120"),
        ({"age": -1}, "age", "out of range", "a number from 0 to 120"),
        ({"age": math.inf}, "age", "not a finite number", "a number from 0 to 120"),
        ({"severity": 4.5}, "severity", "not a whole number", "a whole number from 0 to 10"),
        ({"severity": 11}, "severity", "out of range", "a whole number from 0 to 10"),
        ({"location": ["ribs", "knee"]}, "location", "unknown option 'knee'", "a list of any of:"),
        ({"location": 3}, "location", "expected a list of options", "a list of any of:"),
        ({"chest_symptoms": ["none", "tightness"]}, "chest_symptoms", "'none' cannot be combined",
         "a list of any of:"),
    ],
)
def test_wrong_answers_name_question_and_allowed(raw, question, problem, allowed):
    with pytest.raises(AnswerError) as info:
        Answers(raw)
    err = info.value
    assert err.question == question
    assert problem in err.problem
    assert allowed in err.allowed
    assert str(err).startswith(f"{question}: ")


def test_not_a_mapping():
    with pytest.raises(AnswerError, match="expected an object keyed by question id"):
        Answers(["fever", "yes"])  # type: ignore[arg-type]


def test_every_question_has_words_a_patient_reads():
    for q in load_knowledge().questions.values():
        assert q.prompt[0].isupper() and q.prompt.rstrip().endswith(("?", ".")), q.id
        jargon = ("cauda", "equina", "saddle anaesthesia", "radicul", "perineal", "paraesthesia")
        assert not any(word in q.prompt.lower() for word in jargon), q.id
