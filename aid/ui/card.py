"""The result card and the top alert, as HTML built by :mod:`aid.report`.

The card reuses ``report.card_sections`` and ``report.banner_html`` so that what the dashboard
shows and what the downloaded summary says cannot drift apart. Nothing here decides urgency: it
only chooses what to show of a :class:`~aid.result.Result`.

Reassurance waits, danger does not: while questions marked required are unanswered and no rule has
fired, the card asks for those answers instead of telling the person that self-care is enough;
any fired rule (``soon`` and above) shows at once, and an emergency also shows in the sticky alert
at the top of the page, before the rest of the questionnaire is finished.
"""

from __future__ import annotations

from html import escape

from ..knowledge import Knowledge
from ..report import DISCLAIMER, banner_html, card_sections, service_html
from ..result import Result
from ..urgency import Urgency


def is_pending(result: Result) -> bool:
    """True while there is no advice to give yet: required answers missing and no rule fired."""
    return result.incomplete


def _missing_required(result: Result, kb: Knowledge) -> str:
    if not result.unanswered_required:
        return ""
    items = "".join(
        f"<li>{escape(kb.questions[qid].prompt)}</li>" for qid in result.unanswered_required
    )
    return (
        "<section class='aid-card-section' id='card-required'><h4>Still to answer</h4>"
        f"<p>Please also answer these questions (marked *):</p><ul>{items}</ul></section>"
    )


def card_html(result: Result, kb: Knowledge, notes: str = "") -> str:
    """The whole card: urgency banner first, then why, causes, advice, safety-net, gaps, disclaimer."""
    disclaimer = (
        f"<p class='aid-disclaimer' style='color:#555;font-size:.85em'>{escape(DISCLAIMER)}</p>"
    )
    if is_pending(result):
        return (
            "<div class='aid-card aid-card-pending'>"
            "<div class='aid-card-waiting' style='border:1px dashed #888;border-radius:6px;"
            "padding:12px 16px'><b>Your advice will appear here.</b><br>Answer the questions "
            "marked * first. Any warning sign you report shows here straight away.</div>"
            f"{_missing_required(result, kb)}{disclaimer}</div>"
        )
    sections = "".join(
        f"<section class='aid-card-section' id='card-{sid}'><h4>{escape(heading)}</h4>{inner}</section>"
        for sid, heading, inner in card_sections(result)
    )
    why_none = (
        "<section class='aid-card-section' id='card-why'><h4>Why</h4><p>None of your answers so "
        "far is a warning sign.</p></section>"
        if not result.reasons
        else ""
    )
    note = (
        "<section class='aid-card-section' id='card-notes'><h4>Your note for the doctor</h4>"
        f"<p class='aid-notes-echo' style='white-space:pre-wrap'>{escape(notes)}</p></section>"
        if notes.strip()
        else ""
    )
    return (
        f"<div class='aid-card aid-card-{result.urgency.value}'>{banner_html(result.urgency)}"
        f"{why_none}{sections}{_missing_required(result, kb)}{note}{disclaimer}</div>"
    )


def alert_html(result: Result) -> str:
    """The sticky alert at the top of the page: the emergency banner and its reasons, else ''."""
    if result.urgency != Urgency.EMERGENCY:
        return ""
    reasons = "".join(
        f"<li>{escape(r.reason)}</li>" for r in result.reasons if r.urgency == Urgency.EMERGENCY
    )
    return (
        f"<div class='aid-alert'>{banner_html(result.urgency)}"
        f"{service_html(result.service, 'aid-alert-service')}"
        f"<ul class='aid-alert-reasons' style='margin:6px 0'>{reasons}</ul></div>"
    )
