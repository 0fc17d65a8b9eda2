"""Development vignettes: written cases with a gold urgency and gold causes, and their scoring.

A vignette is one realistic person's answers (some questions left unanswered, as people do) with
the urgency and the possible causes a clinician would expect, written from the articles' reader
comments, their own scenarios and each block of the clinical references *before* looking at what
the engine says. Scoring them measures the two failure modes Semigran et al. (BMJ 2015) found in
symptom checkers: missed emergencies (under-triage, the worst defect) and over-triaged self-care.

Pure and light: no pandas, no widgets, so the tests, the CLI and the ``vignette_review`` notebook
share one computation (:func:`evaluate`) and one loader (:func:`load_vignettes`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from .knowledge import Knowledge, load_knowledge
from .triage import triage
from .urgency import Urgency

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "vignettes" / "vignettes.json"

FIELDS = ("id", "title", "origin", "answers", "gold_urgency", "gold_causes", "rationale")


class VignetteError(ValueError):
    """A vignette file that is malformed; the message names the vignette and the field."""


@dataclass(frozen=True)
class Vignette:
    """One written case: raw answers (as ``aid.triage`` accepts them) and the gold labels."""

    id: str
    title: str
    origin: str
    answers: Mapping[str, Any]
    gold_urgency: Urgency
    gold_causes: tuple[str, ...]
    rationale: str


@dataclass(frozen=True)
class CaseOutcome:
    """What the engine said about one vignette, next to the gold labels."""

    vignette: Vignette
    urgency: Urgency
    shown_causes: tuple[str, ...]
    fired_rules: tuple[str, ...]

    @property
    def exact(self) -> bool:
        return self.urgency == self.vignette.gold_urgency

    @property
    def over(self) -> bool:
        """More urgent than the gold label (costly, but safe)."""
        return self.urgency > self.vignette.gold_urgency

    @property
    def under(self) -> bool:
        """Less urgent than the gold label: the defect that matters most."""
        return self.urgency < self.vignette.gold_urgency

    @property
    def causes_found(self) -> tuple[str, ...]:
        return tuple(c for c in self.vignette.gold_causes if c in self.shown_causes)

    @property
    def causes_missed(self) -> tuple[str, ...]:
        return tuple(c for c in self.vignette.gold_causes if c not in self.shown_causes)

    @property
    def all_causes_found(self) -> bool:
        return not self.causes_missed


@dataclass(frozen=True)
class LevelRow:
    """Counts for the vignettes whose gold urgency is one level."""

    level: Urgency
    cases: int
    exact: int
    over: int
    under: int


@dataclass(frozen=True)
class Evaluation:
    """Accuracy on a set of vignettes: per-level rows, totals and every outcome."""

    outcomes: tuple[CaseOutcome, ...]
    rows: tuple[LevelRow, ...]

    @property
    def cases(self) -> int:
        return len(self.outcomes)

    @property
    def exact(self) -> int:
        return sum(o.exact for o in self.outcomes)

    @property
    def over(self) -> int:
        return sum(o.over for o in self.outcomes)

    @property
    def under(self) -> int:
        return sum(o.under for o in self.outcomes)

    @property
    def exact_rate(self) -> float:
        return self.exact / self.cases if self.cases else 0.0

    @property
    def gold_causes(self) -> int:
        return sum(len(o.vignette.gold_causes) for o in self.outcomes)

    @property
    def cause_hit_rate(self) -> float:
        """Share of all gold causes that are among the shown causes."""
        found = sum(len(o.causes_found) for o in self.outcomes)
        return found / self.gold_causes if self.gold_causes else 1.0

    @property
    def cases_with_gold_causes(self) -> int:
        return sum(bool(o.vignette.gold_causes) for o in self.outcomes)

    @property
    def all_causes_rate(self) -> float:
        """Share of the cases with gold causes where every gold cause is shown."""
        with_gold = [o for o in self.outcomes if o.vignette.gold_causes]
        return sum(o.all_causes_found for o in with_gold) / len(with_gold) if with_gold else 1.0

    def disagreements(self) -> tuple[CaseOutcome, ...]:
        """Cases where the engine's urgency differs from the gold label."""
        return tuple(o for o in self.outcomes if not o.exact)

    def table(self) -> str:
        """A plain-text accuracy table (what ``pytest -s`` and the CLI print)."""
        lines = [
            f"{'gold level':<11} {'cases':>5} {'exact':>5} {'over':>5} {'under':>5}",
            "-" * 35,
        ]
        for r in self.rows:
            lines.append(f"{r.level.value:<11} {r.cases:>5} {r.exact:>5} {r.over:>5} {r.under:>5}")
        lines.append("-" * 35)
        lines.append(f"{'all':<11} {self.cases:>5} {self.exact:>5} {self.over:>5} {self.under:>5}")
        lines.append(f"exact urgency: {self.exact}/{self.cases} = {self.exact_rate:.1%}")
        found = sum(len(o.causes_found) for o in self.outcomes)
        lines.append(
            f"cause hit rate: {found}/{self.gold_causes} gold causes shown = {self.cause_hit_rate:.1%}"
        )
        lines.append(
            f"cases with every gold cause shown: "
            f"{sum(o.all_causes_found for o in self.outcomes if o.vignette.gold_causes)}"
            f"/{self.cases_with_gold_causes} = {self.all_causes_rate:.1%}"
        )
        for o in self.disagreements():
            lines.append(
                f"  {'UNDER' if o.under else 'over '} {o.vignette.id}: gold "
                f"{o.vignette.gold_urgency.value}, engine {o.urgency.value} "
                f"({', '.join(o.fired_rules) or 'no rule fired'})"
            )
        for o in self.outcomes:
            if o.causes_missed:
                lines.append(
                    f"  cause missed {o.vignette.id}: {', '.join(o.causes_missed)} "
                    f"not in shown [{', '.join(o.shown_causes)}]"
                )
        return "\n".join(lines)


