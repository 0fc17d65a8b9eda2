"""The tiny ``when`` language shared by every knowledge table.

A condition is a conjunction of atoms joined by ``&``::

    bladder_control=lost & age>=50 & location in lower_back|upper_back

Operators follow FHIR Questionnaire ``enableWhen``: ``=``, ``!=``, ``>``, ``>=``, ``<``,
``<=``, ``in``, ``exists`` and its negation ``missing`` (FHIR's ``exists`` with answer false). A condition is parsed once into frozen :class:`Atom` objects and
then evaluated either on one person's answers (a mapping) or column-wise on a pandas
``DataFrame`` (a cohort), so the two paths share one parse and cannot drift apart.

Semantics of an unanswered question (the safety-relevant part):

* every positive atom (``=``, ``in``, comparisons, ``exists``) is **false** when the question is
  unanswered: a red flag never fires on a fact nobody stated;
* ``q != v`` is **true** when ``q`` is unanswered (FHIR's rule for ``!=``): it reads "not known to
  be ``v``". Red-flag rows use it to escalate when a reassuring answer is missing, e.g.
  ``leg_weakness=yes & leg_symptoms_new!=no`` fires unless the person said the weakness is old;
* ``q missing`` is true exactly when ``q`` is unanswered: a rule limited to fresh pain
  (``duration_days<=14``) gets a twin with ``duration_days missing`` so that an unknown duration
  escalates instead of silently reassuring.

Multi-choice answers are sets: ``q=v`` means ``v`` is among the chosen options, ``q in a|b`` means
at least one of them is, ``q != v`` means ``v`` is not chosen. ``q exists`` is true when any answer
was given. In a DataFrame a multi-choice cell holds its options joined by ``;``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported lazily: the engine does not need it to triage one person
    import pandas as pd

OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "in", "exists", "missing")
#: Operators that hold when the question is unanswered (the "not known to be reassuring" ones).
HOLD_WHEN_UNANSWERED = frozenset({"!=", "missing"})
NUMERIC_OPERATORS = frozenset({">", ">=", "<", "<="})
MULTI_SEPARATOR = ";"

_ATOM = re.compile(
    r"""^\s*(?P<question>[a-z][a-z0-9_]*)\s*
        (?:
            (?P<op>!=|>=|<=|=|>|<)\s*(?P<value>[^\s&|]+)
          | \s(?P<in>in)\s+(?P<values>[^\s&|]+(?:\s*\|\s*[^\s&|]+)*)
          | \s(?P<exists>exists|missing)
        )\s*$""",
    re.VERBOSE,
)


class ConditionError(ValueError):
    """A ``when`` text that does not follow the grammar; the message says what was expected."""


@dataclass(frozen=True)
class Atom:
    """One comparison: ``question op value`` (``values`` holds the right-hand side as text)."""

    question: str
    op: str
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.op in ("exists", "missing"):
            return f"{self.question} {self.op}"
        if self.op == "in":
            return f"{self.question} in {'|'.join(self.values)}"
        return f"{self.question}{self.op}{self.values[0]}"

    @property
    def holds_when_unanswered(self) -> bool:
        """True for ``!=`` and ``missing``: the atom reads "not known to be ...", so it cannot
        name a question to ask, and it may stop holding once the question is answered."""
        return self.op in HOLD_WHEN_UNANSWERED

    def holds(self, answers: Mapping[str, Any]) -> bool:
        """Whether this atom holds for one person's validated answers (missing = unanswered)."""
        return _atom_matches(self, answers.get(self.question))

    @property
    def number(self) -> float:
        """The right-hand side of a numeric comparison."""
        return float(self.values[0])


