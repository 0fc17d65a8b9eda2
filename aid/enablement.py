"""Which questions a person is asked, given the answers so far: one rule for every face.

Visibility follows FHIR Questionnaire ``enableWhen``: a question is shown when its
``enable_when`` holds on the answers of the *shown* questions it depends on, so hiding cascades
(``pregnant`` hidden -> ``pregnancy_weeks`` hidden).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .knowledge import Question


def visible_questions(questions: Mapping[str, Question], raw: Mapping[str, Any]) -> dict[str, bool]:
    """Which questions are asked, given the current (raw, per-question) answers.

    A question is visible when its ``enable_when`` holds on the answers of the *visible*
    questions it depends on: hiding cascades (pregnant hidden -> pregnancy_weeks hidden). A
    dependency cycle, which knowledge.py does not forbid, shows the question (asking too much is
    safer than hiding a warning sign).
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
