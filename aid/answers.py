"""Answers: one person's replies, checked against ``questions.csv`` before any rule reads them.

Validation is strict on purpose: a misspelt option must not quietly become "no". Every error is
an :class:`AnswerError` naming the question and what it allows. An answer that is missing, ``None``,
an empty string or an empty list means *unanswered* ("unknown"), never "no": the rules treat it
as unknown and the result lists red-flag questions left unanswered.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any, Mapping

from .knowledge import Knowledge, Question, load_knowledge

AnswerValue = str | float | frozenset[str]


class AnswerError(ValueError):
    """An answer that questions.csv does not allow.

    Attributes
    ----------
    question : the question id (or the unknown key)
    allowed : plain description of what the question accepts
    """

    def __init__(self, question: str, problem: str, allowed: str):
        self.question, self.problem, self.allowed = question, problem, allowed
        super().__init__(f"{question or repr(question)}: {problem}; allowed: {allowed}")


def allowed_text(question: Question) -> str:
    """What a question accepts, in words an error message can show."""
    if question.kind in ("number", "scale"):
        whole = "a whole number" if question.kind == "scale" else "a number"
        unit = f" ({question.unit})" if question.unit else ""
        return f"{whole} from {question.minimum:g} to {question.maximum:g}{unit}"
    listed = ", ".join(question.options)
    if question.kind == "multi":
        return f"a list of any of: {listed}"
    return f"one of: {listed}"


def is_unanswered(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and not value.strip():
        return True
    if isinstance(value, (list, tuple, set, frozenset)) and len(value) == 0:
        return True
    return False


def validate_answer(question: Question, value: Any) -> AnswerValue:
    """Return the canonical form of one answer (str, float or frozenset) or raise AnswerError."""
    allowed = allowed_text(question)
    if question.kind in ("number", "scale"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AnswerError(question.id, f"expected a number, got {value!r}", allowed)
        number = float(value)
        if not math.isfinite(number):
            raise AnswerError(question.id, f"{value!r} is not a finite number", allowed)
        if question.kind == "scale" and not number.is_integer():
            raise AnswerError(question.id, f"{value!r} is not a whole number", allowed)
        assert question.minimum is not None and question.maximum is not None
        if not question.minimum <= number <= question.maximum:
            raise AnswerError(question.id, f"{value!r} is out of range", allowed)
        return number
    if question.kind == "yesno" and isinstance(value, bool):
        return "yes" if value else "no"
    if question.kind == "multi":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple, set, frozenset)):
            raise AnswerError(question.id, f"expected a list of options, got {value!r}", allowed)
        chosen = set()
        for item in items:
            if not isinstance(item, str) or item not in question.options:
                raise AnswerError(question.id, f"unknown option {item!r}", allowed)
            chosen.add(item)
        if "none" in chosen and len(chosen) > 1:
            raise AnswerError(
                question.id, "'none' cannot be combined with other options", allowed
            )
        return frozenset(chosen)
    if not isinstance(value, str) or value not in question.options:
        raise AnswerError(question.id, f"unknown option {value!r}", allowed)
    return value


class Answers(Mapping[str, AnswerValue]):
    """A validated, read-only mapping of question id to answer; unanswered questions are absent."""

    __slots__ = ("_values",)

    def __init__(self, raw: Mapping[str, Any] | None = None, knowledge: Knowledge | None = None):
        knowledge = knowledge or load_knowledge()
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise AnswerError(
                "answers", f"expected an object keyed by question id, got {type(raw).__name__}",
                "a mapping of question id to answer",
            )
        values: dict[str, AnswerValue] = {}
        for key, value in raw.items():
            question = knowledge.questions.get(key) if isinstance(key, str) else None
            if question is None:
                raise AnswerError(
                    str(key), "unknown question", f"question ids: {', '.join(knowledge.questions)}"
                )
            if is_unanswered(value):
                continue
            values[key] = validate_answer(question, value)
        self._values = MappingProxyType(values)

    def __getitem__(self, key: str) -> AnswerValue:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Answers({dict(self._values)!r})"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: sets become sorted lists, whole numbers become ints."""
        out: dict[str, Any] = {}
        for key, value in self._values.items():
            if isinstance(value, frozenset):
                out[key] = sorted(value)
            elif isinstance(value, float) and value.is_integer():
                out[key] = int(value)
            else:
                out[key] = value
        return out
