"""The vignettes: valid data; on the development split, no missed emergency and accuracy floors;
the validation split scored and reported, never tuned on.

Gold labels were written from clinical judgement before running the engine (see each vignette's
``rationale``); a failure here means the rules or the knowledge changed behaviour on a written
case, not that the gold label should be edited. ``pytest -s tests/unit/test_vignettes.py`` prints
both splits' tables (also ``python -m aid.vignettes``).

The validation split carries no accuracy floor on purpose: a floor would make it a tuning target.
Its figures are printed and reported in the issue notes, before and after each rule change.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aid import Answers, Urgency, load_knowledge, triage
from aid.vignettes import (
    DEFAULT_PATH,
    Evaluation,
    Vignette,
    VignetteError,
    evaluate,
    load_vignettes,
)

KB = load_knowledge()
VIGNETTES = load_vignettes()
DEVELOPMENT = [v for v in VIGNETTES if v.split == "development"]
VALIDATION = [v for v in VIGNETTES if v.split == "validation"]
PUBLISHED = [v for v in VIGNETTES if v.summary]
EMERGENCIES = [v for v in DEVELOPMENT if v.gold_urgency == Urgency.EMERGENCY]

#: At least this many cases, so one miss moves the rate by little.
MIN_CASES = 40
#: The independent library (issue 8): published cases, and how many of them validate.
MIN_PUBLISHED, MIN_VALIDATION = 150, 60
#: Each level needs enough cases to be measured; self-care most of all (Semigran 2015).
MIN_PER_LEVEL = 10
#: Development split floors (the rules were written beside these cases; the validation split,
#: which they were not, is reported instead).
MIN_EXACT = 0.85
MAX_UNDER = 0.05
MIN_SELFCARE = 0.80
MIN_FIRST_CAUSE_TOP = 0.80

#: Development cases the rules knowingly miss below the gold level, each with the reason. They
#: are strict xfails: when a rule change catches one, the test fails until it leaves this list.
KNOWN_UNDER = {
    "V15-s2-post4-motorbike-pull": "a minor strain with no flag: the revised policy says self-care",
    "V109-flank-pain-blood-in-urine": "blood in urine without colic or fever is soon in the policy",
    "N1-25-monthly-spasms-crawling": "the patient called more frequent flares 'usual'",
    "N1-31-gardening-strain-worse-on-codeine": "worsening strain is soon in the policy; gold says today",
    "N2-17-pe-on-pill-back-pain-breathing": "low back pain on breathing in after regular exercise: "
    "the pill is not a listed clot risk, and exercise counts as a strain",
    "N2-27-aortic-ulcer-midthoracic-hypertensive": "no sudden or non-mechanical feature was given",
    "N3-28-68m-searing-rib-pain-golf": "a golf-swing strain at 68 with no other flag",
    "N4-30-40-weeks-tummy-and-back-ache": "at term without rhythmic pain the form has no labour sign",
    "N5-31-hairdresser-tripping-left-foot": "the patient left leg weakness unanswered",
}


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    return evaluate(DEVELOPMENT, KB)


@pytest.fixture(scope="module")
def validation() -> Evaluation:
    return evaluate(VALIDATION, KB)


# ------------------------------------------------------------------ the data itself


def test_enough_unique_cases_at_every_level():
    ids = [v.id for v in VIGNETTES]
    assert len(ids) >= MIN_CASES
    assert len(ids) == len(set(ids))
    for split in (DEVELOPMENT, VALIDATION):
        for level in Urgency:
            count = sum(v.gold_urgency == level for v in split)
            assert count >= MIN_PER_LEVEL, f"only {count} gold-{level.value} vignettes"


def test_the_independent_library_cites_sources_and_keeps_the_patients_words():
    assert len(PUBLISHED) >= MIN_PUBLISHED
    assert len(VALIDATION) >= MIN_VALIDATION
    assert all(v.summary for v in VALIDATION), "every validation case keeps the patient's words"
    for v in PUBLISHED:
        assert len(v.summary.split()) >= 15, v.id
        assert "http" in v.origin or "doi" in v.origin.lower() or "," in v.origin, v.id


@pytest.mark.parametrize("vignette", VIGNETTES, ids=lambda v: v.id)
def test_vignette_is_valid(vignette: Vignette):
    answers = Answers(vignette.answers, KB)  # raises AnswerError naming the question
    assert len(answers) == len(vignette.answers), "an answer is blank: leave it out instead"
    assert isinstance(vignette.gold_urgency, Urgency)
    assert vignette.gold_causes == tuple(dict.fromkeys(vignette.gold_causes)), "duplicate cause"
    for cause in vignette.gold_causes:
        assert cause in KB.causes, f"{cause!r} is not a cause id in causes.csv"
    for qid in vignette.answers:
        # A person is never asked a hidden question, so a vignette must not answer one.
        assert KB.questions[qid].enable_when.matches(answers), f"{qid} is hidden by enable_when"
    for qid in ("location", "duration_days", "severity", "age"):
        assert qid in answers, f"required question {qid} unanswered"
    if not vignette.summary:  # hand-written cases; published ones answer all the words allow
        open_questions = [
            q
            for q in KB.questions.values()
            if q.id not in answers and q.enable_when.matches(answers)
        ]
        assert open_questions, "real people leave some questions unanswered"
    assert vignette.title and vignette.origin and vignette.rationale


# ------------------------------------------------------------------ safety


def _known(vignettes: list[Vignette]) -> list:
    return [
        pytest.param(v, marks=pytest.mark.xfail(strict=True, reason=KNOWN_UNDER[v.id]))
        if v.id in KNOWN_UNDER
        else v
        for v in vignettes
    ]


@pytest.mark.parametrize("vignette", _known(EMERGENCIES), ids=lambda v: v.id)
def test_every_gold_emergency_is_an_emergency(vignette: Vignette):
    result = triage(vignette.answers, KB)
    assert result.urgency == Urgency.EMERGENCY, [r.rule_id for r in result.reasons]


def test_known_misses_are_development_cases():
    dev = {v.id for v in DEVELOPMENT}
    assert set(KNOWN_UNDER) <= dev, "a validation case is never listed: it is scored, not excused"


@pytest.mark.parametrize("vignette", _known(DEVELOPMENT), ids=lambda v: v.id)
def test_no_under_triage(vignette: Vignette):
    result = triage(vignette.answers, KB)
    assert result.urgency >= vignette.gold_urgency, (
        f"gold {vignette.gold_urgency.value}, engine {result.urgency.value}: "
        f"{[r.rule_id for r in result.reasons]}"
    )


#: Self-care cases the engine already calls self-care (the over-triaged rest count in the tables).
SELFCARE = [
    v
    for v in DEVELOPMENT
    if v.gold_urgency == Urgency.SELFCARE and triage(v.answers, KB).urgency == Urgency.SELFCARE
]


@pytest.mark.parametrize("vignette", SELFCARE, ids=lambda v: v.id)
def test_self_care_stays_self_care_when_every_warning_sign_is_denied(vignette: Vignette):
    """Answering the remaining warning-sign questions "no" must not over-triage (Semigran 2015)."""
    answers = dict(vignette.answers)
    for q in KB.questions.values():
        if q.section == "Warning signs" and q.id not in answers and q.enable_when.matches(answers):
            answers[q.id] = ["none"] if q.kind == "multi" else "no"
    result = triage(answers, KB)
    assert result.urgency == Urgency.SELFCARE, [r.rule_id for r in result.reasons]


# ------------------------------------------------------------------ accuracy


def test_accuracy_table(evaluation: Evaluation):
    print()
    print(evaluation.table())
    assert evaluation.under <= len(KNOWN_UNDER)
    assert evaluation.under_rate <= MAX_UNDER, evaluation.table()
    assert evaluation.exact_rate >= MIN_EXACT, evaluation.table()
    # Semigran 2015: checkers were right on only a third of self-care cases (they over-triage).
    right, cases = evaluation.selfcare_right
    assert right / cases >= MIN_SELFCARE, evaluation.table()


def test_validation_split_is_scored_and_reported(validation: Evaluation):
    """Printed, never asserted against a floor (see the module docstring)."""
    print()
    print("validation split:")
    print("\n".join(validation.summary_lines()))
    print(validation.confusion_table())
    assert validation.cases == len(VALIDATION) >= MIN_VALIDATION
    assert sum(validation.confusion().values()) == validation.cases


def test_gold_causes_are_shown(evaluation: Evaluation):
    assert evaluation.gold_causes > 0
    top, with_gold = evaluation.first_cause_top
    assert top / with_gold >= MIN_FIRST_CAUSE_TOP, evaluation.table()


def test_table_counts_add_up(evaluation: Evaluation):
    assert sum(r.cases for r in evaluation.rows) == evaluation.cases == len(DEVELOPMENT)
    for r in evaluation.rows:
        assert r.exact + r.over + r.under == r.cases
    assert [r.level for r in evaluation.rows] == sorted(Urgency, reverse=True)
    # Nothing can be over-triaged above emergency or under-triaged below self-care.
    assert evaluation.rows[0].over == 0 and evaluation.rows[-1].under == 0


def test_evaluate_sees_a_miss(tmp_path: Path):
    """The scorer itself can fail: an emergency labelled self-care counts as over-triage."""
    raw = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    emergency = next(v for v in raw if v["gold_urgency"] == "emergency")
    mislabelled = {**emergency, "gold_urgency": "selfcare", "gold_causes": ["menstrual_cramps"]}
    path = tmp_path / "one.json"
    path.write_text(json.dumps([mislabelled]))
    result = evaluate(load_vignettes(path), KB)
    assert (result.cases, result.exact, result.over, result.under) == (1, 0, 1, 0)
    assert result.cause_hit_rate == 0.0
    assert result.disagreements()[0].vignette.id == emergency["id"]
    assert "menstrual_cramps" in result.table()


# ------------------------------------------------------------------ the loader


def _write(tmp_path: Path, cases: list[dict]) -> Path:
    path = tmp_path / "v.json"
    path.write_text(json.dumps(cases))
    return path


GOOD = {
    "id": "X1",
    "title": "t",
    "origin": "o",
    "answers": {"location": ["ribs"]},
    "gold_urgency": "selfcare",
    "gold_causes": [],
    "rationale": "r",
}


@pytest.mark.parametrize(
    "cases, message",
    [
        ([GOOD, GOOD], "duplicate id"),
        ([{**GOOD, "gold_urgency": "later"}], "gold_urgency 'later' is not one of"),
        ([{k: v for k, v in GOOD.items() if k != "rationale"}], "missing fields ['rationale']"),
        ([{**GOOD, "extra": 1}], "unknown fields ['extra']"),
        ([{**GOOD, "gold_causes": "muscle_strain"}], "gold_causes must be a list"),
        ([{**GOOD, "answers": ["ribs"]}], "answers must be an object"),
        ({"not": "a list"}, "expected a JSON list"),
    ],
)
def test_loader_names_the_problem(tmp_path: Path, cases, message: str):
    with pytest.raises(VignetteError, match="v.json") as info:
        load_vignettes(_write(tmp_path, cases))
    assert message in str(info.value)


def test_loader_reads_a_good_file(tmp_path: Path):
    (v,) = load_vignettes(_write(tmp_path, [GOOD]))
    assert v.id == "X1" and v.gold_urgency == Urgency.SELFCARE and v.gold_causes == ()
    with pytest.raises(TypeError):
        v.answers["age"] = 3  # type: ignore[index]  # read-only: a test cannot alter the data


def test_loader_reads_split_and_summary_and_names_a_bad_split(tmp_path: Path):
    cases = [
        {**GOOD, "id": "D1"},
        {**GOOD, "id": "V1", "split": "validation", "summary": "my words"},
    ]
    path = _write(tmp_path, cases)
    assert [v.id for v in load_vignettes(path, split="validation")] == ["V1"]
    (d, v) = load_vignettes(path)
    assert (d.split, d.summary) == ("development", "") and (v.split, v.summary) == (
        "validation",
        "my words",
    )
    with pytest.raises(VignetteError, match="split 'test' is not one of development, validation"):
        load_vignettes(_write(tmp_path, [{**GOOD, "split": "test"}]))


def test_splits_are_scored_apart_never_pooled():
    from aid.vignettes import evaluate_splits

    splits = evaluate_splits(VIGNETTES, KB)
    assert list(splits) == ["development", "validation"]
    assert splits["development"].cases == len(DEVELOPMENT)
    assert splits["validation"].cases == len(VALIDATION)
    assert {o.vignette.split for o in splits["validation"].outcomes} == {"validation"}


def test_cli_summary_prints_each_split_without_naming_cases(capsys):
    from aid.vignettes import main

    main(["--summary"])
    out = capsys.readouterr().out
    assert "== development split" in out and "== validation split" in out
    assert "first gold cause in the top 3" in out
    assert not any(v.id in out for v in VALIDATION), "--summary never lists a case"
