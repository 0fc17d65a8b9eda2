"""Render a :class:`~aid.result.Result` for people: Markdown for the terminal, HTML for a doctor.

The HTML comes from Jinja2 templates in ``aid/templates`` with autoescaping on, so every piece of
text that came from a person or a table is escaped: a free-text answer can never become markup.
The card (dashboard) and the summary (download) share one stylesheet, ``aid.css``. The summary is
self-contained (inline CSS, one small script for local time, no external links) and printable.
Patients see no rule ids or source codes on the card; the summary keeps them, with a source
legend, for the doctor. The dashboard's fail-safe message is a plain string elsewhere
(``aid.ui.failsafe``) so that it shows even when templates fail.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Iterable
from importlib import resources
from typing import Any

import jinja2

from .knowledge import Knowledge, load_knowledge
from .result import INCOMPLETE_LABEL, Result
from .urgency import Urgency

DISCLAIMER = (
    "Back Cramp Aid gives general information to help decide how soon to get care. It is not a "
    "diagnosis and does not replace a doctor, nurse or physiotherapist. If you feel very unwell or "
    "are worried, call emergency services or go to the emergency department."
)

#: (background, text) colour per level: the charts use them; the card and the summary use the
#: same colours from ``templates/aid.css``.
URGENCY_COLOURS = {
    Urgency.EMERGENCY: ("#b00020", "#ffffff"),
    Urgency.URGENT: ("#b33c00", "#ffffff"),
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


#: Shown on the card; everything else goes under "More about this" (the summary shows all).
CARD_ADVICE_KINDS = ("selfcare", "caution")
#: Folded under "More about this" on the card.
MORE_ADVICE_KINDS = ("treatment", "prevention", "tests")
#: At most this many items of one kind on the card (the summary lists them all).
CARD_ITEMS = 5


@functools.cache
def _environment() -> jinja2.Environment:
    """Templates live in the package (``aid/templates``); autoescape is on for every file."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("aid", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
    )


def stylesheet() -> str:
    """The one stylesheet shared by the card and the summary."""
    return (resources.files("aid") / "templates" / "aid.css").read_text(encoding="utf-8")


def _label(result: Result) -> str:
    return INCOMPLETE_LABEL if result.incomplete else result.urgency.label


def _reasons(result: Result, only: Urgency | None = None) -> list[dict[str, Any]]:
    """Reasons with the answers the person actually gave (a qualifier left unanswered is not
    quoted back as "You said: ... not answered")."""
    return [
        {
            "reason": r.reason,
            "rule_id": r.rule_id,
            "source": r.source,
            "clinician_note": r.clinician_note,
            "said": [a for a in r.answers if a.question in result.answers],
        }
        for r in result.reasons
        if only is None or r.urgency == only
    ]


def _sections(result: Result, kinds: Iterable[str], limit: int | None = None) -> list[dict]:
    headings = dict(ADVICE_HEADINGS)
    out = []
    for kind in kinds:
        items = result.advice_of(kind)
        if items:
            out.append({"kind": kind, "heading": headings[kind], "items": items[:limit]})
    return out


def no_drive(result: Result) -> bool:
    """True where the service or a caution row says "do not drive yourself" (the tables say it,
    the bar repeats it)."""
    texts = [result.service.instruction] + [a.text for a in result.advice_of("caution")]
    return any("do not drive" in t.lower() for t in texts)


def card_html(result: Result, kb: Knowledge | None = None, notes: str = "") -> str:
    """The dashboard's result card: action and where to go, why, what to do, what could change it.

    An emergency card holds only what matters now (where to go, "you can stop here", why);
    causes, self-care, treatments, prevention and tests wait for the summary.
    """
    kb = kb or load_knowledge()
    emergency = result.urgency is Urgency.EMERGENCY
    if emergency:
        advice: list[dict] = []
        more: list[dict] = []
    else:
        advice = _sections(result, CARD_ADVICE_KINDS, CARD_ITEMS)
        advice.append(
            {"kind": "safety-net", "heading": "When to get help", "items": result.safety_net}
        )
        more = _sections(result, MORE_ADVICE_KINDS)
    return (
        _environment()
        .get_template("card.html.j2")
        .render(
            result=result,
            label=_label(result),
            emergency=emergency,
            reasons=_reasons(result, Urgency.EMERGENCY if emergency else None),
            advice=advice,
            more=more,
            show_more=not emergency and bool(more or result.causes or result.withheld),
            missing=[kb.questions[q].prompt for q in result.unanswered_required],
            unanswered=[]
            if (emergency or result.incomplete)
            else [u.prompt for u in result.unanswered],
            notes=notes,
            disclaimer=DISCLAIMER,
        )
    )


def to_html(
    result: Result, kb: Knowledge | None = None, when: _dt.datetime | None = None, notes: str = ""
) -> str:
    """A self-contained, printable HTML summary to take to a doctor.

    ``notes`` is the person's free text for the doctor (not a triage input); like every other
    text it is escaped by the template. The time is stored as UTC and shown in the reader's own
    time zone by a small script (UTC stays when scripts are off).
    """
    kb = kb or load_knowledge()
    when = (when or _dt.datetime.now(_dt.UTC)).astimezone(_dt.UTC)
    cited = {s for r in result.reasons for s in r.source}
    cited |= {s for c in result.causes for e in c.evidence for s in e.source}
    cited |= {s for a in (*result.advice, *result.safety_net) for s in a.source}
    cited |= {s for w in result.withheld for s in w.source}
    return (
        _environment()
        .get_template("summary.html.j2")
        .render(
            result=result,
            level="incomplete" if result.incomplete else result.urgency.value,
            label=_label(result),
            reasons=_reasons(result),
            advice=_sections(result, [kind for kind, _ in ADVICE_HEADINGS]),
            missing=[kb.questions[q].prompt for q in result.unanswered_required],
            answers=answer_lines(result, kb),
            sources=[src for sid, src in kb.sources.items() if sid in cited],
            notes=notes,
            when_iso=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            when_utc=when.strftime("%Y-%m-%d %H:%M UTC"),
            css=stylesheet(),
            disclaimer=DISCLAIMER,
        )
    )
