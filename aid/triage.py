"""``triage(answers) -> Result``: red flags set urgency, evidence ranks causes, advice follows.

Pure: no I/O, no widgets, nothing global but the loaded knowledge. The semantics are those of
``docs/architecture.md`` ("Triage semantics"):

* urgency is the highest level among fired ``red_flags.csv`` rows; every fired row is a reason.
  Rows do not stack: a combination is an emergency only where a row names it (policy "How rules
  combine", G17), so two unrelated "see a doctor today" signs stay "today". No fired row means
  ``selfcare``;
* the result says where to go: the service of its most urgent rows, the first in
  ``services.csv`` order (the more specific service first); ``home`` for self-care;
* causes are ranked by the summed weights of their matched ``cause_evidence.csv`` rows and only
  shown as *possible contributing* causes;
* advice rows are chosen by cause and answers; a matching ``avoid_when`` withholds a row and says
  why; self-care advice is not offered when the person must go to the emergency department;
  safety-netting rows always apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .answers import Answers
from .conditions import Condition
from .knowledge import Knowledge, load_knowledge
from .result import (
    AdviceItem,
    Evidence,
    FiredAnswer,
    PossibleCause,
    Reason,
    Result,
    Unanswered,
    WithheldAdvice,
)
from .services import Service
from .urgency import Urgency

#: A cause needs at least this much summed evidence to be shown at all.
MIN_CAUSE_SCORE = 1.0
#: At most this many possible causes are shown: more would read like a diagnosis list.
MAX_CAUSES = 5
#: Advice kinds not offered when the person is told to go to the emergency department now.
NOT_WHILE_EMERGENCY = frozenset({"selfcare", "treatment", "prevention"})


def triage(answers: Mapping[str, Any] | Answers, knowledge: Knowledge | None = None) -> Result:
    """Triage one person.

    Parameters
    ----------
    answers : question id -> answer; validated against ``questions.csv`` unless already
        :class:`~aid.answers.Answers`. Missing questions are unknown, never "no".
    knowledge : the tables to use (default: ``data/knowledge``).

    Raises
    ------
    aid.AnswerError
        for an unknown question, an unknown option, a wrong type or an out-of-range number.
    """
    kb = knowledge or load_knowledge()
    valid = answers if isinstance(answers, Answers) else Answers(answers, kb)

    reasons = _fired_reasons(kb, valid)
    urgency = max((r.urgency for r in reasons), default=Urgency.SELFCARE)
    service = choose_service(kb, urgency, reasons)
    causes = _rank_causes(kb, valid)
    advice, withheld, safety_net = _select_advice(kb, valid, causes, urgency)
    return Result(
        urgency=urgency,
        service=service,
        reasons=reasons,
        causes=causes,
        advice=advice,
        safety_net=safety_net,
        withheld=withheld,
        unanswered=_unanswered_red_flags(kb, valid, urgency),
        unanswered_required=tuple(
            q.id
            for q in kb.questions.values()
            if q.required and q.id not in valid and q.enable_when.matches(valid)
        ),
        answers=valid.to_json(),
        kb_version=kb.version,
    )


def explain(kb: Knowledge, condition: Condition, answers: Answers) -> tuple[FiredAnswer, ...]:
    """The answers a condition read, in plain words (an unanswered one is said to be so)."""
    out = []
    for qid in condition.questions:
        question = kb.questions[qid]
        text = question.label_of(answers[qid]) if qid in answers else "not answered"
        out.append(FiredAnswer(qid, question.prompt, text))
    return tuple(out)


def choose_service(kb: Knowledge, urgency: Urgency, reasons: tuple[Reason, ...]) -> Service:
    """Where to go: among the rules at the result's level, the service first in table order.

    ``services.csv`` lists each level's services from the most specific (maternity unit,
    acute oncology) to the most general, so a pregnant woman with an emergency sign is sent to
    the maternity unit even when a general emergency rule fires too. Self-care goes ``home``.
    """
    named = {kb.rule(r.rule_id).service for r in reasons if r.urgency == urgency}
    for service in kb.services.values():
        if service.level == urgency.value and (service.id in named or not named):
            return service
    raise AssertionError(f"no {urgency.value} service in services.csv")  # the loader prevents it


def _fired_reasons(kb: Knowledge, answers: Answers) -> tuple[Reason, ...]:
    fired = [
        Reason(
            rule_id=rule.id,
            urgency=rule.urgency,
            group=rule.group,
            reason=rule.reason,
            clinician_note=rule.clinician_note,
            answers=explain(kb, rule.when, answers),
            source=rule.source,
        )
        for rule in kb.red_flags
        if rule.when.matches(answers)
    ]
    # Most urgent first; within a level, table order (stable sort).
    return tuple(sorted(fired, key=lambda r: -r.urgency.rank))


def _rank_causes(kb: Knowledge, answers: Answers) -> tuple[PossibleCause, ...]:
    scores: dict[str, float] = {}
    evidence: dict[str, list[Evidence]] = {}
    for row in kb.cause_evidence:
        if row.when.matches(answers):
            scores[row.cause] = scores.get(row.cause, 0.0) + row.weight
            evidence.setdefault(row.cause, []).append(
                Evidence(
                    id=row.id,
                    weight=row.weight,
                    explanation=row.explanation,
                    answers=explain(kb, row.when, answers),
                    source=row.source,
                )
            )
    order = list(kb.causes)
    ranked = sorted(
        (cid for cid, score in scores.items() if score >= MIN_CAUSE_SCORE),
        key=lambda cid: (-scores[cid], order.index(cid)),
    )[:MAX_CAUSES]
    out = []
    for cid in ranked:
        cause = kb.causes[cid]
        out.append(
            PossibleCause(
                cause_id=cid,
                name=cause.name,
                lay_name=cause.lay_name,
                group=cause.group,
                summary=cause.summary,
                score=round(scores[cid], 3),
                evidence=tuple(sorted(evidence[cid], key=lambda e: -e.weight)),
                source=cause.source,
            )
        )
    return tuple(out)


def _select_advice(
    kb: Knowledge, answers: Answers, causes: tuple[PossibleCause, ...], urgency: Urgency
) -> tuple[tuple[AdviceItem, ...], tuple[WithheldAdvice, ...], tuple[AdviceItem, ...]]:
    shown = {c.cause_id for c in causes}
    advice: list[AdviceItem] = []
    withheld: list[WithheldAdvice] = []
    safety_net: list[AdviceItem] = []
    for row in kb.advice:
        if not row.when.matches(answers):
            continue
        if row.applies_to != ("*",) and shown.isdisjoint(row.applies_to):
            continue
        item = AdviceItem(row.id, row.kind, row.text, row.source)
        if row.kind == "safetynet":
            safety_net.append(item)
            continue
        if urgency == Urgency.EMERGENCY and row.kind in NOT_WHILE_EMERGENCY:
            continue
        if any(c.matches(answers) for c in row.avoid_when):
            withheld.append(WithheldAdvice(row.id, row.text, row.avoid_reason, row.source))
            continue
        advice.append(item)
    return tuple(advice), tuple(withheld), tuple(safety_net)


def _unanswered_red_flags(
    kb: Knowledge, answers: Answers, urgency: Urgency
) -> tuple[Unanswered, ...]:
    """Unanswered questions that could still fire a rule that would raise the urgency.

    A rule "could still fire" when every atom on an answered question holds; each of its
    unanswered (positive) atoms names a question worth asking. Questions hidden by their
    ``enable_when`` are skipped: the question they depend on is listed instead.
    """
    could: dict[str, Urgency] = {}
    for rule in kb.red_flags:
        if rule.urgency < Urgency.URGENT or rule.urgency <= urgency:
            continue
        open_questions = []
        possible = True
        for atom in rule.when.atoms:
            if atom.question in answers:
                if not Condition((atom,), str(atom)).matches(answers):
                    possible = False
                    break
            elif not atom.holds_when_unanswered:
                open_questions.append(atom.question)
        if not possible:
            continue
        for qid in open_questions:
            if kb.questions[qid].enable_when.matches(answers):
                could[qid] = max(could.get(qid, rule.urgency), rule.urgency)
    order = list(kb.questions)
    return tuple(
        Unanswered(qid, kb.questions[qid].prompt, could[qid])
        for qid in sorted(could, key=lambda q: (-could[q].rank, order.index(q)))
    )
