"""Presentation helpers for the clinician notebooks: knowledge tables, worked cases and vignette
scores as pandas DataFrames, and the two pictures (confusion heat-map).

The notebooks hold no logic (STYLE.md): every table they show is built here, from the validated
knowledge (:mod:`aid.knowledge`), the engine (:func:`aid.triage`) and the vignette scorer
(:mod:`aid.vignettes`), so what a clinician reads is what the code does. Everything is
deterministic (fixed order, no clocks), because nbval compares these outputs on every CI run.
pandas is imported here, so ``import aid`` stays light; matplotlib only inside the plot function.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from .knowledge import Knowledge, load_knowledge
from .result import Result
from .triage import MAX_CAUSES, MIN_CAUSE_SCORE
from .urgency import MOST_URGENT_FIRST

#: Highest first, the order every table uses.
LEVELS = MOST_URGENT_FIRST

#: Three worked cases for the clinician guide (invented people, not vignettes: the guide must not
#: change when the development vignettes are edited).
WORKED_CASES: Mapping[str, Mapping[str, Any]] = {
    "emergency: back pain with trouble peeing and saddle numbness": {
        "location": ["lower_back"],
        "onset": "gradual",
        "duration_days": 3,
        "severity": 7,
        "radiates": "both_legs",
        "leg_symptoms_new": "yes",
        "bladder_trouble": "yes",
        "saddle_numbness": "yes",
        "fever": "no",
        "age": 45,
        "sex": "male",
    },
    "urgent: side pain with fever and burning when peeing": {
        "location": ["flank", "lower_back"],
        "onset": "gradual",
        "duration_days": 2,
        "severity": 6,
        "fever": "yes",
        "urine_pain": "yes",
        "bladder_trouble": "no",
        "incontinence": "no",
        "saddle_numbness": "no",
        "age": 34,
        "sex": "female",
        "pregnant": "no",
    },
    "self-care: lower back cramp after lifting, no warning signs": {
        "location": ["lower_back"],
        "onset": "sudden",
        "duration_days": 1,
        "course": "better",
        "severity": 5,
        "pain_quality": ["cramping"],
        "injury": "lifting",
        "radiates": "no",
        "bladder_trouble": "no",
        "incontinence": "no",
        "saddle_numbness": "no",
        "sexual_problem": "no",
        "leg_weakness": "no",
        "leg_numbness": "no",
        "fever": "no",
        "chest_symptoms": ["none"],
        "faint": "no",
        "belly_pulsing": "no",
        "urine_pain": "no",
        "blood_urine": "no",
        "groin_waves": "no",
        "vomiting": "no",
        "blood_stool": "no",
        "weight_loss": "no",
        "recurring": "no",
        "history": ["none"],
        "age": 32,
        "sex": "male",
    },
}


def _sources(ids: tuple[str, ...]) -> str:
    return "; ".join(ids)


# ------------------------------------------------------------------------- knowledge tables


def sources_table(kb: Knowledge | None = None) -> pd.DataFrame:
    """``sources.csv``: every source a row may cite."""
    kb = kb or load_knowledge()
    return pd.DataFrame(
        [(s.id, s.kind, s.title, s.publisher) for s in kb.sources.values()],
        columns=["id", "kind", "title", "publisher"],
    ).set_index("id")


class Wrapped:
    """A long-text table that wraps in JupyterLab (left-aligned, bounded column widths) and
    keeps the plain DataFrame text for nbval to compare."""

    def __init__(self, frame: pd.DataFrame, width: str = "26em"):
        self.frame = frame
        self.width = width

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, str]:
        styler = (
            self.frame.style.set_uuid("aid-wrapped")
            .set_properties(  # no random ids
                **{"white-space": "normal", "text-align": "left", "max-width": self.width}
            )
            .set_table_styles([{"selector": "th", "props": [("text-align", "left")]}])
        )
        return {"text/html": styler.to_html(), "text/plain": repr(self.frame)}


def wrapped(frame: pd.DataFrame, width: str = "26em") -> Wrapped:
    """Show a table of long texts so that it can be read in JupyterLab (see :class:`Wrapped`)."""
    return Wrapped(frame, width)


class MarkdownText:
    """Markdown rendered in the notebook, with the same text as plain text for nbval."""

    def __init__(self, text: str):
        self.text = text

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, str]:
        return {"text/markdown": self.text, "text/plain": self.text}


def red_flag_table(kb: Knowledge | None = None) -> pd.DataFrame:
    """``red_flags.csv`` by urgency (emergency first), table order within a level."""
    kb = kb or load_knowledge()
    rows = [
        (
            r.id,
            r.urgency.value,
            r.group,
            r.when.text,
            r.service,
            r.reason,
            r.clinician_note,
            _sources(r.source),
        )
        for level in LEVELS
        for r in kb.red_flags
        if r.urgency == level
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "id",
            "urgency",
            "group",
            "when",
            "service",
            "reason",
            "clinician_note",
            "sources",
        ],
    ).set_index("id")


def service_table(kb: Knowledge | None = None) -> pd.DataFrame:
    """``services.csv`` (with the clinic's names and phones): where each level sends people."""
    kb = kb or load_knowledge()
    return pd.DataFrame(
        [
            (s.id, s.level, s.name, s.instruction, s.phone, _sources(s.source))
            for s in kb.services.values()
        ],
        columns=["id", "level", "name", "instruction", "phone", "sources"],
    ).set_index("id")


def red_flag_summary(kb: Knowledge | None = None) -> pd.DataFrame:
    """How many rules each group has at each urgency (groups as rows)."""
    table = red_flag_table(kb)
    counts = pd.crosstab(table["group"], table["urgency"])
    levels = [u.value for u in LEVELS if u.value in counts.columns]
    return counts.reindex(columns=levels, fill_value=0)


def cause_table(kb: Knowledge | None = None) -> pd.DataFrame:
    """``causes.csv``: each possible cause, its group and how much evidence can point to it."""
    kb = kb or load_knowledge()
    rows = []
    for c in kb.causes.values():
        evidence = [e for e in kb.cause_evidence if e.cause == c.id]
        rows.append(
            (
                c.id,
                c.name,
                c.group,
                len(evidence),
                max((e.weight for e in evidence), default=0.0),
                _sources(c.source),
            )
        )
    return pd.DataFrame(
        rows, columns=["id", "name", "group", "evidence_rows", "strongest_weight", "sources"]
    ).set_index("id")


def evidence_table(kb: Knowledge | None = None) -> pd.DataFrame:
    """``cause_evidence.csv``: which answers add how much weight to which cause."""
    kb = kb or load_knowledge()
    return pd.DataFrame(
        [
            (e.id, e.cause, e.when.text, e.weight, e.explanation, _sources(e.source))
            for e in kb.cause_evidence
        ],
        columns=["id", "cause", "when", "weight", "explanation", "sources"],
    ).set_index("id")


def advice_table(kb: Knowledge | None = None) -> pd.DataFrame:
    """``advice.csv`` with its cautions: when a row applies and when it is withheld, and why."""
    kb = kb or load_knowledge()
    return pd.DataFrame(
        [
            (
                a.id,
                a.kind,
                ", ".join(a.applies_to),
                a.when.text or "always",
                " or ".join(c.text for c in a.avoid_when),
                a.avoid_reason,
                a.text,
                _sources(a.source),
            )
            for a in kb.advice
        ],
        columns=[
            "id",
            "kind",
            "applies_to",
            "when",
            "withheld_when",
            "why_withheld",
            "text",
            "sources",
        ],
    ).set_index("id")


def caution_table(kb: Knowledge | None = None) -> pd.DataFrame:
    """Only the advice rows a caution can withhold (e.g. NSAIDs with kidney disease)."""
    table = advice_table(kb)
    return table[table["withheld_when"] != ""][["kind", "text", "withheld_when", "why_withheld"]]


def urgency_steps() -> pd.DataFrame:
    """How urgency, causes and advice are decided, step by step, with the constants in force."""
    steps = [
        (
            "1",
            "Answers are validated against questions.csv; a missing answer is unknown, never "
            "'no'. A red flag never fires on a fact nobody stated; a condition `q!=v` holds "
            "when q is unanswered (it reads 'not known to be v').",
        ),
        (
            "2",
            "Every red_flags.csv row whose `when` holds fires. Urgency is the highest level "
            "among fired rows; no fired row means selfcare.",
        ),
        (
            "3",
            "Rules do not stack: a combination is an emergency only where a row names it "
            "(policy 'How rules combine'). Where to go is the service of the most urgent rows, "
            "the first in services.csv order (maternity unit before emergency department); "
            "self-care means home.",
        ),
        (
            "4",
            "Unanswered red-flag questions are listed when answering them could still fire a "
            "rule that would raise the urgency.",
        ),
        (
            "5",
            f"Possible causes: cause_evidence.csv weights of matching rows are summed; a cause "
            f"is shown from a score of {MIN_CAUSE_SCORE:g}, at most {MAX_CAUSES}, highest first "
            "(ties: causes.csv order). Never a diagnosis.",
        ),
        (
            "6",
            "Advice: rows for the shown causes (or everyone) whose `when` holds; a matching "
            "`avoid_when` withholds the row and says why; no self-care advice when the "
            "urgency is emergency; safety-netting always applies.",
        ),
    ]
    return pd.DataFrame(steps, columns=["step", "rule"]).set_index("step")


# ------------------------------------------------------------------------- results as tables


def reasons_frame(result: Result) -> pd.DataFrame:
    """Why the urgency is what it is: fired rules with the answers that fired them."""
    return pd.DataFrame(
        [
            (
                r.rule_id,
                r.urgency.value,
                r.group,
                "; ".join(f"{a.question} = {a.answer}" for a in r.answers),
                _sources(r.source),
            )
            for r in result.reasons
        ],
        columns=["rule", "urgency", "group", "answers", "sources"],
    )


def causes_frame(result: Result) -> pd.DataFrame:
    """The possible contributing causes with their scores and evidence ids."""
    return pd.DataFrame(
        [(c.cause_id, c.name, c.score, ", ".join(e.id for e in c.evidence)) for c in result.causes],
        columns=["cause", "name", "score", "evidence"],
    )


def case_summary(cases: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """One line per worked case: urgency, fired rules, top cause, unanswered red flags."""
    from .triage import triage

    rows = []
    for name, answers in (cases or WORKED_CASES).items():
        result = triage(answers)
        rows.append(
            (
                name,
                result.urgency.value,
                result.service.id,
                ", ".join(result.fired_rule_ids),
                result.causes[0].cause_id if result.causes else "",
                ", ".join(u.question for u in result.unanswered),
            )
        )
    return pd.DataFrame(
        rows,
        columns=["case", "urgency", "service", "fired rules", "top cause", "unanswered red flags"],
    ).set_index("case")


# ------------------------------------------------------------------------- vignette review


def confusion_matrix(evaluation: Any) -> pd.DataFrame:
    """Gold urgency (rows) x engine urgency (columns), every level shown, highest first."""
    levels = [u.value for u in LEVELS]
    gold = pd.Categorical([o.vignette.gold_urgency.value for o in evaluation.outcomes], levels)
    said = pd.Categorical([o.urgency.value for o in evaluation.outcomes], levels)
    table = pd.crosstab(gold, said, dropna=False).reindex(
        index=levels, columns=levels, fill_value=0
    )
    table.index.name, table.columns.name = "gold", "engine"
    return table.astype(int)


def level_metrics(evaluation: Any) -> pd.DataFrame:
    """Per gold level: cases, sensitivity (engine said exactly that level), at-least rate
    (engine said that level or higher), under- and over-triage counts and rates."""
    rows = []
    for r in evaluation.rows:
        cases = r.cases
        at_least = sum(
            o.urgency >= r.level for o in evaluation.outcomes if o.vignette.gold_urgency == r.level
        )
        rows.append(
            (
                r.level.value,
                cases,
                r.exact,
                _rate(r.exact, cases),
                _rate(at_least, cases),
                r.under,
                _rate(r.under, cases),
                r.over,
                _rate(r.over, cases),
            )
        )
    rows.append(
        (
            "all",
            evaluation.cases,
            evaluation.exact,
            _rate(evaluation.exact, evaluation.cases),
            _rate(
                sum(o.urgency >= o.vignette.gold_urgency for o in evaluation.outcomes),
                evaluation.cases,
            ),
            evaluation.under,
            _rate(evaluation.under, evaluation.cases),
            evaluation.over,
            _rate(evaluation.over, evaluation.cases),
        )
    )
    return pd.DataFrame(
        rows,
        columns=[
            "gold level",
            "cases",
            "exact",
            "sensitivity %",
            "at least this level %",
            "under-triaged",
            "under-triage %",
            "over-triaged",
            "over-triage %",
        ],
    ).set_index("gold level")


def _rate(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def vignette_frame(evaluation: Any) -> pd.DataFrame:
    """Every vignette: gold and engine urgency, whether they agree, causes gold and shown."""
    rows = [
        (
            o.vignette.id,
            o.vignette.split,
            o.vignette.gold_urgency.value,
            o.urgency.value,
            "yes" if o.exact else ("UNDER" if o.under else "over"),
            ", ".join(o.vignette.gold_causes),
            ", ".join(o.shown_causes),
        )
        for o in evaluation.outcomes
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "vignette",
            "split",
            "gold",
            "engine",
            "agrees",
            "gold causes",
            "causes shown",
        ],
    ).set_index("vignette")


def misses_frame(evaluation: Any) -> pd.DataFrame:
    """Every vignette whose urgency differs from gold: direction, rules fired, gold rationale."""
    rows = [
        (
            o.vignette.id,
            "UNDER" if o.under else "over",
            o.vignette.gold_urgency.value,
            o.urgency.value,
            ", ".join(o.fired_rules) or "(no rule fired)",
            o.vignette.rationale,
        )
        for o in evaluation.outcomes
        if not o.exact
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "vignette",
            "miss",
            "gold",
            "engine",
            "rules fired",
            "gold rationale",
        ],
    ).set_index("vignette")


def cause_misses_frame(evaluation: Any) -> pd.DataFrame:
    """Every vignette where a gold cause is not among the shown possible causes."""
    rows = [
        (
            o.vignette.id,
            ", ".join(o.causes_missed),
            ", ".join(o.shown_causes) or "(none shown)",
            o.vignette.rationale,
        )
        for o in evaluation.outcomes
        if o.causes_missed
    ]
    return pd.DataFrame(
        rows, columns=["vignette", "gold cause missed", "causes shown", "gold rationale"]
    ).set_index("vignette")


def plot_confusion(matrix: pd.DataFrame) -> Any:
    """The confusion matrix as a heat-map with the counts written in; returns the Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5), constrained_layout=True)
    image = ax.imshow(matrix.to_numpy(), cmap="Blues")
    words = {u.value: u.label for u in LEVELS}  # "See a doctor today", not "urgent"
    ax.set_xticks(
        range(len(matrix.columns)),
        [words.get(c, c) for c in matrix.columns],
        rotation=30,
        ha="right",
    )
    ax.set_yticks(range(len(matrix.index)), [words.get(i, i) for i in matrix.index])
    ax.set_xlabel("What the aid said")
    ax.set_ylabel("What the clinician said (gold)")
    peak = matrix.to_numpy().max() or 1
    for i in range(len(matrix.index)):
        for j in range(len(matrix.columns)):
            value = int(matrix.iat[i, j])
            ax.text(
                j,
                i,
                str(value),
                ha="center",
                va="center",
                color="white" if value > peak / 2 else "black",
            )
    ax.set_title("Vignettes: gold vs engine urgency")
    fig.colorbar(image, ax=ax, shrink=0.8)
    plt.close(fig)  # shown once, as the cell's value; not again by the inline backend
    return fig


# ------------------------------------------------------------------------- demo encounter log

#: Demo encounters are stamped from this time, a few hours apart, so the page is reproducible.
DEMO_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def demo_log(path: str) -> Any:
    """Fill a new encounter log at ``path`` with every development vignette (as if triaged in a
    clinic) and return the :class:`aid.store.EncounterLog`."""
    from .store import EncounterLog
    from .triage import triage
    from .vignettes import load_vignettes

    log = EncounterLog(path)
    for n, vignette in enumerate(load_vignettes(), start=1):
        log.append(vignette.answers, triage(vignette.answers), subject=f"DEMO-{n:03d}")
    return log


def demo_frame(log: Any, days: int = 7) -> pd.DataFrame:
    """``log.to_frame()`` with its clock times replaced by fixed demo times (from ``DEMO_START``,
    encounters dealt round-robin over ``days`` days so each day gets a mix), so the tables built
    from it never change between runs. Only for the demo log: a real log's times are when each
    triage finished."""
    frame = log.to_frame()
    order = frame["id"].rank(method="first").astype(int) - 1
    frame["created_utc"] = pd.to_datetime(
        [DEMO_START + timedelta(days=int(i) % days, minutes=37 * (int(i) // days)) for i in order],
        utc=True,
    )
    return frame
