"""The decision rules, written once, on boolean masks over ``n`` people at a time.

:func:`aid.triage` (one person, ``n == 1``) and :func:`aid.cohort.triage_frame` (a clinic export,
a block of rows at a time) both call :func:`decide`, so a rule change is made in one place and
the two paths cannot disagree. What the rules read about the people is a :class:`Facts`: for each
distinct ``when`` atom of the knowledge base whether it holds, and for each question whether it
was answered (hidden questions' answers already removed, :mod:`aid.enablement`). Everything
:func:`decide` does is a handful of numpy reductions over the compiled knowledge (:class:`Plan`):

* **urgency**: the highest level among fired ``red_flags.csv`` rows (rows do not stack);
* **where to go**: among fired rows at that level, the service first in ``services.csv`` order;
  the level's first service when none is named (``home`` for self-care);
* **unanswered red-flag questions**: questions still open in an urgent or emergency rule above
  the current level whose other answered atoms all hold, and that are asked (``enable_when``);
* **possible causes**: evidence weights summed per cause in thousandths (integers, so the sum
  is exact whatever the order), shown from ``MIN_CAUSE_SCORE``, highest first, ties in
  ``causes.csv`` order, at most ``MAX_CAUSES``;
* **incomplete**: a required, asked question is unanswered and no rule fired.

Why masks: a per-row Python loop over a million rows takes minutes, and two implementations (a
scalar one and a vectorised one) drifted apart before (issue 9). One vectorised definition, run
with ``n == 1`` for a person, serves both at the speed of each.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .conditions import Atom, Condition
from .knowledge import Knowledge
from .urgency import MOST_URGENT_FIRST, Urgency

#: A cause needs at least this much summed evidence to be shown at all.
MIN_CAUSE_SCORE = 1.0
#: At most this many possible causes are shown: more would read like a diagnosis list.
MAX_CAUSES = 5
#: Evidence weights are added as whole thousandths (the loader allows at most 3 decimals), so a
#: score is exact and two causes that tie really tie, on every path and in any order of addition.
WEIGHT_SCALE = 1000
#: Urgency levels by rank (index 0 = self-care).
LEVELS: tuple[Urgency, ...] = tuple(reversed(MOST_URGENT_FIRST))

Mask = npt.NDArray[np.bool_]
_NONE = np.int64(-(2**62))  # below any score: "not a candidate"


class _Segments:
    """Conditions compiled to one flat array of atom rows plus segment starts.

    ``holds(truth)`` gives one row per condition: the AND of its atoms (an empty condition uses
    the always-true row), computed with one ``logical_and.reduceat`` for all conditions.
    """

    def __init__(self, rows: Sequence[Sequence[int]], true_row: int):
        flat: list[int] = []
        starts: list[int] = []
        for atoms in rows:
            starts.append(len(flat))
            flat.extend(atoms or [true_row])
        self.flat = np.array(flat, dtype=np.intp)
        self.starts = np.array(starts, dtype=np.intp)
        self.count = len(rows)

    def reduce(self, ufunc: np.ufunc, matrix: np.ndarray) -> np.ndarray:
        if self.count == 0:
            return np.zeros((0, matrix.shape[1]), dtype=matrix.dtype)
        return ufunc.reduceat(matrix[self.flat], self.starts, axis=0)

    def holds(self, truth: Mask) -> Mask:
        return self.reduce(np.logical_and, truth)


class Plan:
    """A knowledge base compiled into index arrays, once per knowledge base (it is immutable)."""

    def __init__(self, kb: Knowledge):
        self.kb = kb
        self.questions: list[str] = list(kb.questions)
        self.question_index = {q: i for i, q in enumerate(self.questions)}
        self.services: list[str] = list(kb.services)
        self.causes: list[str] = list(kb.causes)
        atoms: dict[Atom, int] = {}

        def rows(condition: Condition) -> list[int]:
            return [atoms.setdefault(a, len(atoms)) for a in dict.fromkeys(condition.atoms)]

        rules = kb.red_flags
        rule_rows = [rows(r.when) for r in rules]
        evidence_rows = [rows(e.when) for e in kb.cause_evidence]
        enable_rows = {q.id: rows(q.enable_when) for q in kb.questions.values()}
        #: Every distinct atom, in the order of the rows of ``Facts.truth`` (then "always true").
        self.atoms: list[Atom] = list(atoms)
        true_row = len(self.atoms)
        self.atom_question = np.array(
            [self.question_index[a.question] for a in self.atoms] + [0], dtype=np.intp
        )
        self.atom_rows_of: dict[str, list[int]] = {}
        for i, atom in enumerate(self.atoms):
            self.atom_rows_of.setdefault(atom.question, []).append(i)

        # Red flags: urgency and service.
        self.rules = _Segments(rule_rows, true_row)
        self.rule_rank = np.array([r.urgency.rank for r in rules], dtype=np.int8)
        position = {sid: i for i, sid in enumerate(self.services)}
        self.rule_service = np.array([position[r.service] for r in rules], dtype=np.intp)
        self.level_service = np.array(
            [
                next(i for i, s in enumerate(kb.services.values()) if s.level == level.value)
                for level in LEVELS
            ],
            dtype=np.intp,
        )

        # Unanswered red-flag questions: rules that can raise to urgent or emergency, and the
        # (rule, question) pairs of their positive atoms, grouped by question.
        raising = [i for i, r in enumerate(rules) if r.urgency >= Urgency.URGENT]
        self.raising = np.array(raising, dtype=np.intp)
        self.raising_rules = _Segments([rule_rows[i] for i in raising], true_row)
        self.raising_rank = self.rule_rank[self.raising]
        #: Questions that may be listed as unanswered, in questionnaire order.
        self.candidates = [q for q in self.questions if q in kb.red_flag_questions]
        candidate_index = {q: i for i, q in enumerate(self.candidates)}
        pairs = sorted(
            (candidate_index[q], j)
            for j, i in enumerate(raising)
            for q in dict.fromkeys(
                a.question for a in rules[i].when.atoms if not a.holds_when_unanswered
            )
        )
        self.pair_candidate = np.array([c for c, _ in pairs], dtype=np.intp)
        self.pair_rule = np.array([j for _, j in pairs], dtype=np.intp)
        self.pair_starts = np.flatnonzero(np.r_[True, np.diff(self.pair_candidate) != 0])
        self.pair_groups = self.pair_candidate[self.pair_starts]
        self.candidate_question = np.array(
            [self.question_index[q] for q in self.candidates], dtype=np.intp
        )
        self.candidate_enabled = _Segments([enable_rows[q] for q in self.candidates], true_row)

        # Causes: evidence grouped by cause (table order kept within a cause).
        evidence = kb.cause_evidence
        cause_position = {c: i for i, c in enumerate(self.causes)}
        self.evidence = _Segments(evidence_rows, true_row)
        order = sorted(range(len(evidence)), key=lambda e: cause_position[evidence[e].cause])
        self.evidence_order = np.array(order, dtype=np.intp)
        self.evidence_weight = np.array(
            [round(evidence[e].weight * WEIGHT_SCALE) for e in order], dtype=np.int64
        )
        sorted_causes = [cause_position[evidence[e].cause] for e in order]
        self.cause_starts = np.flatnonzero(np.r_[True, np.diff(sorted_causes) != 0])
        self.cause_groups = np.array(sorted_causes, dtype=np.intp)[self.cause_starts]
        self.min_score = round(MIN_CAUSE_SCORE * WEIGHT_SCALE)

        # Required questions (asked, unanswered: not enough information).
        self.required = [q.id for q in kb.questions.values() if q.required]
        self.required_question = np.array(
            [self.question_index[q] for q in self.required], dtype=np.intp
        )
        self.required_enabled = _Segments([enable_rows[q] for q in self.required], true_row)

        self._tables: dict[str, tuple[int, np.ndarray]] = {}
        self._lock = threading.Lock()

    def truth_table(self, qid: str, values: Sequence[Any]) -> np.ndarray:
        """Truth of each atom on ``qid`` (rows) for each distinct answer (columns), then for
        "unanswered" (last column, so that code -1 picks it). Evaluated by :meth:`Atom.holds`,
        the very evaluator of one person; cached while ``values`` only grows."""
        with self._lock:
            cached = self._tables.get(qid)
        if cached is not None and cached[0] == len(values):
            return cached[1]
        table = np.array(
            [
                [atom.holds({qid: v}) for v in values] + [atom.holds({})]
                for atom in (self.atoms[i] for i in self.atom_rows_of.get(qid, []))
            ],
            dtype=bool,
        ).reshape(len(self.atom_rows_of.get(qid, [])), len(values) + 1)
        with self._lock:
            self._tables[qid] = (len(values), table)
        return table


_plans: dict[tuple[str, str], Plan] = {}
_plans_lock = threading.Lock()


def plan_of(kb: Knowledge) -> Plan:
    """The compiled plan of a knowledge base, built once per process."""
    key = (str(kb.directory), kb.version)
    with _plans_lock:
        if key not in _plans:
            _plans[key] = Plan(kb)
        return _plans[key]


@dataclass(frozen=True)
class Facts:
    """What the rules read about ``n`` people (answers of hidden questions already removed).

    ``truth``: one row per :attr:`Plan.atoms` entry, then an always-true row; ``answered``: one
    row per question in questionnaire order. Columns are people.
    """

    truth: Mask
    answered: Mask

    @property
    def n(self) -> int:
        return int(self.truth.shape[1])


def facts_of_person(plan: Plan, answers: Mapping[str, Any]) -> Facts:
    """The facts of one person's validated answers (``n == 1``)."""
    truth = np.array([a.holds(answers) for a in plan.atoms] + [True], dtype=bool)
    answered = np.array([q in answers for q in plan.questions], dtype=bool)
    return Facts(truth[:, None], answered[:, None])


