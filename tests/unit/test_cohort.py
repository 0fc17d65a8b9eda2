"""``aid.cohort.triage_frame`` agrees with ``aid.triage`` row by row, and fails bad rows loudly.

The agreement is a hypothesis property over generated frames (valid answers in both cell forms a
caller may use: Python values and CSV text; several block sizes). Bad cells are generated too: the
bad row gets ``urgency == "error"`` and a message naming the question and what it allows, while
every other row in the same frame is still triaged exactly as ``aid.triage`` would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from answer_strategies import value_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aid import AnswerError, load_knowledge, triage
from aid import __main__ as cli
from aid.answers import allowed_text
from aid.cohort import (
    ERROR,
    OUTPUT_COLUMNS,
    REVIEW_ORDER,
    CohortError,
    plot_overview,
    read_export,
    synthetic_frame,
    triage_frame,
    worklist,
)
from aid.knowledge import Question

KB = load_knowledge()
QUESTIONS = list(KB.questions.values())
ROOT = Path(__file__).resolve().parents[2]
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ strategies


def invalid_for(question: Question) -> st.SearchStrategy[tuple[Any, Any]]:
    """(cell, the same mistake as aid.triage would receive it) for one question."""
    if question.kind in ("number", "scale"):
        options = [
            (question.maximum + 1, question.maximum + 1),
            ("abc", "abc"),
            (question.minimum - 1, question.minimum - 1),
        ]
        if question.kind == "scale":
            options.append((question.minimum + 0.5, question.minimum + 0.5))
        return st.sampled_from(options)
    if question.kind == "multi":
        real = [o for o in question.options if o != "none"]
        options = [(f"{real[0]};not_an_option", [real[0], "not_an_option"])]
        if "none" in question.options:
            options.append((f"none;{real[0]}", ["none", real[0]]))
        return st.sampled_from(options)
    return st.sampled_from(
        [("Yes", "Yes"), ("maybe", "maybe"), (question.options[0].upper() + "x",) * 2]
    )


@st.composite
def answer_rows(draw, min_size: int = 1) -> list[dict[str, Any]]:
    n = draw(st.integers(min_size, 12))
    rows = []
    for _ in range(n):
        chosen = draw(st.lists(st.sampled_from(QUESTIONS), unique_by=lambda q: q.id, max_size=25))
        rows.append({q.id: draw(value_for(q)) for q in chosen})
    return rows


def as_cell(question: Question, value: Any, text: bool) -> Any:
    """One answer in a cohort cell: multi joined by ';'; as CSV text when `text`."""
    if question.kind == "multi":
        return ";".join(value)
    if isinstance(value, bool):
        return ("yes" if value else "no") if text else value
    if text and isinstance(value, (int, float)):
        return repr(value)
    return value


def build_frame(rows: list[dict[str, Any]], text: bool, extra_empty: list[str]) -> pd.DataFrame:
    cells = [
        {qid: as_cell(KB.questions[qid], value, text) for qid, value in row.items()} for row in rows
    ]
    frame = pd.DataFrame(cells, index=pd.RangeIndex(len(rows)))
    for qid in extra_empty:  # a column present but empty for everyone is unanswered, not "no"
        if qid not in frame.columns:
            frame[qid] = "" if text else None
    if text:
        frame = frame.astype(object).where(frame.notna(), "")
    frame.insert(0, "subject", [f"S{i}" for i in range(len(rows))])
    return frame


def expected(answers: dict[str, Any]) -> dict[str, str]:
    result = triage(answers)
    return {
        "urgency": "incomplete" if result.incomplete else result.urgency.value,
        "service": result.service.id,
        "top_cause": result.causes[0].cause_id if result.causes else "",
        "red_flags": ";".join(result.fired_rule_ids),
        "unanswered_red_flags": ";".join(u.question for u in result.unanswered),
        "ignored_answers": ";".join(i.question_id for i in result.ignored),
        "error": "",
    }


def observed(out: pd.DataFrame, i: int) -> dict[str, str]:
    return {name: str(out[name].iloc[i]) for name in OUTPUT_COLUMNS}


# ------------------------------------------------------------------ agreement


@SETTINGS
@given(
    rows=answer_rows(),
    text=st.booleans(),
    block_rows=st.sampled_from([1, 3, 1000]),
    extra_empty=st.lists(st.sampled_from([q.id for q in QUESTIONS]), max_size=5),
)
def test_agrees_with_triage_row_by_row(rows, text, block_rows, extra_empty):
    out = triage_frame(build_frame(rows, text, extra_empty), block_rows=block_rows)
    assert len(out) == len(rows)
    assert list(out["subject"]) == [f"S{i}" for i in range(len(rows))]
    for i, answers in enumerate(rows):
        assert observed(out, i) == expected(answers), (i, answers)


@SETTINGS
@given(rows=answer_rows(min_size=2), data=st.data(), text=st.booleans())
def test_bad_rows_are_reported_and_the_others_still_agree(rows, data, text):
    bad_rows = data.draw(st.sets(st.integers(0, len(rows) - 1), min_size=1, max_size=len(rows) - 1))
    mistakes: dict[int, tuple[Question, Any]] = {}
    for i in bad_rows:
        question = data.draw(st.sampled_from(QUESTIONS))
        cell, as_sent = data.draw(invalid_for(question))
        rows[i] = {**rows[i], question.id: as_sent}
        mistakes[i] = (question, cell)
    frame = build_frame([{k: v for k, v in r.items()} for r in rows], text, [])
    for i, (question, cell) in mistakes.items():
        frame[question.id] = frame[question.id].astype(object)
        frame.loc[i, question.id] = cell
    out = triage_frame(frame)
    assert len(out) == len(rows)  # never dropped
    for i, answers in enumerate(rows):
        if i in mistakes:
            question, _ = mistakes[i]
            with pytest.raises(AnswerError):
                triage(answers)
            got = observed(out, i)
            assert got["urgency"] == ERROR
            assert got["top_cause"] == got["red_flags"] == got["unanswered_red_flags"] == ""
            assert f"{question.id}: " in got["error"]
            assert allowed_text(question) in got["error"]
        else:
            assert observed(out, i) == expected(answers), (i, answers)


# ------------------------------------------------------------------ examples


def test_fired_rules_and_service_are_listed_like_in_result():
    answers = {
        "fever": "yes",
        "blood_stool": "yes",
        "age": 40,
        "pregnant": "yes",
        "vaginal_bleeding": "yes",
    }
    out = triage_frame(pd.DataFrame([answers]))
    flags = str(out["red_flags"].iloc[0]).split(";")
    assert str(out["urgency"].iloc[0]) == "emergency"
    assert tuple(flags) == triage(answers).fired_rule_ids
    assert str(out["service"].iloc[0]) == "maternity_unit" == triage(answers).service.id


def test_required_answers_missing_is_incomplete_not_selfcare():
    """Issue 12: a row with the required questions empty never reads as self-care."""
    frame = pd.DataFrame(
        {
            "subject": ["empty", "full"],
            "location": ["", "lower_back"],
            "duration_days": ["", "1"],
            "severity": ["", "3"],
            "age": ["", "30"],
        }
    )
    out = triage_frame(frame)
    assert list(out["urgency"]) == ["incomplete", "selfcare"]
    assert (
        triage({}).incomplete
        and not triage(
            {"location": ["lower_back"], "duration_days": 1, "severity": 3, "age": 30}
        ).incomplete
    )


def test_one_bad_cell_fails_only_its_row_with_a_clear_message():
    frame = pd.DataFrame(
        {
            "subject": ["ok", "bad-option", "bad-number", "not-a-number", "none-plus"],
            "fever": ["no", "Yes", "no", "no", "no"],
            "age": ["40", "41", "200", "forty", "42"],
            "history": ["none", "none", "none", "none", "none;cancer"],
        }
    )
    out = triage_frame(frame).set_index("subject")
    assert out.loc["ok", "error"] == ""
    assert out.loc["ok", "urgency"] != ERROR
    assert out.loc["bad-option", "error"] == "fever: unknown option 'Yes'; allowed: one of: yes, no"
    assert out.loc["bad-number", "error"].startswith("age: 200 is out of range; allowed: a number")
    assert out.loc["not-a-number", "error"].startswith("age: expected a number, got 'forty'")
    assert "'none' cannot be combined" in out.loc["none-plus", "error"]
    assert (
        out.loc[["bad-option", "bad-number", "not-a-number", "none-plus"], "urgency"] == ERROR
    ).all()


def test_several_bad_cells_in_one_row_are_all_named():
    out = triage_frame(pd.DataFrame({"fever": ["maybe"], "age": ["-3"]}))
    message = str(out["error"].iloc[0])
    assert "fever: unknown option 'maybe'" in message and "age: -3 is out of range" in message


def test_unknown_columns_are_an_error_naming_them():
    frame = pd.DataFrame({"bladder_troubl": ["yes"], "name": ["Ann"], "fever": ["no"]})
    with pytest.raises(CohortError) as caught:
        triage_frame(frame)
    message = str(caught.value)
    assert "'bladder_troubl' (did you mean 'bladder_trouble'?)" in message
    assert "'name'" in message and "keep" in message


def test_kept_columns_are_carried_through_untouched():
    frame = pd.DataFrame(
        {"clinic": ["north", "south"], "subject": ["a", "b"], "fever": ["yes", ""]}
    )
    out = triage_frame(frame, keep=["clinic"])
    assert list(out.columns) == ["clinic", "subject", "fever", *OUTPUT_COLUMNS]
    assert list(out["clinic"]) == ["north", "south"]
    assert list(out["fever"]) == ["yes", ""]  # the input is never rewritten
    assert list(out["urgency"]) == ["urgent", "incomplete"]


def test_result_columns_cannot_clash_with_input_columns():
    with pytest.raises(CohortError, match="'urgency' would be overwritten"):
        triage_frame(pd.DataFrame({"urgency": ["x"]}), keep=["urgency"])


def test_empty_frame_gives_empty_result_with_all_columns():
    out = triage_frame(pd.DataFrame({"fever": pd.Series([], dtype=str)}))
    assert len(out) == 0 and list(out.columns) == ["fever", *OUTPUT_COLUMNS]


def test_worklist_puts_emergencies_first_then_errors():
    frame = pd.DataFrame(
        {
            "subject": ["self", "err", "emerg", "urgent"],
            "fever": ["no", "Yes", "no", "yes"],
            "incontinence": ["no", "no", "yes", "no"],
        }
    )
    ordered = worklist(triage_frame(frame))
    assert list(ordered["subject"]) == ["emerg", "err", "urgent", "self"]
    assert list(REVIEW_ORDER[:2]) == ["emergency", ERROR]


# ------------------------------------------------------------------ synthetic export + CLI


def test_synthetic_frame_is_seeded_and_valid_apart_from_planted_errors():
    a = synthetic_frame(400, seed=7, bad_fraction=0.01)
    b = synthetic_frame(400, seed=7, bad_fraction=0.01)
    pd.testing.assert_frame_equal(a, b)
    out = triage_frame(a)
    assert (out["urgency"] == ERROR).sum() == 4
    counts = out["urgency"].value_counts()
    assert counts["selfcare"] + counts["soon"] > counts["emergency"]  # a clinic, not an ED


def test_committed_sample_is_what_the_seeded_script_makes(tmp_path):
    sample = ROOT / "data" / "samples" / "clinic_export.csv"
    made = tmp_path / "clinic_export.csv"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_sample.py"), "--out", str(made)], check=True
    )
    assert made.read_bytes() == sample.read_bytes(), (
        "data/samples is stale: run `make notebooks` (it regenerates the sample first)"
    )


def test_cli_writes_the_triaged_file(tmp_path, capsys):
    source = tmp_path / "in.csv"
    synthetic_frame(300, seed=3, bad_fraction=0.01).to_csv(source, index=False)
    target = tmp_path / "out.csv"
    assert cli.main(["cohort", str(source), str(target)]) == 0
    written = read_export(str(target))
    direct = triage_frame(read_export(str(source)))
    assert list(written.columns) == list(direct.columns)
    for name in OUTPUT_COLUMNS:
        assert list(written[name]) == [str(v) for v in direct[name]]
    err = capsys.readouterr().err
    assert "300 rows" in err and "3 could not be triaged" in err
    assert "\r" not in err  # short file: no progress bar


def test_cli_progress_bar_on_long_files(tmp_path):
    source = tmp_path / "long.csv"
    source.write_text("subject,fever,age\n" + "".join(f"P{i},no,{i % 90}\n" for i in range(60_000)))
    target = tmp_path / "out.csv"
    run = subprocess.run(
        [sys.executable, "-m", "aid", "cohort", str(source), str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "100%" in run.stderr and "60,000/60,000 rows" in run.stderr
    assert len(read_export(str(target))) == 60_000


def test_cli_unknown_column_is_a_clear_error(tmp_path, capsys):
    source = tmp_path / "in.csv"
    pd.DataFrame({"fevr": ["yes"]}).to_csv(source, index=False)
    assert cli.main(["cohort", str(source), str(tmp_path / "out.csv")]) == 2
    assert "did you mean 'fever'" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


def test_cli_keep_option_carries_a_column(tmp_path):
    source = tmp_path / "in.csv"
    pd.DataFrame({"clinic": ["n"], "fever": ["yes"]}).to_csv(source, index=False)
    target = tmp_path / "out.csv"
    assert cli.main(["cohort", str(source), str(target), "--keep", "clinic"]) == 0
    assert list(read_export(str(target))["clinic"]) == ["n"]


def test_number_text_forms():
    frame = pd.DataFrame(
        {"age": [" 45 ", "45.0", "nan", "inf", ""], "severity": ["5", "5", "5", "5", "2.5"]}
    )
    out = triage_frame(frame)
    errors = [str(e) for e in out["error"]]
    assert errors[0] == errors[1] == ""
    assert "age: expected a number, got 'nan'" in errors[2]
    assert "age: inf is not a finite number" in errors[3]
    assert "severity: 2.5 is not a whole number" in errors[4]


def test_categorical_and_text_columns_give_the_same_result():
    sample = read_export(str(ROOT / "data" / "samples" / "clinic_export.csv"))
    as_categories = sample.astype("category")
    text, categorical = triage_frame(sample), triage_frame(as_categories)
    for name in OUTPUT_COLUMNS:
        assert list(text[name]) == list(categorical[name])


def test_every_vignette_as_one_frame_agrees_with_triage():
    """The written cases (realistic answer sets, every level) as one clinic export."""
    from aid.vignettes import load_vignettes

    vignettes = load_vignettes()
    rows = [dict(v.answers) for v in vignettes]
    out = triage_frame(build_frame(rows, text=True, extra_empty=[]), block_rows=17)
    for i, answers in enumerate(rows):
        assert observed(out, i) == expected(answers), vignettes[i].id


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("subject,fever\nA,yes\nB,yes,extra,fields\n", "the header has 2, row 2 (line 3) has 4"),
        ('subject,fever\nA,"yes\n', "not a readable CSV file"),
    ],
)
def test_cli_unreadable_csv_is_a_clear_error_and_writes_nothing(tmp_path, capsys, content, message):
    source = tmp_path / "in.csv"
    source.write_text(content)
    assert cli.main(["cohort", str(source), str(tmp_path / "out.csv")]) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]  # no partial output left


def test_progress_is_reported_after_each_block():
    seen: list[int] = []
    triage_frame(pd.DataFrame({"fever": ["no"] * 25}), block_rows=10, progress=seen.append)
    assert seen == [10, 20, 25]


def test_overview_charts_colour_every_review_category_including_incomplete_and_error():
    import matplotlib

    matplotlib.use("Agg")
    frame = pd.DataFrame(
        {"subject": ["a", "b", "c"], "fever": ["yes", "", "maybe"], "age": ["40", "", "40"]}
    )
    triaged = triage_frame(frame)
    assert set(triaged["urgency"]) == {"urgent", "incomplete", "error"}
    figure = plot_overview(triaged)
    bars = figure.axes[0].patches
    assert len(bars) == len(REVIEW_ORDER)


def test_a_hidden_questions_answer_is_ignored_and_listed_as_in_triage():
    """Issue 9: a man who answers pregnant=yes: the answer is not used (no pregnancy warning-sign
    question listed as unanswered) and the row says which answer was ignored."""
    row = {"sex": "male", "pregnant": "yes", "vaginal_bleeding": "yes", "age": 30}
    out = triage_frame(pd.DataFrame([row, {**row, "sex": "female"}]))
    result = triage(row)
    assert [i.question_id for i in result.ignored] == ["pregnant", "vaginal_bleeding"]
    assert str(out["ignored_answers"].iloc[0]) == "pregnant;vaginal_bleeding"
    assert "pregnancy_weeks" not in str(out["unanswered_red_flags"].iloc[0])
    assert observed(out, 0) == expected(row)
    assert str(out["ignored_answers"].iloc[1]) == ""
    assert str(out["urgency"].iloc[1]) == "emergency" == triage({**row, "sex": "female"}).urgency


def test_list_valued_multi_choice_cells_work_like_joined_text():
    """Issue 9: a DataFrame built from answer dicts holds Python lists in multi-choice columns;
    they triage exactly as the ';'-joined export and as aid.triage, never a TypeError."""
    base = {"age": 40, "duration_days": 3, "severity": 6}
    rows = [
        {**base, "location": ["ribs", "upper_back"], "chest_symptoms": ["sweating"]},
        {**base, "location": ("lower_back",), "history": ["cancer"]},
        {**base, "location": {"flank"}, "fever": "yes"},
    ]
    as_lists = triage_frame(pd.DataFrame(rows))
    as_text = triage_frame(
        pd.DataFrame(
            [
                {
                    k: ";".join(sorted(v)) if isinstance(v, (list, tuple, set)) else v
                    for k, v in row.items()
                }
                for row in rows
            ]
        )
    )
    for i, row in enumerate(rows):
        assert (
            observed(as_lists, i)
            == observed(as_text, i)
            == expected(
                {k: sorted(v) if isinstance(v, (list, tuple, set)) else v for k, v in row.items()}
            )
        )


def test_a_list_where_one_answer_is_expected_is_a_row_error_naming_the_column():
    out = triage_frame(
        pd.DataFrame(
            {"fever": [["yes"], "no"], "age": [[3], 40], "location": [["lower_back", 7], "ribs"]}
        )
    )
    error = str(out["error"].iloc[0])
    assert str(out["urgency"].iloc[0]) == ERROR
    assert "fever: unknown option ['yes']" in error
    assert "age: expected a number, got [3]" in error
    assert "location: unknown option 7; allowed: a list of any of: " in error  # as aid.triage
    assert str(out["error"].iloc[1]) == ""


def test_any_other_cell_type_is_a_row_error_naming_the_column():
    """Issue 9: a dict, a nested list or a date in a cell fails its row with the engine's own
    message (as aid.triage would say it), never a TypeError from pandas."""
    import datetime

    frame = pd.DataFrame(
        {
            "fever": [{"a": 1}, "no", "no", "no"],
            "location": [["ribs"], [["ribs"]], "ribs", "ribs"],
            "age": [40, 40, datetime.date(2020, 1, 1), 40],
        }
    )
    out = triage_frame(frame)
    errors = [str(e) for e in out["error"]]
    assert errors[0].startswith("fever: unknown option {'a': 1}")
    assert errors[1].startswith("location: unknown option ['ribs']")
    assert errors[2].startswith("age: expected a number, got a date")
    assert errors[3] == "" and str(out["urgency"].iloc[3]) != ERROR
    assert list(out["urgency"][:3]) == [ERROR] * 3
    for i in range(3):
        answers = {k: frame[k].iloc[i] for k in frame.columns}
        with pytest.raises(AnswerError):
            triage(answers)