@dataclass(frozen=True)
class Condition:
    """A parsed conjunction of atoms. The empty condition is always true."""

    atoms: tuple[Atom, ...]
    text: str

    @property
    def questions(self) -> tuple[str, ...]:
        """Question ids this condition reads, in order of first use."""
        return tuple(dict.fromkeys(a.question for a in self.atoms))

    def __str__(self) -> str:
        return self.text

    def matches(self, answers: Mapping[str, Any]) -> bool:
        """Evaluate on one person's validated answers (missing key = unanswered)."""
        return all(_atom_matches(a, answers.get(a.question)) for a in self.atoms)

    def matched_atoms(self, answers: Mapping[str, Any]) -> tuple[Atom, ...]:
        """The atoms that hold for these answers (to explain why a rule fired)."""
        return tuple(a for a in self.atoms if _atom_matches(a, answers.get(a.question)))

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        """Evaluate column-wise on a cohort frame; one boolean per row, no Python row loop.

        The frame holds validated answers: numbers as floats (NaN = unanswered), choices as
        strings (missing = unanswered), multi-choice as ``;``-joined strings. A column that is
        absent means the question was unanswered for everyone.
        """
        import pandas as pd

        result = pd.Series(True, index=frame.index)
        for atom in self.atoms:
            result &= _atom_mask(atom, frame)
        return result


def parse(text: str | float | None) -> Condition:
    """Parse a ``when`` text; blank or missing text is the always-true condition."""
    if text is None or (isinstance(text, float) and text != text):  # NaN from pandas
        return Condition((), "")
    text = str(text).strip()
    if not text:
        return Condition((), "")
    atoms = []
    for part in text.split("&"):
        m = _ATOM.match(part)
        if not m:
            raise ConditionError(
                f"cannot read {part.strip()!r}: expected `question OP value` with OP one of "
                f"{', '.join(OPERATORS)} (e.g. `age>=50`, `location in ribs|upper_back`, "
                "`fever exists`), atoms joined by `&`"
            )
        q = m.group("question")
        if m.group("exists"):
            atoms.append(Atom(q, m.group("exists")))
        elif m.group("in"):
            atoms.append(Atom(q, "in", tuple(v.strip() for v in m.group("values").split("|"))))
        else:
            op, value = m.group("op"), m.group("value")
            if op in NUMERIC_OPERATORS:
                try:
                    float(value)
                except ValueError:
                    raise ConditionError(
                        f"cannot read {part.strip()!r}: `{op}` needs a number, got {value!r}"
                    ) from None
            atoms.append(Atom(q, op, (value,)))
    return Condition(tuple(atoms), text)


def _as_set(answer: Any) -> frozenset[str]:
    if isinstance(answer, (frozenset, set, tuple, list)):
        return frozenset(str(a) for a in answer)
    return frozenset({str(answer)})


def _atom_matches(atom: Atom, answer: Any) -> bool:
    if answer is None:
        return atom.holds_when_unanswered
    if atom.op == "missing":
        return False
    if atom.op == "exists":
        return True
    if atom.op in NUMERIC_OPERATORS:
        value = float(answer)
        n = atom.number
        return {">": value > n, ">=": value >= n, "<": value < n, "<=": value <= n}[atom.op]
    chosen = _as_set(answer)
    if atom.op == "=":
        return atom.values[0] in chosen
    if atom.op == "!=":
        return atom.values[0] not in chosen
    return not chosen.isdisjoint(atom.values)  # "in"


def _atom_mask(atom: Atom, frame: pd.DataFrame) -> pd.Series:
    import pandas as pd

    if atom.question not in frame.columns:
        return pd.Series(atom.holds_when_unanswered, index=frame.index)
    column = frame[atom.question]
    answered = column.notna()
    if atom.op == "exists":
        return answered
    if atom.op == "missing":
        return ~answered
    if atom.op in NUMERIC_OPERATORS:
        numbers = pd.to_numeric(column, errors="coerce")
        n = atom.number
        compared = {">": numbers > n, ">=": numbers >= n, "<": numbers < n, "<=": numbers <= n}[
            atom.op
        ]
        return compared.fillna(False).astype(bool) & answered
    # Choice and multi-choice cells: wrap in separators so `a` never matches inside `ab`.
    padded = MULTI_SEPARATOR + column.astype("string").fillna("") + MULTI_SEPARATOR
    hits = pd.Series(False, index=frame.index)
    for value in atom.values:
        hits |= padded.str.contains(MULTI_SEPARATOR + value + MULTI_SEPARATOR, regex=False)
    hits = hits.fillna(False).astype(bool)
    if atom.op == "!=":
        return ~hits | ~answered
    return hits & answered
