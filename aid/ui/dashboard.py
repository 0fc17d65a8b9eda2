"""The dashboard: the one-widget questionnaire, the engine and the encounter log, composed.

Every change of the page's ``answers`` runs one pass of :meth:`Dashboard.refresh`: parse the raw
answers (:func:`aid.ui.form.parse_answers`), visibility (:func:`aid.enablement.visible_questions`),
:func:`aid.triage` on the visible answers, then the card (Jinja template) and the sticky bar.
"Finish" records the encounter (``aid.store``) with the optional pseudonymous subject id and
offers the summary (``aid.report.to_html``) as a download; "Start again" clears everything. Every
callback is :func:`~aid.ui.failsafe.guarded`: an error shows the calm fail-safe message (a plain
string) and is logged server-side.

The test API (tests set and read traits, as the page does): ``widget`` (the :class:`AidForm`),
``answer(question_id, raw)``, ``visible(question_id)``, ``answers``, ``result``, ``card_html``,
``bar``, ``notes``, ``finish()``, ``start_again()``, ``finished``, ``summary_html``,
``record_id``, ``staff_notice``, ``failed``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import os
from collections.abc import Callable, Mapping
from typing import Any

from ..enablement import visible_questions
from ..knowledge import Knowledge, load_knowledge
from ..report import card_html, no_drive, to_html
from ..result import INCOMPLETE_LABEL, Result
from ..triage import triage  # module attribute on purpose: tests replace it to inject a failure
from ..urgency import Urgency
from .failsafe import FAILSAFE_TITLE, failsafe_html, guarded, server_logger
from .form import AidForm, parse_answers, question_table, steps

logger = server_logger()

_DEFAULT_LOG = object()

STAFF_NOT_SAVED = (
    "Note for staff: this encounter was not saved to the encounter log. The advice shown is "
    "not affected."
)
SAVES_LOG = (
    "Finish saves your answers, the advice shown, your note and the subject id (if given) in "
    "this clinic's encounter log. It saves no name or contact details. Then you can download "
    "or print a summary for your doctor."
)
PLAIN_TEXT = (
    "Back Cramp Aid questionnaire (an interactive page: open this notebook in Jupyter and run "
    "it to answer the questions)"
)
SAVES_NOTHING = (
    "Finish gives you a summary to download or print for your doctor. Nothing is saved on "
    "this computer."
)


class Dashboard:
    """The whole app. ``Dashboard()`` as a notebook's last expression displays it.

    Parameters
    ----------
    knowledge : the tables (default ``data/knowledge``).
    log : where finished triages are recorded: an object with ``append(answers, result,
        notes=..., subject=...)``, a factory returning one (or None), or None for no log. By
        default ``aid.store.default_log()``, imported only when the person finishes, so a
        missing or failing store never blocks the advice.
    clock : returns the time stamped on the summary (tests pin it).
    """

    def __init__(
        self,
        knowledge: Knowledge | None = None,
        log: Any = _DEFAULT_LOG,
        clock: Callable[[], _dt.datetime] | None = None,
    ):
        self._log_spec = log
        self._clock = clock or (lambda: _dt.datetime.now(_dt.UTC))
        self.failed = False
        self.finished: Result | None = None
        self.summary_html: str | None = None
        self.staff_notice = ""
        self.record_id: int | None = None
        self.result: Result | None = None
        self._answers: dict[str, Any] = {}
        self._visible: dict[str, bool] = {}
        self.widget = AidForm()
        try:
            self.kb = knowledge or load_knowledge()
            self.widget.questions = question_table(self.kb)
            self.widget.steps = steps(self.kb)
            self.widget.saves = SAVES_NOTHING if self._log_off() else SAVES_LOG
            self.widget.observe(self._on_answers, names="answers")
            self.widget.observe(self._on_notes, names="notes")
            self.widget.observe(self._on_subject, names="subject")
            self.widget.on_msg(self._on_msg)
            self.refresh()
        except Exception as exc:  # noqa: BLE001 - a broken table must still give safe advice
            logger.exception("dashboard could not be built")
            self.on_error(exc)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """Display as the widget (the served notebook's one cell ends with ``Dashboard()``); where
        widgets cannot show (a stored notebook, a terminal), one plain sentence, not a repr."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        if data is not None:
            data = {**data, "text/plain": PLAIN_TEXT}
        return data, metadata

    # ------------------------------------------------------------------ test API

    def answer(self, question_id: str, raw: Any) -> None:
        """Set one raw answer as the page does (None clears it)."""
        answers = dict(self.widget.answers)
        if raw is None:
            answers.pop(question_id, None)
        else:
            answers[question_id] = raw
        self.widget.answers = answers

    def visible(self, question_id: str) -> bool:
        """Whether the question is currently asked (its ``enable_when`` holds)."""
        if question_id not in self.kb.questions:
            raise KeyError(f"unknown question id {question_id!r}")
        return self._visible.get(question_id, True)

    @property
    def answers(self) -> dict[str, Any]:
        """The answers sent to triage: visible, answered, valid questions only."""
        return dict(self._answers)

    @property
    def notes(self) -> str:
        return self.widget.notes

    @property
    def card_html(self) -> str:
        return self.widget.card

    @property
    def bar(self) -> dict[str, Any]:
        return dict(self.widget.bar)

    # ------------------------------------------------------------------ behaviour

    def on_error(self, exc: BaseException) -> None:
        """Replace advice by the fail-safe message (the error itself is logged, not shown)."""
        self.failed = True
        message = failsafe_html()
        self.widget.card = message
        self.widget.bar = {"level": "failsafe", "label": FAILSAFE_TITLE, "action": ""}
        self.widget.finish_state = {}
        self.summary_html = None
        self.finished = None

    @guarded
    def _on_answers(self, change: Mapping[str, Any]) -> None:
        self.refresh()

    @guarded
    def _on_notes(self, change: Mapping[str, Any]) -> None:
        self._show(self.result)
        if self.finished is not None:
            self._unfinish()

    @guarded
    def _on_subject(self, change: Mapping[str, Any]) -> None:
        self.widget.subject_error = self._subject_problem(change["new"])
        if self.finished is not None:
            self._unfinish()

    @guarded
    def _on_msg(self, widget: Any, content: Any, buffers: Any = None) -> None:
        event = content.get("event") if isinstance(content, Mapping) else None
        if event == "finish":
            self.finish()
        elif event == "reset":
            self.start_again()

    def refresh(self) -> None:
        """Recompute answers, visibility and the result from the page's values, and show them."""
        parsed, errors = parse_answers(self.kb, self.widget.answers)
        visible = visible_questions(self.kb.questions, parsed)
        answers = {qid: value for qid, value in parsed.items() if visible[qid]}
        result = triage(answers, self.kb)
        self._visible = visible
        if self.widget.visible != visible:
            self.widget.visible = visible
        if self.widget.errors != errors:
            self.widget.errors = errors
        changed = answers != self._answers
        self._answers = answers
        self.result = result
        self.failed = False
        self._show(result)
        if changed and self.finished is not None:
            self._unfinish()

    def _show(self, result: Result | None) -> None:
        if result is None:
            return
        card = card_html(result, self.kb, self.notes)
        if self.widget.card != card:
            self.widget.card = card
        bar = bar_state(result)
        if self.widget.bar != bar:
            self.widget.bar = bar

    def _unfinish(self) -> None:
        self.finished = None
        self.summary_html = None
        self.record_id = None
        self.widget.finish_state = {
            "status": "changed",
            "message": "You changed your answers: press Finish again to save them and get an "
            "up-to-date summary.",
        }

    def start_again(self) -> None:
        """Clear every answer, the note, the subject id and the card (the page confirmed first)."""
        self.finished = None
        self.summary_html = None
        self.record_id = None
        self.staff_notice = ""
        self.widget.finish_state = {}
        self.widget.notes = ""
        self.widget.subject = ""
        self.widget.subject_error = ""
        self.widget.answers = {}
        self.refresh()
        self.widget.generation += 1

    @staticmethod
    def _subject_problem(subject: str) -> str:
        if not subject.strip():
            return ""
        from ..store import StoreError, check_subject

        try:
            check_subject(subject.strip())
        except StoreError:
            return (
                "A subject id is letters, digits, '-' or '_' only (for example P-0042), up to "
                "64 characters: never a name, e-mail address or phone number."
            )
        return ""

    def finish(self) -> None:
        """Mark the triage complete: record it (if possible) and offer the summary download."""
        result = self.result
        if result is None:
            return
        if result.unanswered_required and result.urgency < Urgency.URGENT:
            self.widget.finish_state = {
                "status": "missing",
                "message": "Please answer these questions first (marked *): "
                + "; ".join(self.kb.questions[q].prompt for q in result.unanswered_required),
            }
            return
        problem = self._subject_problem(self.widget.subject)
        if problem:
            self.widget.subject_error = problem
            self.widget.finish_state = {
                "status": "missing",
                "message": "Please correct the subject id, or leave it empty.",
            }
            return
        if self.finished is not None and self.finished == result:
            return  # already recorded; the download is still there
        notes = self.notes
        subject = self.widget.subject.strip() or None
        self._record(result, notes, subject)
        when = self._clock()
        self.summary_html = to_html(result, self.kb, when=when, notes=notes)
        payload = base64.b64encode(self.summary_html.encode("utf-8")).decode("ascii")
        saved = (
            f"Saved as record {self.record_id}."
            if self.record_id is not None
            else ("" if self.staff_notice else "Nothing was saved (the encounter log is off).")
        )
        stamp = when.strftime("%Y%m%d-%H%M")
        self.widget.finish_state = {
            **self._fhir_download(result, stamp),
            "status": "done",
            "message": f"Done. {saved} Your summary is ready.".replace("  ", " "),
            "record_id": self.record_id,
            "staff_notice": self.staff_notice,
            "href": f"data:text/html;charset=utf-8;base64,{payload}",
            "filename": f"back-cramp-aid-summary-{stamp}.html",
            "kb_version": result.kb_version,
        }
        self.finished = result

    def _fhir_download(self, result: Result, stamp: str) -> dict[str, str]:
        """The same encounter as a FHIR Bundle (QuestionnaireResponse + RiskAssessment) for the
        clinic's record system. Optional: if it cannot be built, the failure is logged and only
        the summary is offered (the advice and the summary never depend on it)."""
        try:
            from .. import fhir  # imported on Finish only: the FHIR models take a moment to load

            bundle = fhir.bundle_json(result, dict(result.answers))
        except Exception:  # noqa: BLE001 - an optional export must not block the summary
            logger.exception("the FHIR Bundle could not be built")
            return {}
        payload = base64.b64encode(bundle.encode("utf-8")).decode("ascii")
        return {
            "fhir_href": f"data:application/fhir+json;base64,{payload}",
            "fhir_filename": f"back-cramp-aid-record-{stamp}.fhir.json",
        }

    def _record(self, result: Result, notes: str, subject: str | None) -> None:
        """Append the encounter to the log; a failure is logged and noted for staff, never raised."""
        self.staff_notice = ""
        self.record_id = None
        try:
            log = self._resolve_log()
            if log is None:
                return  # logging switched off (AID_DB=off): nothing to tell staff
            self.record_id = log.append(result.answers, result, notes=notes, subject=subject)
        except Exception:  # noqa: BLE001 - the person must get their advice whatever the store does
            logger.exception("encounter log failed; the advice was still shown")
            self.staff_notice = STAFF_NOT_SAVED

    def _log_off(self) -> bool:
        spec = self._log_spec
        if spec is _DEFAULT_LOG:
            return os.environ.get("AID_DB", "").strip().lower() == "off"
        return spec is None

    def _resolve_log(self) -> Any:
        spec = self._log_spec
        if spec is _DEFAULT_LOG:
            from ..store import default_log  # lazy: aid.store may be absent or failing

            return default_log()
        if spec is None or hasattr(spec, "append"):
            return spec
        return spec()  # a factory


def bar_state(result: Result) -> dict[str, Any]:
    """The compact sticky bar: level and action; for an emergency also where to go, "you can
    stop here" and "do not drive yourself" where the tables say so."""
    if result.incomplete:
        return {
            "level": "incomplete",
            "label": INCOMPLETE_LABEL,
            "action": "Answer the questions marked * for advice.",
        }
    state: dict[str, Any] = {
        "level": result.urgency.value,
        "label": result.urgency.label,
        "action": result.urgency.action,
    }
    if result.urgency is Urgency.EMERGENCY:
        state["stop"] = "You can stop here."
        if no_drive(result):
            state["no_drive"] = "Do not drive yourself."
    return state
