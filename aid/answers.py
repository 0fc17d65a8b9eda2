"""Answers: one person's replies, checked against ``questions.csv`` before any rule reads them.

Validation is strict on purpose: a misspelt option must not quietly become "no". Every error is
an :class:`AnswerError` naming the question and what it allows. An answer that is missing, ``None``,
an empty string or an empty list means *unanswered* ("unknown"), never "no": the rules treat it
as unknown and the result lists red-flag questions left unanswered.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from types import MappingProxyType
from typing import Any

from .conditions import MULTI_SEPARATOR
from .knowledge import Knowledge, Question, load_knowledge

AnswerValue = str | float | frozenset[str]

#: An error message shows at most this many characters of a bad value (or of an unknown key):
#: a 5 MB answer must give a one-line message, not a 5 MB one.
SHOWN_CHARS = 80
#: Nested lists or objects inside an answer are shown this many levels deep, then as ``...``.
_SHOWN_DEPTH = 2
#: Items of a list or object shown before ``...``.
_SHOWN_ITEMS = 4
#: Python refuses to turn an int of more than 4,300 digits into text; below this many bits
#: (about 4,200 digits) ``str()`` is safe, above it the number is described by its length.
_INT_TEXT_BITS = 14_000


@dataclass(frozen=True)
class LongNumber:
    """A number written with more digits than any answer can need.

    The command line's JSON reader makes one instead of converting thousands of digits (Python
    refuses past 4,300, and the work grows with the length), so that validation can still say
    which question it was given to: every question refuses it.
    """

    digits: int

    def __repr__(self) -> str:
        return f"a number written with {self.digits:,} digits"


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A bad value as an error message may show it: its repr, cut to ``limit`` characters.

    Why: messages echo the value so that a person can find it, but a huge value (a 5 MB
    string, a 5,000-digit number, a list nested 1,000 deep) must neither flood the terminal nor
    fail while being described. A cut value ends with ``...`` and says how long it was.
    """
    text = _brief(value, 0)
    if len(text) <= limit:
        return text
    size = f" ({len(value):,} characters)" if isinstance(value, str) else ""
    return text[: max(0, limit - 3)] + "..." + size


def _brief(value: Any, depth: int) -> str:
    """A bounded repr: long strings cut, containers shown a few items and levels deep."""
    if isinstance(value, str):
        return repr(value[: SHOWN_CHARS + 1])
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() <= _INT_TEXT_BITS:
            return str(value)
        return f"a number written with about {int(math.log10(abs(value))) + 1:,} digits"
    if isinstance(value, LongNumber):
        return repr(value)
    if isinstance(value, Mapping):
        if depth >= _SHOWN_DEPTH:
            return "{...}"
        items = [
            f"{_brief(k, depth + 1)}: {_brief(v, depth + 1)}"
            for k, v in islice(value.items(), _SHOWN_ITEMS)
        ]
        more = ", ..." if len(value) > _SHOWN_ITEMS else ""
        return "{" + ", ".join(items) + more + "}"
    if isinstance(value, (list, tuple, set, frozenset)):
        if depth >= _SHOWN_DEPTH:
            return "[...]"
        items = [_brief(v, depth + 1) for v in islice(value, _SHOWN_ITEMS)]
        more = ", ..." if len(value) > _SHOWN_ITEMS else ""
        return "[" + ", ".join(items) + more + "]"
    return f"a {type(value).__name__}"