def facts_of_codes(
    plan: Plan, codes: Mapping[str, np.ndarray], values: Mapping[str, Sequence[Any]], n: int
) -> Facts:
    """The facts of ``n`` people whose answers are codes into lists of distinct answers.

    ``codes[q][row]`` indexes ``values[q]`` (validated answers), ``-1`` meaning unanswered; a
    question absent from ``codes`` is unanswered for everyone. Each atom is evaluated once per
    distinct answer (:meth:`Plan.truth_table`) and gathered by code.
    """
    truth = np.empty((len(plan.atoms) + 1, n), dtype=bool)
    truth[-1] = True
    answered = np.zeros((len(plan.questions), n), dtype=bool)
    for qid, rows in plan.atom_rows_of.items():
        column = codes.get(qid)
        if column is None:
            truth[rows] = plan.truth_table(qid, ())[:, [-1]]
        else:
            truth[rows] = plan.truth_table(qid, values[qid])[:, column]
    for qid, column in codes.items():
        answered[plan.question_index[qid]] = column >= 0
    return Facts(truth, answered)


@dataclass(frozen=True)
class Decisions:
    """The outcome of the rules for ``n`` people (columns). Indexes refer to the plan's lists."""

    fired: Mask  # (rules, n): red-flag rows in table order
    level: npt.NDArray[np.int8]  # (n,): urgency rank, 0 = self-care
    service: npt.NDArray[np.intp]  # (n,): position in services.csv
    could: npt.NDArray[np.int8]  # (candidates, n): rank the question could raise to, -1 none
    evidence: Mask  # (evidence rows, n): cause_evidence rows that hold, table order
    scores: npt.NDArray[np.int64]  # (causes, n): summed weights in thousandths
    causes: npt.NDArray[np.intp]  # (shown, n): cause positions, best first, -1 = none
    missing: Mask  # (required questions, n): asked and unanswered
    incomplete: Mask  # (n,): a required answer missing and no rule fired


