"""Answer validation: every wrong answer is an AnswerError naming the question and what it allows."""

import math

import pytest

from aid import AnswerError, Answers, load_knowledge


def test_valid_answers_are_canonical():
    a = Answers(
        {
            "fever": True,
            "age": 41,
            "location": ["ribs", "lower_back"],
            "onset": "sudden",
            "severity": 6,
        }
    )
    assert a["fever"] == "yes"
    assert a["age"] == 41.0
    assert a["location"] == frozenset({"ribs", "lower_back"})
    assert a.to_json() == {
        "fever": "yes",
        "age": 41,
        "location": ["lower_back", "ribs"],
        "onset": "sudden",
        "severity": 6,
    }


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
        (
            {"chest_symptoms": ["none", "tightness"]},
            "chest_symptoms",
            "'none' cannot be combined",
            "a list of any of:",
        ),
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


# -- bounds (issue 12): huge, long or deeply nested values are refused with a short message -----

from aid.answers import SHOWN_CHARS, LongNumber, shown  # noqa: E402


@pytest.mark.parametrize("digits", [401, 5000])
def test_a_huge_integer_is_out_of_range_not_an_overflow(digits):
    """Reproduction: a 401-digit integer raised OverflowError inside validate_answer."""
    with pytest.raises(AnswerError) as info:
        Answers({"age": 10**digits})
    assert info.value.question == "age"
    assert "out of range" in info.value.problem
    assert len(str(info.value)) < 200


def test_a_huge_negative_integer_and_a_huge_scale_value_are_out_of_range():
    for raw in ({"age": -(10**500)}, {"severity": 10**400}):
        with pytest.raises(AnswerError, match="out of range"):
            Answers(raw)


def test_a_long_number_from_the_json_reader_is_refused_by_every_kind_of_question():
    for question in ("age", "severity", "fever", "location"):
        with pytest.raises(AnswerError) as info:
            Answers({question: LongNumber(5000)})
        assert info.value.question == question
        assert "5,000 digits" in info.value.problem


def test_a_5_mb_answer_gives_a_one_line_message_with_at_most_80_characters_of_it():
    """Reproduction: a 5 MB string gave a 5 MB line on stderr."""
    value = "x" * 5_000_000
    with pytest.raises(AnswerError) as info:
        Answers({"fever": value})
    message = str(info.value)
    assert message.startswith("fever: unknown option 'xxx")
    assert message.count("x") <= SHOWN_CHARS
    assert "5,000,000 characters" in message and len(message) < 200


def test_a_long_unknown_key_is_cut_too():
    with pytest.raises(AnswerError) as info:
        Answers({"k" * 100_000: "yes"})
    assert info.value.problem == "unknown question"
    assert info.value.question.count("k") <= SHOWN_CHARS


def test_deep_nesting_is_refused_naming_the_question_without_recursing():
    value: list = ["ribs"]
    for _ in range(100_000):  # far deeper than repr() or json could go
        value = [value]
    with pytest.raises(AnswerError) as info:
        Answers({"location": value})
    assert info.value.question == "location"
    assert info.value.problem.startswith("unknown option [[")
    assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    "value",
    [
        "y" * 81,
        10**5000,
        -(10**90),
        [list(range(100))] * 100,
        {"a" * 500: ["b" * 500]},
        ("t",) * 1000,
        3.5,
        None,
        object(),
        LongNumber(12),
    ],
    ids=lambda v: type(v).__name__,
)
def test_shown_is_at_most_80_characters_plus_a_length_note(value):
    text = shown(value)
    body = text.split("...")[0]
    assert len(body) <= SHOWN_CHARS
    assert len(text) <= SHOWN_CHARS + 30


def test_shown_leaves_short_values_as_their_repr():
    assert shown("maybe") == "'maybe'"
    assert shown(["ribs", 3]) == "['ribs', 3]"
    assert shown(121) == "121"


def test_multi_choice_answers_read_in_questionnaire_order_whatever_the_hash_seed():
    """A set's order changes with PYTHONHASHSEED; the words of an answer must not."""
    import os
    import subprocess
    import sys

    code = (
        "from aid import load_knowledge; q = load_knowledge().questions['location'];"
        "print(q.label_of(frozenset({'flank', 'lower_back', 'ribs'})))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in range(6)
    }
    assert outputs == {
        "Lower back, Around the ribs or the side of the chest, "
        "One side of the back just under the ribs (kidney area)\n"
    }