class AnswerError(ValueError):
    """An answer that questions.csv does not allow.

    Attributes
    ----------
    question : the question id (or the unknown key)
    allowed : plain description of what the question accepts
    """

    def __init__(self, question: str, problem: str, allowed: str):
        if len(question) > SHOWN_CHARS:  # an unknown key may be anything a file holds
            question = shown(question)
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
        if isinstance(value, LongNumber):
            raise AnswerError(question.id, f"{shown(value)} is out of range", allowed)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AnswerError(question.id, f"expected a number, got {shown(value)}", allowed)
        if isinstance(value, float) and not math.isfinite(value):
            raise AnswerError(question.id, f"{shown(value)} is not a finite number", allowed)
        if question.kind == "scale" and isinstance(value, float) and not value.is_integer():
            raise AnswerError(question.id, f"{shown(value)} is not a whole number", allowed)
        assert question.minimum is not None and question.maximum is not None
        # Compared before float(): a 400-digit int is out of range, not an OverflowError.
        if not question.minimum <= value <= question.maximum:
            raise AnswerError(question.id, f"{shown(value)} is out of range", allowed)
        return float(value)
    if question.kind == "yesno" and isinstance(value, bool):
        return "yes" if value else "no"
    if question.kind == "multi":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple, set, frozenset)):
            raise AnswerError(
                question.id, f"expected a list of options, got {shown(value)}", allowed
            )
        chosen = set()
        for item in items:
            if not isinstance(item, str) or item not in question.options:
                raise AnswerError(question.id, f"unknown option {shown(item)}", allowed)
            chosen.add(item)
        if "none" in chosen and len(chosen) > 1:
            raise AnswerError(question.id, "'none' cannot be combined with other options", allowed)
        return frozenset(chosen)
    if not isinstance(value, str) or value not in question.options:
        raise AnswerError(question.id, f"unknown option {shown(value)}", allowed)
    return value


#: Characters a number written as text may have (the command line's JSON reader uses the same
#: bound): no answer needs more, and a longer one is described by its length.
MAX_NUMBER_CHARS = 100


def cell_answer(question: Question, cell: Any) -> AnswerValue | None:
    """One cell of a clinic export as a validated answer, or ``None`` when unanswered.

    A cell is either text as the CSV export writes it (whitespace trimmed; numbers as text;
    multi-choice options joined by ``;``) or a Python value as :class:`Answers` takes it
    (a number, ``True``/``False`` for yes/no, a list of options; numpy scalars are read as
    Python ones). The text is only *read* here; every check is :func:`validate_answer`'s, so a
    cohort row and one person's answers are held to the same rules and the same messages.
    Raises :class:`AnswerError`.
    """
    if type(cell).__module__ == "numpy" and hasattr(cell, "item"):
        cell = cell.item()
    if isinstance(cell, str):
        text = cell.strip()
        if not text:
            return None
        if question.kind == "multi":
            items = [item.strip() for item in text.split(MULTI_SEPARATOR)]
            chosen = [item for item in items if item]
            if not chosen:
                return None
            return validate_answer(question, chosen)
        if question.kind in ("number", "scale"):
            return validate_answer(question, _number_of_text(text))
        return validate_answer(question, text)
    if is_unanswered(cell):
        return None
    return validate_answer(question, cell)


def _number_of_text(text: str) -> Any:
    """The number a cell's text writes (int when whole digits), else the text itself, so that
    validation says "expected a number, got 'forty'" (and the text "nan" is not a number)."""
    if len(text) > MAX_NUMBER_CHARS:
        return LongNumber(sum(ch.isdigit() for ch in text))
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return text if math.isnan(number) else number


class Answers(Mapping[str, AnswerValue]):
    """A validated, read-only mapping of question id to answer; unanswered questions are absent."""

    __slots__ = ("_values",)

    def __init__(self, raw: Mapping[str, Any] | None = None, knowledge: Knowledge | None = None):
        knowledge = knowledge or load_knowledge()
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise AnswerError(
                "answers",
                f"expected an object keyed by question id, got {type(raw).__name__}",
                "a mapping of question id to answer",
            )
        values: dict[str, AnswerValue] = {}
        for key, value in raw.items():
            question = knowledge.questions.get(key) if isinstance(key, str) else None
            if question is None:
                raise AnswerError(
                    key if isinstance(key, str) else shown(key),
                    "unknown question",
                    f"question ids: {', '.join(knowledge.questions)}",
                )
            if is_unanswered(value):
                continue
            values[key] = validate_answer(question, value)
        self._values = MappingProxyType(values)

    def __getitem__(self, key: str) -> AnswerValue:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Answers({dict(self._values)!r})"

    def only(self, keep: Iterable[str]) -> Answers:
        """The answers to the questions in ``keep`` (already validated: not checked again)."""
        out = Answers.__new__(Answers)
        out._values = MappingProxyType({k: self._values[k] for k in keep if k in self._values})
        return out

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
