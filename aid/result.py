"""The frozen result of one triage, and its JSON form.

Everything the aid tells a person is here with its provenance: each reason names the rule, the
answers that fired it and the source; each cause lists its evidence; each advice item its source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .services import Service
from .urgency import Urgency

#: What an incomplete result tells the person instead of a level (issue 12: never "self-care").
INCOMPLETE_LABEL = "Not enough information yet"
INCOMPLETE_ACTION = (
    "Not enough information to give advice yet: answer the questions listed. If any emergency "
    "warning sign applies, call 999 or go to the emergency department now."
)


@dataclass(frozen=True)
class FiredAnswer:
    """One answer that made a rule or a piece of evidence hold, in plain words."""

    question: str
    prompt: str
    answer: str

    def to_dict(self) -> dict[str, str]:
        return {"question": self.question, "prompt": self.prompt, "answer": self.answer}


@dataclass(frozen=True)
class Reason:
    """Why the urgency is what it is: one fired rule from red_flags.csv."""

    rule_id: str
    urgency: Urgency
    group: str
    reason: str
    clinician_note: str
    answers: tuple[FiredAnswer, ...]
    source: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "urgency": self.urgency.value,
            "group": self.group,
            "reason": self.reason,
            "clinician_note": self.clinician_note,
            "answers": [a.to_dict() for a in self.answers],
            "source": list(self.source),
        }


@dataclass(frozen=True)
class Evidence:
    id: str
    weight: float
    explanation: str
    answers: tuple[FiredAnswer, ...]
    source: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "weight": self.weight,
            "explanation": self.explanation,
            "answers": [a.to_dict() for a in self.answers],
            "source": list(self.source),
        }


@dataclass(frozen=True)
class PossibleCause:
    """A possible contributing cause: never a diagnosis, always with the evidence behind it."""

    cause_id: str
    name: str
    lay_name: str
    group: str
    summary: str
    score: float
    evidence: tuple[Evidence, ...]
    source: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cause_id": self.cause_id,
            "name": self.name,
            "lay_name": self.lay_name,
            "group": self.group,
            "summary": self.summary,
            "score": self.score,
            "evidence": [e.to_dict() for e in self.evidence],
            "source": list(self.source),
        }


@dataclass(frozen=True)
class AdviceItem:
    id: str
    kind: str
    text: str
    source: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "text": self.text, "source": list(self.source)}


@dataclass(frozen=True)
class WithheldAdvice:
    """Advice that would otherwise apply but a caution removed, and why in plain words."""

    id: str
    text: str
    why: str
    source: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "why": self.why, "source": list(self.source)}


@dataclass(frozen=True)
class Unanswered:
    """A red-flag question the person did not answer; its answer could raise the urgency."""

    question: str
    prompt: str
    could_raise_to: Urgency

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "prompt": self.prompt,
            "could_raise_to": self.could_raise_to.value,
        }


@dataclass(frozen=True)
class IgnoredAnswer:
    """An answer to a question that was not asked for these answers (its ``enable_when`` does not
    hold), so triage did not use it; kept and shown, never silently dropped."""

    question_id: str
    prompt: str
    answer: str  # the answer in words
    reason: str  # e.g. "not asked because you answered 'Male' to 'What sex ...?'"

    def to_dict(self) -> dict[str, str]:
        return {
            "question": self.question_id,
            "prompt": self.prompt,
            "answer": self.answer,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Result:
    """The whole answer of :func:`aid.triage`: urgency first, then why, causes and advice."""

    urgency: Urgency
    service: Service
    reasons: tuple[Reason, ...]
    causes: tuple[PossibleCause, ...]
    advice: tuple[AdviceItem, ...]
    safety_net: tuple[AdviceItem, ...]
    withheld: tuple[WithheldAdvice, ...]
    unanswered: tuple[Unanswered, ...]
    unanswered_required: tuple[str, ...]
    answers: dict[str, Any] = field(hash=False, compare=True)
    kb_version: str = ""
    #: Answers to questions that were not asked (hidden by ``enable_when``): not used, and why.
    ignored: tuple[IgnoredAnswer, ...] = ()

    @property
    def incomplete(self) -> bool:
        """True while advice that sounds safe would rest on missing information: a required
        question is unanswered and no rule has fired. The result then says "not enough
        information" on every face, never "self-care" (a fired rule always shows at once)."""
        return self.urgency is Urgency.SELFCARE and bool(self.unanswered_required)

    @property
    def action(self) -> str:
        if self.incomplete:
            return INCOMPLETE_ACTION
        return self.urgency.action

    @property
    def fired_rule_ids(self) -> tuple[str, ...]:
        return tuple(r.rule_id for r in self.reasons)

    def advice_of(self, kind: str) -> tuple[AdviceItem, ...]:
        return tuple(a for a in self.advice if a.kind == kind)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form: the CLI's ``--json`` output and the encounter log's record."""
        return {
            "status": "incomplete" if self.incomplete else "complete",
            "urgency": self.urgency.value,
            "action": self.action,
            "service": self.service.to_dict(),
            "reasons": [r.to_dict() for r in self.reasons],
            "causes": [c.to_dict() for c in self.causes],
            "advice": [a.to_dict() for a in self.advice],
            "safety_net": [a.to_dict() for a in self.safety_net],
            "withheld": [w.to_dict() for w in self.withheld],
            "unanswered": [u.to_dict() for u in self.unanswered],
            "unanswered_required": list(self.unanswered_required),
            "answers": dict(self.answers),
            "ignored": [i.to_dict() for i in self.ignored],
            "kb_version": self.kb_version,
        }
