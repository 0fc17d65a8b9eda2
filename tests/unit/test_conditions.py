"""The `when` language: grammar, unanswered semantics, and dict/DataFrame agreement."""

import pandas as pd
import pytest

from aid.conditions import Atom, ConditionError, parse


def test_parse_all_operators():
    c = parse(
        "age>=50 & fever=yes & location in ribs|upper_back & x!=no & y<3 & z>1 & w<=2 & v exists"
    )
    assert [a.op for a in c.atoms] == [">=", "=", "in", "!=", "<", ">", "<=", "exists"]
    assert c.atoms[2] == Atom("location", "in", ("ribs", "upper_back"))
    assert c.questions == ("age", "fever", "location", "x", "y", "z", "w", "v")


@pytest.mark.parametrize("text", [None, "", "   ", float("nan")])
def test_blank_is_always_true(text):
    assert parse(text).matches({}) is True


@pytest.mark.parametrize(
    "text, hint",
    [
        ("age >> 5", "expected"),
        ("age>=old", "needs a number"),
        ("Fever=yes", "expected"),
        ("fever=yes && age>3", "expected"),
        ("fever", "expected"),
        ("location in", "expected"),
    ],
)
def test_bad_grammar_is_explained(text, hint):
    with pytest.raises(ConditionError, match=hint):
        parse(text)


def test_unanswered_makes_positive_atoms_false_and_not_equal_true():
    assert not parse("fever=yes").matches({})
    assert not parse("age>=50").matches({})
    assert not parse("location in ribs|flank").matches({})
    assert not parse("fever exists").matches({})
    assert parse("leg_symptoms_new!=no").matches({})
    assert not parse("leg_symptoms_new!=no").matches({"leg_symptoms_new": "no"})
    assert parse("leg_symptoms_new!=no").matches({"leg_symptoms_new": "yes"})
    assert parse("duration_days missing").matches({})
    assert not parse("duration_days missing").matches({"duration_days": 0.0})


def test_multi_choice_is_a_set():
    answers = {"location": frozenset({"ribs", "lower_back"})}
    assert parse("location=ribs").matches(answers)
    assert parse("location in flank|lower_back").matches(answers)
    assert not parse("location=flank").matches(answers)
    assert parse("location!=flank").matches(answers)
    assert not parse("location!=ribs").matches(answers)


def test_numbers_compare_at_the_boundary():
    assert parse("age>=50").matches({"age": 50.0})
    assert not parse("age>50").matches({"age": 50.0})
    assert parse("age<=50").matches({"age": 50.0})
    assert not parse("age<50").matches({"age": 50.0})


def test_matched_atoms_explain_partial_matches():
    c = parse("fever=yes & age>=50")
    assert c.matched_atoms({"fever": "yes", "age": 20.0}) == (Atom("fever", "=", ("yes",)),)


CASES = [
    {},
    {"fever": "yes", "age": 72.0, "location": frozenset({"ribs"})},
    {"fever": "no", "age": 50.0, "location": frozenset({"ribs", "flank"})},
    {"leg_symptoms_new": "no", "location": frozenset({"lower_back"})},
    {"age": 49.0, "leg_symptoms_new": "yes"},
]
CONDITIONS = [
    "fever=yes",
    "fever!=yes",
    "age>=50",
    "age<50",
    "age>50",
    "age<=50",
    "location=ribs",
    "location in flank|lower_back",
    "location!=ribs",
    "fever exists",
    "leg_symptoms_new!=no",
    "fever=yes & age>=50 & location=ribs",
    "absent_question!=x",
    "absent_question=x",
    "age missing",
    "location missing",
    "absent_question missing",
    "fever missing & age>=50",
]


def _frame(cases):
    rows = []
    for case in cases:
        row = {}
        for k, v in case.items():
            row[k] = ";".join(sorted(v)) if isinstance(v, frozenset) else v
        rows.append(row)
    return pd.DataFrame(rows, columns=["fever", "age", "location", "leg_symptoms_new"])


@pytest.mark.parametrize("text", CONDITIONS)
def test_dataframe_mask_agrees_with_dict(text):
    c = parse(text)
    expected = [c.matches(case) for case in CASES]
    assert c.mask(_frame(CASES)).tolist() == expected


def test_option_is_not_matched_inside_a_longer_option():
    frame = pd.DataFrame({"location": ["upper_back", "back"]})
    assert parse("location=back").mask(frame).tolist() == [False, True]
