"""Vignettes: written cases with a gold urgency and gold causes, and their scoring, split by split.

A vignette is one realistic person's answers (some questions left unanswered, as people do) with
the urgency and the possible causes a clinician would expect. Two files:

* ``vignettes.json``: the first development cases, written from the articles' reader comments,
  their scenarios and each block of the clinical references;
* ``published.json``: the independent case library. Each case cites a published source, keeps the
  patient's words as ``summary`` and was encoded from that summary alone by someone who never saw
  the rules. Its ``validation`` split was written and committed before the rules were reworked and
  is scored, not tuned on; the rest is ``development``.

Scoring measures the two failure modes Semigran et al. (BMJ 2015) found in symptom checkers:
missed emergencies (under-triage, the worst defect) and over-triaged self-care.

Pure and light: no pandas, no widgets, so the tests, the CLI and the ``vignette_review`` notebook
share one computation (:func:`evaluate`) and one loader (:func:`load_vignettes`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .knowledge import PACKAGE_DATA, Knowledge, load_knowledge
from .triage import triage
from .urgency import MOST_URGENT_FIRST, Urgency

#: The case library, shipped in the package (``aid/data/vignettes``) so that ``python -m
#: aid.vignettes`` works wherever ``aid`` is installed.
VIGNETTE_DIR: Traversable = PACKAGE_DATA / "vignettes"
DEFAULT_PATH = VIGNETTE_DIR / "vignettes.json"
#: Every file read by default, in order.
DEFAULT_PATHS = (DEFAULT_PATH, VIGNETTE_DIR / "published.json")

FIELDS = ("id", "title", "origin", "answers", "gold_urgency", "gold_causes", "rationale")
#: Fields a case may add: the patient's own words, and which split it belongs to.
OPTIONAL_FIELDS = ("summary", "split")
SPLITS = ("development", "validation")
#: "Gold cause in the top N" is measured at this N (Hill et al. 2020 report top-3 accuracy).
TOP_CAUSES = 3


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
    split: str = "development"
    summary: str = ""


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

    @property
    def first_cause_in_top(self) -> bool:
        """The first (most likely) gold cause is among the first ``TOP_CAUSES`` shown."""
        gold = self.vignette.gold_causes
        return bool(gold) and gold[0] in self.shown_causes[:TOP_CAUSES]


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

    def _level(self, level: Urgency) -> LevelRow:
        return next(r for r in self.rows if r.level == level)

    @property
    def under_rate(self) -> float:
        return self.under / self.cases if self.cases else 0.0

    @property
    def emergencies_caught(self) -> tuple[int, int]:
        """(gold emergencies the engine called emergency, gold emergencies)."""
        row = self._level(Urgency.EMERGENCY)
        return row.exact, row.cases

    @property
    def selfcare_right(self) -> tuple[int, int]:
        """(gold self-care cases the engine called self-care, gold self-care cases)."""
        row = self._level(Urgency.SELFCARE)
        return row.exact, row.cases

    @property
    def first_cause_top(self) -> tuple[int, int]:
        """(cases whose first gold cause is in the top ``TOP_CAUSES``, cases with a gold cause)."""
        with_gold = [o for o in self.outcomes if o.vignette.gold_causes]
        return sum(o.first_cause_in_top for o in with_gold), len(with_gold)

    def confusion(self) -> dict[tuple[Urgency, Urgency], int]:
        """(gold, engine) -> number of cases."""
        out = {(g, e): 0 for g in Urgency for e in Urgency}
        for o in self.outcomes:
            out[(o.vignette.gold_urgency, o.urgency)] += 1
        return out

    def summary_lines(self) -> list[str]:
        """The headline measures of issue 8, one per line."""

        def pct(n: int, d: int) -> str:
            return f"{n}/{d} = {n / d:.1%}" if d else "0/0"

        caught, emergencies = self.emergencies_caught
        right, selfcare = self.selfcare_right
        top, with_gold = self.first_cause_top
        return [
            f"exact urgency: {pct(self.exact, self.cases)}",
            f"emergencies caught: {pct(caught, emergencies)}",
            f"under-triage: {pct(self.under, self.cases)}",
            f"over-triage: {pct(self.over, self.cases)}",
            f"self-care cases right: {pct(right, selfcare)}",
            f"first gold cause in the top {TOP_CAUSES}: {pct(top, with_gold)}",
        ]

    def confusion_table(self) -> str:
        """Gold level by row, engine level by column, most urgent first."""
        levels = MOST_URGENT_FIRST
        counts = self.confusion()
        head = f"{'gold/aid':<11}" + "".join(f"{u.value:>10}" for u in levels)
        rows = [head] + [
            f"{g.value:<11}" + "".join(f"{counts[(g, e)]:>10}" for e in levels) for g in levels
        ]
        return "\n".join(rows)

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
        lines.extend(self.summary_lines())
        lines.append(self.confusion_table())
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


def load_vignettes(
    path: str | os.PathLike[str] | None = None, split: str | None = None
) -> tuple[Vignette, ...]:
    """Read the vignettes (JSON lists), checking the structure so a typo fails loudly.

    ``path`` None reads every file of ``DEFAULT_PATHS``; ``split`` keeps only that split.
    Answers are kept raw (as written); :func:`evaluate` validates them through ``aid.triage``,
    which raises :class:`aid.AnswerError` naming the question.

    Raises
    ------
    VignetteError
        for a missing or unknown field, a duplicate id (across files too), an unknown split, or a
        gold urgency that is not a level.
    """
    if split is not None and split not in SPLITS:
        raise VignetteError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    files: list[Traversable] = [Path(path)] if path is not None else list(DEFAULT_PATHS)
    out: list[Vignette] = []
    seen: set[str] = set()
    for file in files:
        out.extend(_read_file(file, seen))
    return tuple(v for v in out if split is None or v.split == split)


def _read_file(file: Traversable, seen: set[str]) -> list[Vignette]:
    data = json.loads(file.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise VignetteError(f"{file.name}: expected a JSON list of vignettes")
    levels = {u.value: u for u in Urgency}
    out: list[Vignette] = []
    for n, raw in enumerate(data, start=1):
        where = f"{file.name}, vignette {raw.get('id', n) if isinstance(raw, dict) else n}"
        if not isinstance(raw, dict):
            raise VignetteError(f"{where}: expected an object")
        missing = [f for f in FIELDS if f not in raw]
        unknown = [f for f in raw if f not in FIELDS + OPTIONAL_FIELDS]
        if missing or unknown:
            raise VignetteError(f"{where}: missing fields {missing}, unknown fields {unknown}")
        if raw["id"] in seen:
            raise VignetteError(f"{where}: duplicate id")
        seen.add(raw["id"])
        if raw["gold_urgency"] not in levels:
            raise VignetteError(
                f"{where}: gold_urgency {raw['gold_urgency']!r} is not one of {', '.join(levels)}"
            )
        if raw.get("split", "development") not in SPLITS:
            raise VignetteError(
                f"{where}: split {raw['split']!r} is not one of {', '.join(SPLITS)}"
            )
        if not isinstance(raw["answers"], dict):
            raise VignetteError(f"{where}: answers must be an object of question id -> answer")
        causes = raw["gold_causes"]
        if not isinstance(causes, list) or not all(isinstance(c, str) for c in causes):
            raise VignetteError(f"{where}: gold_causes must be a list of cause ids")
        out.append(
            Vignette(
                id=raw["id"],
                title=raw["title"],
                origin=raw["origin"],
                answers=MappingProxyType(dict(raw["answers"])),
                gold_urgency=levels[raw["gold_urgency"]],
                gold_causes=tuple(causes),
                rationale=raw["rationale"],
                split=raw.get("split", "development"),
                summary=raw.get("summary", ""),
            )
        )
    return out


def evaluate(vignettes: Iterable[Vignette], knowledge: Knowledge | None = None) -> Evaluation:
    """Triage every vignette and compare with its gold labels.

    Pure apart from reading the knowledge tables: the same input always gives the same table.
    """
    kb = knowledge or load_knowledge()
    outcomes = []
    for v in vignettes:
        result = triage(v.answers, kb)
        outcomes.append(
            CaseOutcome(
                vignette=v,
                urgency=result.urgency,
                shown_causes=tuple(c.cause_id for c in result.causes),
                fired_rules=tuple(r.rule_id for r in result.reasons),
            )
        )
    rows = []
    for level in MOST_URGENT_FIRST:
        mine = [o for o in outcomes if o.vignette.gold_urgency == level]
        rows.append(
            LevelRow(
                level=level,
                cases=len(mine),
                exact=sum(o.exact for o in mine),
                over=sum(o.over for o in mine),
                under=sum(o.under for o in mine),
            )
        )
    return Evaluation(outcomes=tuple(outcomes), rows=tuple(rows))


def evaluate_splits(
    vignettes: Iterable[Vignette], knowledge: Knowledge | None = None
) -> dict[str, Evaluation]:
    """One evaluation per split, in ``SPLITS`` order: the splits are never pooled."""
    cases = tuple(vignettes)
    return {
        split: evaluate([v for v in cases if v.split == split], knowledge)
        for split in SPLITS
        if any(v.split == split for v in cases)
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m aid.vignettes [--split S] [--summary] [PATH]``: each split's table.

    Exit 1 on any under-triage. ``--summary`` prints only the headline measures and the
    confusion table, no per-case lines (how the validation split is scored without being read).
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m aid.vignettes")
    parser.add_argument("path", nargs="?", help="one vignette file (default: every file)")
    parser.add_argument("--split", choices=SPLITS, help="score only this split")
    parser.add_argument("--summary", action="store_true", help="headline measures only")
    args = parser.parse_args(argv)
    splits = evaluate_splits(load_vignettes(args.path, args.split))
    for name, evaluation in splits.items():
        print(f"== {name} split: {evaluation.cases} cases")
        if args.summary:
            print("\n".join(evaluation.summary_lines()))
            print(evaluation.confusion_table())
        else:
            print(evaluation.table())
        print()
    return 1 if any(e.under for e in splits.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