def load_vignettes(path: str | os.PathLike[str] | None = None) -> tuple[Vignette, ...]:
    """Read the vignettes (a JSON list), checking the structure so a typo fails loudly.

    Answers are kept raw (as written); :func:`evaluate` validates them through ``aid.triage``,
    which raises :class:`aid.AnswerError` naming the question.

    Raises
    ------
    VignetteError
        for a missing or unknown field, a duplicate id, or a gold urgency that is not a level.
    """
    file = Path(path) if path is not None else DEFAULT_PATH
    data = json.loads(file.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise VignetteError(f"{file.name}: expected a JSON list of vignettes")
    levels = {u.value: u for u in Urgency}
    out: list[Vignette] = []
    seen: set[str] = set()
    for n, raw in enumerate(data, start=1):
        where = f"{file.name}, vignette {raw.get('id', n) if isinstance(raw, dict) else n}"
        if not isinstance(raw, dict):
            raise VignetteError(f"{where}: expected an object")
        missing = [f for f in FIELDS if f not in raw]
        unknown = [f for f in raw if f not in FIELDS]
        if missing or unknown:
            raise VignetteError(f"{where}: missing fields {missing}, unknown fields {unknown}")
        if raw["id"] in seen:
            raise VignetteError(f"{where}: duplicate id")
        seen.add(raw["id"])
        if raw["gold_urgency"] not in levels:
            raise VignetteError(
                f"{where}: gold_urgency {raw['gold_urgency']!r} is not one of {', '.join(levels)}"
            )
        if not isinstance(raw["answers"], dict):
            raise VignetteError(f"{where}: answers must be an object of question id -> answer")
        causes = raw["gold_causes"]
        if not isinstance(causes, list) or not all(isinstance(c, str) for c in causes):
            raise VignetteError(f"{where}: gold_causes must be a list of cause ids")
        out.append(Vignette(
            id=raw["id"], title=raw["title"], origin=raw["origin"],
            answers=MappingProxyType(dict(raw["answers"])),
            gold_urgency=levels[raw["gold_urgency"]], gold_causes=tuple(causes),
            rationale=raw["rationale"],
        ))
    return tuple(out)


def evaluate(
    vignettes: Iterable[Vignette], knowledge: Knowledge | None = None
) -> Evaluation:
    """Triage every vignette and compare with its gold labels.

    Pure apart from reading the knowledge tables: the same input always gives the same table.
    """
    kb = knowledge or load_knowledge()
    outcomes = []
    for v in vignettes:
        result = triage(v.answers, kb)
        outcomes.append(CaseOutcome(
            vignette=v, urgency=result.urgency,
            shown_causes=tuple(c.cause_id for c in result.causes),
            fired_rules=tuple(r.rule_id for r in result.reasons),
        ))
    rows = []
    for level in sorted(Urgency, key=lambda u: -u.rank):
        mine = [o for o in outcomes if o.vignette.gold_urgency == level]
        rows.append(LevelRow(
            level=level, cases=len(mine), exact=sum(o.exact for o in mine),
            over=sum(o.over for o in mine), under=sum(o.under for o in mine),
        ))
    return Evaluation(outcomes=tuple(outcomes), rows=tuple(rows))


def main() -> int:
    """``python -m aid.vignettes [PATH]``: print the accuracy table; exit 1 on any under-triage."""
    import sys

    evaluation = evaluate(load_vignettes(sys.argv[1] if len(sys.argv) > 1 else None))
    print(evaluation.table())
    return 1 if evaluation.under else 0


if __name__ == "__main__":
    raise SystemExit(main())