def decide(plan: Plan, facts: Facts, causes_shown: int = MAX_CAUSES) -> Decisions:
    """Apply every decision rule to ``n`` people at once (see the module docstring)."""
    truth, answered, n = facts.truth, facts.answered, facts.n

    fired = plan.rules.holds(truth)
    ranks = plan.rule_rank[:, None]
    level = np.where(fired, ranks, np.int8(0)).max(axis=0, initial=0).astype(np.int8)

    at_level = fired & (ranks == level[None, :])
    big = len(plan.services)
    named = np.where(at_level, plan.rule_service[:, None], big).min(axis=0, initial=big)
    service = np.where(named < big, named, plan.level_service[level]).astype(np.intp)

    could = np.full((len(plan.candidates), n), -1, dtype=np.int8)
    if len(plan.pair_rule):
        open_atoms = truth | ~answered[plan.atom_question]
        possible = plan.raising_rules.reduce(np.logical_and, open_atoms)
        possible &= plan.raising_rank[:, None] > level[None, :]
        enabled = plan.candidate_enabled.holds(truth)
        unasked = ~answered[plan.candidate_question] & enabled
        open_pairs = possible[plan.pair_rule] & unasked[plan.pair_candidate]
        raised = np.where(open_pairs, plan.raising_rank[plan.pair_rule][:, None], np.int8(-1))
        could[plan.pair_groups] = np.maximum.reduceat(raised, plan.pair_starts, axis=0)

    evidence = plan.evidence.holds(truth)
    scores = np.zeros((len(plan.causes), n), dtype=np.int64)
    matched = np.zeros((len(plan.causes), n), dtype=bool)
    if len(plan.evidence_order):
        grouped = evidence[plan.evidence_order]
        weights = np.where(grouped, plan.evidence_weight[:, None], 0)
        scores[plan.cause_groups] = np.add.reduceat(weights, plan.cause_starts, axis=0)
        matched[plan.cause_groups] = np.logical_or.reduceat(grouped, plan.cause_starts, axis=0)
    causes = _rank(np.where(matched & (scores >= plan.min_score), scores, _NONE), causes_shown)

    missing = ~answered[plan.required_question] & plan.required_enabled.holds(truth)
    incomplete = (level == 0) & missing.any(axis=0)
    return Decisions(fired, level, service, could, evidence, scores, causes, missing, incomplete)


def _rank(key: npt.NDArray[np.int64], shown: int) -> npt.NDArray[np.intp]:
    """Positions of the best ``shown`` keys per column, highest first, ties in row order;
    ``-1`` where fewer qualify (a key of ``_NONE`` does not)."""
    if key.shape[0] == 0:
        return np.full((shown, key.shape[1]), -1, dtype=np.intp)
    if shown == 1:  # argmax returns the first maximum: the same tie rule, without a sort
        order = key.argmax(axis=0)[None, :]
    else:
        order = np.argsort(-key, axis=0, kind="stable")[:shown]
    best = np.take_along_axis(key, order, axis=0)
    return np.where(best > _NONE, order, -1).astype(np.intp)
