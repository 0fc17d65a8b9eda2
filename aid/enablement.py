"""Which questions a person is asked, given the answers so far: one rule for every face.

Visibility follows FHIR Questionnaire ``enableWhen``: a question is shown when its
``enable_when`` holds on the answers of the *shown* questions it depends on, so hiding cascades
(``pregnant`` hidden -> ``pregnancy_weeks`` hidden).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .knowledge import Question

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


def visible_questions(questions: Mapping[str, Question], raw: Mapping[str, Any]) -> dict[str, bool]:
    """Which questions are asked, given the current (raw, per-question) answers.

    A question is visible when its ``enable_when`` holds on the answers of the *visible*
    questions it depends on: hiding cascades (pregnant hidden -> pregnancy_weeks hidden). A
    dependency cycle, which knowledge.py does not forbid, shows the question (asking too much is
    safer than hiding a warning sign; the loader refuses loops, so it only matters for a
    hand-built question table).
    """
    memo: dict[str, bool] = {}
    visiting: set[str] = set()

    def visible(qid: str) -> bool:
        if qid in memo:
            return memo[qid]
        if qid in visiting:
            return True
        visiting.add(qid)
        q = questions[qid]
        seen = {
            dep: raw[dep]
            for dep in q.enable_when.questions
            if dep in questions and raw.get(dep) is not None and visible(dep)
        }
        visiting.discard(qid)
        memo[qid] = q.enable_when.matches(seen)
        return memo[qid]

    return {qid: visible(qid) for qid in questions}


def hidden_reason(questions: Mapping[str, Question], answers: Mapping[str, Any], qid: str) -> str:
    """Why question ``qid`` is not asked for these (validated) answers, in plain words.

    Names the first condition of its ``enable_when`` that does not hold, e.g. "not asked because
    you answered 'Male' to 'What sex were you assigned at birth?'"; a cascade says why the
    question it depends on was not asked either.
    """
    visible = visible_questions(questions, answers)
    return "not asked because " + _why_hidden(questions, answers, visible, qid)


def _why_hidden(
    questions: Mapping[str, Question],
    answers: Mapping[str, Any],
    visible: Mapping[str, bool],
    qid: str,
) -> str:
    seen = {d: answers[d] for d in answers if visible.get(d, True) and d in questions}
    for atom in questions[qid].enable_when.atoms:
        if atom.holds(seen):
            continue
        dep = questions[atom.question]
        if not visible.get(dep.id, True):
            return f"'{dep.prompt}' was not asked: " + _why_hidden(
                questions, answers, visible, dep.id
            )
        if dep.id in seen:
            return f"you answered '{dep.label_of(seen[dep.id])}' to '{dep.prompt}'"
        return f"you did not answer '{dep.prompt}'"
    return f"its condition ({questions[qid].enable_when.text}) does not hold"


def visible_by_codes(
    questions: Mapping[str, Question],
    codes: Mapping[str, npt.NDArray[np.integer]],
    values: Mapping[str, Sequence[Any]],
    n: int,
) -> dict[str, npt.NDArray[np.bool_]]:
    """:func:`visible_questions` for ``n`` people at once, for every question with an
    ``enable_when`` (the others are always asked).

    ``codes[q][row]`` indexes ``values[q]`` (validated answers), ``-1`` = unanswered. A question's
    visibility depends only on the answers to the questions above it (its ``enable_when``
    ancestors), so :func:`visible_questions` itself runs once per distinct combination of those
    answers and the outcome is gathered by code: the rule is written once, for one person.
    """
    import numpy as np

    out: dict[str, npt.NDArray[np.bool_]] = {}
    groups: dict[tuple[str, ...], list[str]] = {}
    for qid, q in questions.items():
        if q.enable_when.atoms:
            groups.setdefault(tuple(sorted(_ancestors(questions, qid))), []).append(qid)
    for deps, members in groups.items():
        columns = [codes[d] if d in codes else np.full(n, -1, dtype=np.int64) for d in deps]
        combined = np.zeros(n, dtype=np.int64)
        for column, dep in zip(columns, deps, strict=True):
            combined = combined * (len(values.get(dep, ())) + 1) + (column.astype(np.int64) + 1)
        distinct, inverse = np.unique(combined, return_inverse=True)
        sub = {q: questions[q] for q in (*deps, *members)}
        shown = np.zeros((len(members), len(distinct)), dtype=bool)
        for j, key in enumerate(distinct.tolist()):
            raw: dict[str, Any] = {}
            for dep in reversed(deps):
                size = len(values.get(dep, ())) + 1
                key, code = divmod(key, size)
                if code:
                    raw[dep] = values[dep][code - 1]
            seen = visible_questions(sub, raw)
            shown[:, j] = [seen[q] for q in members]
        for i, qid in enumerate(members):
            out[qid] = shown[i][inverse.reshape(-1)]
    return out


def _ancestors(questions: Mapping[str, Question], qid: str) -> set[str]:
    """The questions whose answers can decide whether ``qid`` is asked (loops are refused at
    load, so this ends)."""
    out: set[str] = set()
    stack = list(questions[qid].enable_when.questions)
    while stack:
        dep = stack.pop()
        if dep not in out:
            out.add(dep)
            stack.extend(questions[dep].enable_when.questions)
    return out
