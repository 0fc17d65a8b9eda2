"""``aid.tables``: the notebooks' tables say what the code does, and say it the same every run."""

from __future__ import annotations

import pandas as pd
import pytest

from aid import Urgency, load_knowledge, tables, triage
from aid.store import emergencies, per_day_urgency
from aid.vignettes import evaluate, load_vignettes

KB = load_knowledge()


@pytest.mark.parametrize("name", list(tables.WORKED_CASES))
def test_each_worked_case_has_the_urgency_its_title_promises(name):
    promised = {
        "emergency": Urgency.EMERGENCY,
        "urgent": Urgency.URGENT,
        "self-care": Urgency.SELFCARE,
    }
    assert triage(tables.WORKED_CASES[name]).urgency == promised[name.split(":")[0]]


def test_the_three_levels_are_all_worked():
    titles = {name.split(":")[0] for name in tables.WORKED_CASES}
    assert titles == {"emergency", "urgent", "self-care"}


def test_red_flag_table_lists_every_rule_most_urgent_first():
    table = tables.red_flag_table(KB)
    assert sorted(table.index) == sorted(r.id for r in KB.red_flags)
    ranks = [Urgency(u).rank for u in table["urgency"]]
    assert ranks == sorted(ranks, reverse=True)
    assert (table["sources"] != "").all()
    assert tables.red_flag_summary(KB).to_numpy().sum() == len(KB.red_flags)


def test_cause_and_evidence_tables_match_the_knowledge():
    causes = tables.cause_table(KB)
    evidence = tables.evidence_table(KB)
    assert list(causes.index) == list(KB.causes)
    assert causes["evidence_rows"].sum() == len(evidence) == len(KB.cause_evidence)
    assert set(evidence["cause"]) <= set(KB.causes)


def test_caution_table_holds_exactly_the_advice_a_caution_can_withhold():
    cautions = tables.caution_table(KB)
    assert set(cautions.index) == {a.id for a in KB.advice if a.avoid_when}
    assert (cautions["why_withheld"] != "").all()


def test_vignette_tables_add_up():
    evaluation = evaluate(load_vignettes())
    matrix = tables.confusion_matrix(evaluation)
    assert list(matrix.index) == list(matrix.columns) == ["emergency", "urgent", "soon", "selfcare"]
    assert matrix.to_numpy().sum() == evaluation.cases
    assert sum(matrix.iat[i, i] for i in range(4)) == evaluation.exact
    metrics = tables.level_metrics(evaluation)
    assert metrics.loc["all", "cases"] == evaluation.cases
    assert metrics.loc["all", "under-triaged"] == evaluation.under
    # under-triage = below the diagonal (engine column less urgent than gold row)
    assert sum(matrix.iat[i, j] for i in range(4) for j in range(4) if j > i) == evaluation.under
    assert len(tables.misses_frame(evaluation)) == evaluation.cases - evaluation.exact
    assert len(tables.vignette_frame(evaluation)) == evaluation.cases


def test_confusion_matrix_shows_a_miss_where_it_is():
    evaluation = evaluate(load_vignettes())
    first = evaluation.outcomes[0]
    wrong = type(first)(
        vignette=first.vignette, urgency=Urgency.SELFCARE, shown_causes=(), fired_rules=()
    )
    fake = type(evaluation)(outcomes=(wrong,), rows=evaluation.rows)
    matrix = tables.confusion_matrix(fake)
    assert matrix.loc[first.vignette.gold_urgency.value, "selfcare"] == 1
    assert matrix.to_numpy().sum() == 1


def test_demo_log_is_a_real_sqlite_log_with_reproducible_times(tmp_path):
    log = tables.demo_log(tmp_path / "a.sqlite3")
    again = tables.demo_log(tmp_path / "b.sqlite3")
    assert (tmp_path / "a.sqlite3").stat().st_size > 0
    first, second = tables.demo_frame(log), tables.demo_frame(again)
    assert log.count() == len(load_vignettes())
    pd.testing.assert_frame_equal(per_day_urgency(first), per_day_urgency(second))
    pd.testing.assert_frame_equal(
        emergencies(first)[["id", "created_utc", "rule_ids"]],
        emergencies(second)[["id", "created_utc", "rule_ids"]],
    )
    assert per_day_urgency(first).to_numpy().sum() == len(first)
