"""Hypothesis strategies for valid answers, shared by the property and cohort tests.

Both suites must generate answers the same way a caller of ``aid.triage`` may send them, so the
strategy lives in one place.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from aid import load_knowledge
from aid.knowledge import Question

QUESTIONS = list(load_knowledge().questions.values())


def value_for(question: Question) -> st.SearchStrategy[Any]:
    """Any valid answer to one question, in the forms a caller of aid.triage may send."""
    if question.kind == "scale":
        return st.integers(int(question.minimum), int(question.maximum))
    if question.kind == "number":
        return st.one_of(
            st.integers(int(question.minimum), int(question.maximum)),
            st.floats(question.minimum, question.maximum, allow_nan=False),
        )
    if question.kind == "multi":
        real = [o for o in question.options if o != "none"]
        chosen = st.lists(st.sampled_from(real), min_size=1, unique=True)
        return st.one_of(chosen, st.just(["none"])) if "none" in question.options else chosen
    if question.kind == "yesno":
        return st.one_of(st.sampled_from(["yes", "no"]), st.booleans())
    return st.sampled_from(question.options)


@st.composite
def valid_answers(draw) -> dict[str, Any]:
    """A valid answer set over a random subset of the questions (the rest unanswered)."""
    chosen = draw(st.lists(st.sampled_from(QUESTIONS), unique_by=lambda q: q.id))
    return {q.id: draw(value_for(q)) for q in chosen}
