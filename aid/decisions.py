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


class _Groups:
    """Items (atom rows, rules, evidence rows) gathered into groups (conditions, questions,
    causes), stored by *position*: ``steps[k]`` holds the groups that have a ``k``-th item and
    that item. Folding over the steps touches each item once, with a few numpy calls per
    position (a group has a handful of items) and no loop over groups or rows.
    """

    def __init__(self, groups: Sequence[Sequence[int]]):
        self.count = len(groups)
        by_size = sorted(range(len(groups)), key=lambda g: -len(groups[g]))
        self.steps: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]] = []
        for k in range(max((len(g) for g in groups), default=0)):
            members = [g for g in by_size if len(groups[g]) > k]
            self.steps.append(
                (
                    np.array(members, dtype=np.intp),
                    np.array([groups[g][k] for g in members], dtype=np.intp),
                )
            )


class _Segments(_Groups):
    """Conditions as groups of atom rows; ``holds(truth)`` is the AND of each condition's atoms
    (an empty condition is always true)."""

    def holds(self, truth: Mask) -> Mask:
        return self.all(truth)

    def all(self, matrix: Mask) -> Mask:
        out = np.ones((self.count, matrix.shape[1]), dtype=bool)
        for members, items in self.steps:
            out[members] &= matrix[items]
        return out


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
        self.atom_question = np.array(
            [self.question_index[a.question] for a in self.atoms] + [0], dtype=np.intp
        )
        self.atom_rows_of: dict[str, list[int]] = {}
        for i, atom in enumerate(self.atoms):
            self.atom_rows_of.setdefault(atom.question, []).append(i)

        # Red flags: urgency and service.
        self.rules = _Segments(rule_rows)
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
        self.raising_rules = _Segments([rule_rows[i] for i in raising])
        self.raising_rank = self.rule_rank[self.raising]
        #: Questions that may be listed as unanswered, in questionnaire order.
        self.candidates = [q for q in self.questions if q in kb.red_flag_questions]
        candidate_index = {q: i for i, q in enumerate(self.candidates)}
        opened_by: list[list[int]] = [[] for _ in self.candidates]  # raising rules per question
        for j, i in enumerate(raising):
            for q in dict.fromkeys(
                a.question for a in rules[i].when.atoms if not a.holds_when_unanswered
            ):
                opened_by[candidate_index[q]].append(j)
        self.opened_by = _Groups(opened_by)
        self.candidate_question = np.array(
            [self.question_index[q] for q in self.candidates], dtype=np.intp
        )
        self.candidate_enabled = _Segments([enable_rows[q] for q in self.candidates])

        # Causes: evidence grouped by cause (table order kept within a cause).
        evidence = kb.cause_evidence
        cause_position = {c: i for i, c in enumerate(self.causes)}
        self.evidence = _Segments(evidence_rows)
        self.evidence_weight = np.array(
            [round(e.weight * WEIGHT_SCALE) for e in evidence], dtype=np.int32
        )
        of_cause: list[list[int]] = [[] for _ in self.causes]
        for e, row in enumerate(evidence):
            of_cause[cause_position[row.cause]].append(e)
        self.evidence_of = _Groups(of_cause)
        self.min_score = round(MIN_CAUSE_SCORE * WEIGHT_SCALE)

        # Required questions (asked, unanswered: not enough information).
        self.required = [q.id for q in kb.questions.values() if q.required]
        self.required_question = np.array(
            [self.question_index[q] for q in self.required], dtype=np.intp
        )
        self.required_enabled = _Segments([enable_rows[q] for q in self.required])

        # Fired rules grouped by level, each level's rules in service precedence order.
        self.level_rules: list[tuple[int, npt.NDArray[np.intp], npt.NDArray[np.intp]]] = []
        for level in reversed(LEVELS[1:]):
            of_level = [i for i, r in enumerate(rules) if r.urgency is level]
            of_level.sort(key=lambda i: self.rule_service[i])
            self.level_rules.append(
                (level.rank, np.array(of_level, np.intp), self.rule_service[of_level])
            )

        self._tables: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def truth_table(self, qid: str, values: Sequence[Any]) -> np.ndarray:
        """Truth of each atom on ``qid`` (rows) for each distinct answer (columns), then for
        "unanswered" (last column, so that code -1 picks it). Evaluated by :meth:`Atom.holds`,
        the very evaluator of one person; ``values`` may only grow (new answers are evaluated
        when they first appear)."""
        atoms = [self.atoms[i] for i in self.atom_rows_of.get(qid, [])]
        with self._lock:
            table = self._tables.get(qid)
            if table is None:
                table = np.array([[a.holds({})] for a in atoms], dtype=bool).reshape(-1, 1)
            done = table.shape[1] - 1
            if done < len(values):
                new = np.array(
                    [[a.holds({qid: v}) for v in values[done:]] for a in atoms], dtype=bool
                ).reshape(len(atoms), -1)
                table = np.concatenate([table[:, :-1], new, table[:, -1:]], axis=1)
                self._tables[qid] = table
            elif done > len(values):
                return np.concatenate([table[:, : len(values)], table[:, -1:]], axis=1)
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
    scores: npt.NDArray[np.int32]  # (causes, n): summed weights in thousandths
    causes: npt.NDArray[np.intp]  # (shown, n): cause positions, best first, -1 = none
    missing: Mask  # (required questions, n): asked and unanswered
    incomplete: Mask  # (n,): a required answer missing and no rule fired


def decide(plan: Plan, facts: Facts, causes_shown: int = MAX_CAUSES) -> Decisions:
    """Apply every decision rule to ``n`` people at once (see the module docstring)."""
    truth, answered, n = facts.truth, facts.answered, facts.n

    fired = plan.rules.holds(truth)
    level = np.zeros(n, dtype=np.int8)
    service = plan.level_service[level]
    for rank, rules, services in plan.level_rules:  # most urgent level first
        if not len(rules):
            continue
        hits = fired[rules]
        first = hits.argmax(axis=0)  # the first fired rule in service precedence order
        here = (level == 0) & hits[first, np.arange(n)]
        level[here] = rank
        service = np.where(here, services[first], service)
    service = np.where(level == 0, plan.level_service[0], service).astype(np.intp)

    could = np.full((len(plan.candidates), n), -1, dtype=np.int8)
    if plan.opened_by.steps:
        open_atoms = truth | ~answered[plan.atom_question]
        possible = plan.raising_rules.all(open_atoms)
        possible &= plan.raising_rank[:, None] > level[None, :]
        unasked = ~answered[plan.candidate_question] & plan.candidate_enabled.holds(truth)
        for questions, rules in plan.opened_by.steps:
            hit = possible[rules] & unasked[questions]
            raised = np.where(hit, plan.raising_rank[rules][:, None], np.int8(-1))
            could[questions] = np.maximum(could[questions], raised)

    evidence = plan.evidence.holds(truth)
    scores = np.zeros((len(plan.causes), n), dtype=np.int32)  # thousandths: far from overflow
    matched = np.zeros((len(plan.causes), n), dtype=bool)
    for causes_k, rows in plan.evidence_of.steps:
        hit = evidence[rows]
        scores[causes_k] += np.where(hit, plan.evidence_weight[rows][:, None], 0)
        matched[causes_k] |= hit
    shown = matched & (scores >= plan.min_score)
    causes = _rank(np.where(shown, scores.astype(np.int64), _NONE), causes_shown)

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
