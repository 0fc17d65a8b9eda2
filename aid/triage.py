"""``triage(answers) -> Result``: red flags set urgency, evidence ranks causes, advice follows.

Pure: no I/O, no widgets, nothing global but the loaded knowledge. The decisions themselves are
:func:`aid.decisions.decide` (shared with the cohort); this module validates, sets aside answers
to questions that are not asked (:mod:`aid.enablement`; listed in ``Result.ignored``) and words
the result. The semantics are those of ``docs/architecture.md`` ("Triage semantics"):

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
from .decisions import (
    LEVELS,
    MAX_CAUSES,
    MIN_CAUSE_SCORE,
    WEIGHT_SCALE,
    Decisions,
    decide,
    facts_of_person,
    plan_of,
)
from .enablement import hidden_reason, visible_questions
from .knowledge import Knowledge, load_knowledge
from .result import (
    AdviceItem,
    Evidence,
    FiredAnswer,
    IgnoredAnswer,
    PossibleCause,
    Reason,
    Result,
    Unanswered,
    WithheldAdvice,
)
from .urgency import Urgency

__all__ = ["MAX_CAUSES", "MIN_CAUSE_SCORE", "NOT_WHILE_EMERGENCY", "explain", "triage"]

#: Advice kinds not offered when the person is told to go to the emergency department now.
NOT_WHILE_EMERGENCY = frozenset({"selfcare", "treatment", "prevention"})


def triage(answers: Mapping[str, Any] | Answers, knowledge: Knowledge | None = None) -> Result:
    """Triage one person.

    The decisions (urgency, where to go, unanswered red flags, possible causes, "not enough
    information") come from :func:`aid.decisions.decide`, the same code that triages a cohort;
    this function turns them into a :class:`Result` with every reason, answer and source.

    Parameters
    ----------
    answers : question id -> answer; validated against ``questions.csv`` unless already
        :class:`~aid.answers.Answers`. Missing questions are unknown, never "no". An answer to
        a question that is not asked for these answers (``enable_when``, e.g. "pregnant" when
        the person said they are male) is not used; ``Result.ignored`` says which and why.
    knowledge : the tables to use (default: the packaged ``data/knowledge``).

    Raises
    ------
    aid.AnswerError
        for an unknown question, an unknown option, a wrong type or an out-of-range number.
    """
    kb = knowledge or load_knowledge()
    given = answers if isinstance(answers, Answers) else Answers(answers, kb)
    shown = visible_questions(kb.questions, given)
    valid = given.only(q for q in given if shown[q])
    plan = plan_of(kb)
    decided = decide(plan, facts_of_person(plan, valid))
    urgency = LEVELS[int(decided.level[0])]
    reasons = _fired_reasons(kb, valid, decided)
    causes = _causes(kb, valid, decided)
    advice, withheld, safety_net = _select_advice(kb, valid, causes, urgency)
    return Result(
        urgency=urgency,
        service=list(kb.services.values())[int(decided.service[0])],
        reasons=reasons,
        causes=causes,
        advice=advice,
        safety_net=safety_net,
        withheld=withheld,
        unanswered=_unanswered(kb, plan.candidates, decided),
        unanswered_required=tuple(
            q for q, missing in zip(plan.required, decided.missing[:, 0], strict=True) if missing
        ),
        answers=valid.to_json(),
        kb_version=kb.version,
        ignored=tuple(
            IgnoredAnswer(
                question_id=q,
                prompt=kb.questions[q].prompt,
                answer=kb.questions[q].label_of(given[q]),
                reason=hidden_reason(kb.questions, given, q),
            )
            for q in kb.questions
            if q in given and not shown[q]
        ),
    )


def explain(kb: Knowledge, condition: Condition, answers: Answers) -> tuple[FiredAnswer, ...]:
    """The answers a condition read, in plain words (an unanswered one is said to be so)."""
    out = []
    for qid in condition.questions:
        question = kb.questions[qid]
        text = question.label_of(answers[qid]) if qid in answers else "not answered"
        out.append(FiredAnswer(qid, question.prompt, text))
    return tuple(out)


def _fired_reasons(kb: Knowledge, answers: Answers, decided: Decisions) -> tuple[Reason, ...]:
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
        for rule, hit in zip(kb.red_flags, decided.fired[:, 0], strict=True)
        if hit
    ]
    # Most urgent first; within a level, table order (stable sort).
    return tuple(sorted(fired, key=lambda r: -r.urgency.rank))


def _causes(kb: Knowledge, answers: Answers, decided: Decisions) -> tuple[PossibleCause, ...]:
    """The causes :func:`~aid.decisions.decide` ranked, each with its matched evidence."""
    causes = list(kb.causes.values())
    out = []
    for position in decided.causes[:, 0].tolist():
        if position < 0:
            break
        cause = causes[position]
        evidence = [
            Evidence(
                id=row.id,
                weight=row.weight,
                explanation=row.explanation,
                answers=explain(kb, row.when, answers),
                source=row.source,
            )
            for row, hit in zip(kb.cause_evidence, decided.evidence[:, 0], strict=True)
            if hit and row.cause == cause.id
        ]
        out.append(
            PossibleCause(
                cause_id=cause.id,
                name=cause.name,
                lay_name=cause.lay_name,
                group=cause.group,
                summary=cause.summary,
                score=round(int(decided.scores[position, 0]) / WEIGHT_SCALE, 3),
                evidence=tuple(sorted(evidence, key=lambda e: -e.weight)),
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


def _unanswered(kb: Knowledge, candidates: list[str], decided: Decisions) -> tuple[Unanswered, ...]:
    """Unanswered, asked questions that could still fire a rule raising the urgency: most urgent
    first, then questionnaire order."""
    could = {
        qid: LEVELS[rank]
        for qid, rank in zip(candidates, decided.could[:, 0].tolist(), strict=True)
        if rank >= 0
    }
    order = {q: i for i, q in enumerate(kb.questions)}
    return tuple(
        Unanswered(qid, kb.questions[qid].prompt, could[qid])
        for qid in sorted(could, key=lambda q: (-could[q].rank, order[q]))
    )
