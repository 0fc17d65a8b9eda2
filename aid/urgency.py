"""Urgency levels: the one ordered vocabulary every part of the aid speaks.

The levels and the action told to the person come from ``clinical-references.md`` ("Levels"),
which maps them to NHS 111 dispositions and to Semigran et al. (BMJ 2015).
"""

from __future__ import annotations

from enum import Enum


class Urgency(str, Enum):
    """How soon the person needs care, lowest first so ``max()`` picks the most urgent."""

    SELFCARE = "selfcare"
    SOON = "soon"
    URGENT = "urgent"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        return _ORDER.index(self)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Urgency):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Urgency):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Urgency):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Urgency):
            return NotImplemented
        return self.rank >= other.rank

    @property
    def action(self) -> str:
        """One plain sentence telling the person what to do now."""
        return _ACTIONS[self]

    @property
    def label(self) -> str:
        """A short heading for banners and tables."""
        return _LABELS[self]


_ORDER = [Urgency.SELFCARE, Urgency.SOON, Urgency.URGENT, Urgency.EMERGENCY]

#: Every level, most urgent first: the order of tables, charts and the review of a cohort.
MOST_URGENT_FIRST: tuple[Urgency, ...] = tuple(reversed(_ORDER))
#: The levels a red-flag rule may set (a rule never says "self-care").
RULE_LEVELS: tuple[Urgency, ...] = MOST_URGENT_FIRST[:-1]

_ACTIONS = {
    Urgency.EMERGENCY: "Call emergency services or go to the emergency department now.",
    Urgency.URGENT: "See a doctor today: a same-day GP appointment, urgent care or out-of-hours service.",
    Urgency.SOON: "Book an appointment with a doctor or physiotherapist within the next few days.",
    Urgency.SELFCARE: "You can look after this at home for now; get help if any warning sign below appears.",
}

_LABELS = {
    Urgency.EMERGENCY: "Emergency",
    Urgency.URGENT: "See a doctor today",
    Urgency.SOON: "See a doctor soon",
    Urgency.SELFCARE: "Self-care",
}
