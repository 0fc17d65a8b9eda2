"""Render a :class:`~aid.result.Result` for people: Markdown for the terminal, HTML for a doctor.

The HTML is self-contained (inline CSS, no scripts, no external links) and printable, so a patient
can download it and show it to a doctor. Every piece of text that came from a person or a table is
escaped: a free-text answer can never become markup.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from html import escape

from .knowledge import Knowledge, load_knowledge
from .result import INCOMPLETE_LABEL, AdviceItem, Result
from .services import Service
from .urgency import Urgency

DISCLAIMER = (
    "Back Cramp Aid gives general information to help decide how soon to get care. It is not a "
    "diagnosis and does not replace a doctor, nurse or physiotherapist. If you feel very unwell or "
    "are worried, call emergency services or go to the emergency department."
)

URGENCY_COLOURS = {
    Urgency.EMERGENCY: ("#b00020", "#ffffff"),
    Urgency.URGENT: ("#e65100", "#ffffff"),
    Urgency.SOON: ("#f9a825", "#1a1a1a"),
    Urgency.SELFCARE: ("#2e7d32", "#ffffff"),
}

#: Plain-words emergency warning signs (paraphrasing the emergency rows of red_flags.csv), fixed
#: text so that they can still be shown when the tables fail to load (the dashboard's fail-safe)
#: and when there is not enough information for advice. ``tests/ui/test_ui.py`` checks that every
#: emergency rule group is covered.
EMERGENCY_SIGNS: tuple[str, ...] = (
    "Trouble peeing, or losing control of your bladder or bowels",
    "Numbness or pins and needles around your bottom, genitals or inner thighs",
    "New weakness in both legs, or new numbness or weakness in both arms",
    "Pain or numbness that spreads down both legs and is new or getting worse",
    "Chest pain, tightness or pressure, pain spreading to an arm, the jaw or the neck, "
    "shortness of breath, coughing up blood, or pain brought on by effort in the last 12 hours",
    "Sharp pain on breathing in after giving birth, an operation, a long time without moving, "
    "or with a swollen calf",
    "Fainting or feeling faint, a pulsing feeling in your belly, or cold clammy sweating "
    "with sudden severe pain; new pain with a known aortic aneurysm; a first kidney-stone type "
    "pain at 60 or over",
    "New confusion, unusual drowsiness or slurred speech",
    "A fever with confusion, uncontrollable shaking, a racing heart, fast breathing, blotchy skin "
    "or no urine all day; a fever with a stiff neck; a fever with leg weakness or numbness; or "
    "a fever with diabetes, a weak immune system, injecting drugs or recent spine treatment",
    "If you have had cancer: new pain, numbness or weakness going into your legs or arms",
    "Kidney-stone type pain (waves from the side to the groin) with a fever or vomiting",
    "Very dark urine with weak muscles",
    "Back pain after a serious accident such as a car crash or a fall from a height",
    "If you are pregnant: bleeding or fluid from the vagina, the baby moving less, regular "
    "tightenings before 37 weeks, or a bad headache, blurred vision or sudden swelling",
)

ADVICE_HEADINGS = (
    ("selfcare", "What you can do now"),
    ("treatment", "Treatments a doctor may discuss"),
    ("prevention", "Preventing it from coming back"),
    ("tests", "Tests a doctor may use"),
    ("caution", "Take care"),
)


def answer_lines(result: Result, kb: Knowledge | None = None) -> list[tuple[str, str]]:
    """(question prompt, answer in words) for every answer, in questionnaire order."""
    kb = kb or load_knowledge()
    return [
        (q.prompt, q.label_of(result.answers[q.id]))
        for q in kb.questions.values()
        if q.id in result.answers
    ]


def _sources(ids: Iterable[str]) -> str:
    return ", ".join(ids)


def to_markdown(result: Result, kb: Knowledge | None = None) -> str:
    """A plain-text summary readable in a terminal or pasted into a record."""
    kb = kb or load_knowledge()
    if result.incomplete:
        out = [f"# {INCOMPLETE_LABEL}", "", f"**{result.action}**", "", "## Still to answer", ""]
        out += [f"- {kb.questions[q].prompt} ({q})" for q in result.unanswered_required] + [""]
        out += ["## Emergency warning signs: call 999 or go to the emergency department now", ""]
        out += [f"- {sign}" for sign in EMERGENCY_SIGNS] + [""]
        out += _ignored_lines(result)
        out += [f"_Knowledge base version {result.kb_version}._", "", f"_{DISCLAIMER}_", ""]
        return "\n".join(out)
    out = [f"# {result.urgency.label}", "", f"**{result.action}**", ""]
    out += ["## Where to go", "", f"- {result.service.text}", ""]
    if result.reasons:
        out += ["## Why", ""]
        for r in result.reasons:
            said = "; ".join(f"{a.prompt} - {a.answer}" for a in r.answers)
            out.append(f"- {r.reason} ({r.rule_id}; source {_sources(r.source)})")
            if said:
                out.append(f"  - You said: {said}")
        out.append("")
    if result.causes:
        out += ["## Possible contributing causes (not a diagnosis)", ""]
        for c in result.causes:
            out.append(f"- **{c.lay_name}** ({c.name}): {c.summary}")
            for e in c.evidence:
                out.append(f"  - {e.explanation} (source {_sources(e.source)})")
        out.append("")
    for kind, heading in ADVICE_HEADINGS:
        items = result.advice_of(kind)
        if items:
            out += (
                [f"## {heading}", ""] + [f"- {a.text} ({_sources(a.source)})" for a in items] + [""]
            )
    if result.withheld:
        out += ["## Advice held back for you", ""]
        out += [f"- {w.text} Not for you because: {w.why}" for w in result.withheld] + [""]
    out += ["## When to get help", ""] + [f"- {a.text}" for a in result.safety_net] + [""]
    if result.unanswered:
        out += ["## Questions not answered that could change this advice", ""]
        out += [f"- {u.prompt} (could mean: {u.could_raise_to.label})" for u in result.unanswered]
        out.append("")
    out += _ignored_lines(result)
    out += [f"_Knowledge base version {result.kb_version}._", "", f"_{DISCLAIMER}_", ""]
    return "\n".join(out)


def _ignored_lines(result: Result) -> list[str]:
    """Answers triage did not use (their question is not asked for these answers), and why."""
    if not result.ignored:
        return []
    out = ["## Answers not used", ""]
    out += [f"- {i.prompt} {i.answer}: {i.reason}." for i in result.ignored]
    return out + [""]


def _advice_list(items: Iterable[AdviceItem]) -> str:
    return "".join(
        f"<li>{escape(a.text)} <span class='src'>[{escape(_sources(a.source))}]</span></li>"
        for a in items
    )


def service_html(service: Service, css_class: str = "aid-service") -> str:
    """Where to go, as one escaped paragraph: the card, the summary and the emergency alert."""
    phone = f" <span class='phone'>Phone: {escape(service.phone)}</span>" if service.phone else ""
    return (
        f"<p class='{css_class}' style='margin:6px 0'><b>{escape(service.name)}</b>: "
        f"{escape(service.instruction)}{phone}</p>"
    )


def card_sections(result: Result) -> list[tuple[str, str, str]]:
    """(css id, heading, inner HTML) of the result card, most important first.

    Shared by the dashboard's card and the downloadable summary so both say the same.
    """
    sections: list[tuple[str, str, str]] = [("where", "Where to go", service_html(result.service))]
    if result.reasons:
        items = []
        for r in result.reasons:
            said = "; ".join(f"{escape(a.prompt)} <b>{escape(a.answer)}</b>" for a in r.answers)
            items.append(
                f"<li>{escape(r.reason)}<br><small>You said: {said} "
                f"<span class='src'>[{escape(r.rule_id)}; {escape(_sources(r.source))}]</span></small></li>"
            )
        sections.append(("why", "Why", f"<ul>{''.join(items)}</ul>"))
    if result.causes:
        items = []
        for c in result.causes:
            ev = "".join(
                f"<li>{escape(e.explanation)} <span class='src'>[{escape(_sources(e.source))}]</span></li>"
                for e in c.evidence
            )
            items.append(
                f"<li><b>{escape(c.lay_name)}</b> ({escape(c.name)}): {escape(c.summary)}<ul>{ev}</ul></li>"
            )
        sections.append(
            (
                "causes",
                "Possible contributing causes (not a diagnosis)",
                "<p>These may be playing a part. Only a clinician can tell what is causing your pain.</p>"
                f"<ul>{''.join(items)}</ul>",
            )
        )
    for kind, heading in ADVICE_HEADINGS:
        advice = result.advice_of(kind)
        if advice:
            sections.append((f"advice-{kind}", heading, f"<ul>{_advice_list(advice)}</ul>"))
    if result.withheld:
        withheld = "".join(
            f"<li>{escape(w.text)}<br><small>Not for you because: {escape(w.why)}</small></li>"
            for w in result.withheld
        )
        sections.append(("withheld", "Advice held back for you", f"<ul>{withheld}</ul>"))
    sections.append(
        ("safety-net", "When to get help", f"<ul>{_advice_list(result.safety_net)}</ul>")
    )
    if result.unanswered:
        questions = "".join(
            f"<li>{escape(u.prompt)} <small>(could mean: {escape(u.could_raise_to.label)})</small></li>"
            for u in result.unanswered
        )
        sections.append(
            (
                "unanswered",
                "Questions not answered that could change this advice",
                f"<ul>{questions}</ul>",
            )
        )
    return sections


def banner_html(urgency: Urgency) -> str:
    background, colour = URGENCY_COLOURS[urgency]
    return (
        f"<div class='banner banner-{urgency.value}' role='alert' "
        f"style='background:{background};color:{colour};padding:12px 16px;border-radius:6px'>"
        f"<div style='font-size:1.3em;font-weight:bold'>{escape(urgency.label)}</div>"
        f"<div style='font-size:1.1em'>{escape(urgency.action)}</div></div>"
    )


def to_html(
    result: Result, kb: Knowledge | None = None, when: _dt.datetime | None = None, notes: str = ""
) -> str:
    """A self-contained, printable HTML summary to take to a doctor.

    ``notes`` is the person's free text for the doctor (not a triage input); it is escaped.
    """
    kb = kb or load_knowledge()
    when = when or _dt.datetime.now(_dt.UTC)
    answers = "".join(
        f"<tr><td>{escape(prompt)}</td><td>{escape(answer)}</td></tr>"
        for prompt, answer in answer_lines(result, kb)
    )
    body = "".join(
        f"<section id='{sid}'><h2>{escape(heading)}</h2>{inner}</section>"
        for sid, heading, inner in card_sections(result)
    )
    notes_html = (
        '<section id="notes"><h2>Notes from the person for the doctor</h2>'
        f'<p style="white-space:pre-wrap">{escape(notes)}</p></section>\n'
        if notes.strip()
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Back Cramp Aid summary</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:48em;margin:1em auto;padding:0 1em;color:#1a1a1a}}
table{{border-collapse:collapse;width:100%}}td{{border:1px solid #ccc;padding:4px 6px;vertical-align:top}}
.src{{color:#666;font-size:.85em}}@media print{{.banner{{-webkit-print-color-adjust:exact;print-color-adjust:exact}}}}
</style></head><body>
<h1>Back Cramp Aid: summary for your doctor</h1>
<p>Date: {escape(when.strftime("%Y-%m-%d %H:%M UTC"))} &middot; Knowledge base version {escape(result.kb_version)}</p>
{banner_html(result.urgency)}
{body}
<section id="answers"><h2>Answers given</h2><table>{answers}</table></section>
{notes_html}<p><small>{escape(DISCLAIMER)}</small></p>
</body></html>
"""
