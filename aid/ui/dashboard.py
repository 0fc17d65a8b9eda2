"""The dashboard: questionnaire + result card + finish/download, composed; no triage logic here.

Every answer change runs one pass of :meth:`Dashboard.refresh`: visibility (``enable_when``), the
answers of visible questions only, :func:`aid.triage`, then the card and the sticky emergency
alert. "Finish and get my summary" records the encounter (``aid.store``) and offers the summary
(``aid.report.to_html``) as a download. Every callback is :func:`~aid.ui.failsafe.guarded`: an
error shows the calm fail-safe message and is logged server-side.

The small test API (tests never walk ``.children``): ``inputs[question_id]``,
``visible(question_id)``, ``answers``, ``result``, ``card_html``, ``banner_html``, ``notes``,
``finish()``, ``finished``, ``summary_html``, ``download_html``, ``staff_notice``, ``failed``.
"""

from __future__ import annotations

import base64
import datetime as _dt
from collections.abc import Callable, Mapping
from html import escape
from typing import Any

import ipywidgets as widgets

from ..enablement import visible_questions
from ..knowledge import Knowledge, load_knowledge
from ..report import to_html
from ..result import Result
from ..triage import triage  # module attribute on purpose: tests replace it to inject a failure
from ..urgency import Urgency
from .card import alert_html, card_html
from .failsafe import failsafe_html, guarded, server_logger
from .questionnaire import Questionnaire

logger = server_logger()

_DEFAULT_LOG = object()

STYLE = """<style>
/* Sticky needs every ancestor up to the page's scroller to have visible overflow. (Plain
   selectors, not :has(), which slows the style work of rendering a few hundred widgets.) */
.jp-OutputArea, .jp-OutputArea-child, .jp-OutputArea-output, .aid-dashboard, .aid-body,
.aid-left { overflow: visible !important; }
.aid-top { position: sticky; top: 0; z-index: 10; background: #fff; }
.aid-card-col { position: sticky; top: 0; align-self: flex-start; max-height: 100vh;
                overflow-y: auto; }
.aid-card h4 { margin: 12px 0 4px 0; }
.aid-card .src { color: #666; font-size: .85em; }
.aid-q .widget-toggle-button.mod-active { background: #1565c0; color: #fff; }
.aid-q .widget-toggle-button:focus, .aid-q input:focus, .aid-notes textarea:focus,
.aid-finish:focus, .aid-download a:focus { outline: 3px solid #1565c0; outline-offset: 2px; }
</style>"""

INTRO = (
    "<h2 style='margin:4px 0'>Back or rib cramps: how soon to get care and what to do now</h2>"
    "<p>Answer what you can. You can leave any question you are not sure about. Questions marked "
    "<span style='color:#b00020'>*</span> are needed before advice can be given. A sign of an "
    "emergency shows at once at the top of the page.</p>"
)

STAFF_NOT_SAVED = (
    "Note for staff: this encounter was not saved to the encounter log. The advice shown is "
    "not affected."
)


class Dashboard:
    """The whole app. ``Dashboard()`` as a notebook's last expression displays it.

    Parameters
    ----------
    knowledge : the tables (default ``data/knowledge``).
    log : where finished triages are recorded: an object with ``append(answers, result,
        notes=...)``, a factory returning one (or None), or None for no log. By default
        ``aid.store.default_log()``, imported only when the person finishes, so a missing or
        failing store never blocks the advice.
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
        self._alert = widgets.HTML("")
        self._alert.add_class("aid-alert-area")
        self._card = widgets.HTML("")
        self._card.add_class("aid-card-area")
        try:
            self.kb = knowledge or load_knowledge()
            self._build()
            self.refresh()
        except Exception as exc:  # noqa: BLE001 - a broken table must still give safe advice
            logger.exception("dashboard could not be built")
            self.inputs: dict[str, widgets.Widget] = {}
            self.widget = widgets.VBox([widgets.HTML(STYLE), self._alert, self._card])
            self.on_error(exc)

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        self.questionnaire = Questionnaire(self.kb)
        self.inputs = self.questionnaire.inputs
        for widget in self.inputs.values():
            if hasattr(widget, "on_error"):
                widget.on_error = self.on_error
            widget.observe(self._on_answer, names="value")
        self.questionnaire.notes.observe(self._on_notes, names="value")

        self._finish_button = widgets.Button(
            description="Finish and get my summary",
            button_style="primary",
            layout=widgets.Layout(width="auto"),
            tooltip="Marks the questionnaire as complete and offers a summary to take to a doctor",
        )
        self._finish_button.add_class("aid-finish")
        self._finish_button.on_click(self._on_finish)
        self._finish_message = widgets.HTML("")
        self._finish_message.add_class("aid-finish-message")
        self._download = widgets.HTML("")
        self._download.add_class("aid-download")
        self._staff = widgets.HTML("")
        self._staff.add_class("aid-staff-notice")

        finish = widgets.VBox(
            [
                widgets.HTML("<h3 class='aid-section'>Finish</h3>"),
                self._finish_button,
                self._finish_message,
                self._download,
                self._staff,
            ]
        )
        left = widgets.VBox([self.questionnaire, finish], layout=widgets.Layout(flex="1 1 30em"))
        left.add_class("aid-left")
        right = widgets.VBox(
            [widgets.HTML("<h3 class='aid-section'>Your result</h3>"), self._card],
            layout=widgets.Layout(flex="1 1 24em", padding="0 0 0 16px"),
        )
        right.add_class("aid-card-col")
        top = widgets.VBox([self._alert])
        top.add_class("aid-top")
        body = widgets.HBox([left, right], layout=widgets.Layout(flex_flow="row wrap"))
        body.add_class("aid-body")
        self.widget = widgets.VBox([widgets.HTML(STYLE), widgets.HTML(INTRO), top, body])
        self.widget.add_class("aid-dashboard")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """Display as the composed widget (the served notebook's one cell ends with ``Dashboard()``)."""
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------ test API

    def visible(self, question_id: str) -> bool:
        """Whether the question is currently asked (its ``enable_when`` holds)."""
        if question_id not in self.kb.questions:
            raise KeyError(f"unknown question id {question_id!r}")
        return self._visible.get(question_id, True)

    @property
    def answers(self) -> dict[str, Any]:
        """The answers sent to triage: visible, answered questions only."""
        return dict(self._answers)

    @property
    def notes(self) -> str:
        return self.questionnaire.notes.value if hasattr(self, "questionnaire") else ""

    @property
    def card_html(self) -> str:
        return self._card.value

    @property
    def banner_html(self) -> str:
        """The sticky alert at the top: the emergency banner, the fail-safe message, or ''."""
        return self._alert.value

    @property
    def download_html(self) -> str:
        return self._download.value if hasattr(self, "_download") else ""

    # ------------------------------------------------------------------ behaviour

    def on_error(self, exc: BaseException) -> None:
        """Replace advice by the fail-safe message (the error itself is logged, not shown)."""
        self.failed = True
        message = failsafe_html()
        self._alert.value = message
        self._card.value = message
        if hasattr(self, "_download"):
            self._download.value = ""
            self.summary_html = None
            self.finished = None

    @guarded
    def _on_answer(self, change: Mapping[str, Any]) -> None:
        self.refresh()

    @guarded
    def _on_notes(self, change: Mapping[str, Any]) -> None:
        self._show(self.result)
        if self.finished is not None:
            self._unfinish()

    @guarded
    def _on_finish(self, button: widgets.Button | None = None) -> None:
        self.finish()

    def refresh(self) -> None:
        """Recompute visibility, answers and the result from the widgets, and show them."""
        raw = self.questionnaire.raw_values()
        visible = visible_questions(self.kb.questions, raw)
        answers = {qid: value for qid, value in raw.items() if value is not None and visible[qid]}
        result = triage(answers, self.kb)
        self._visible = visible
        self.questionnaire.apply_visibility(visible)
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
        if self._card.value != card:
            self._card.value = card
        alert = alert_html(result)
        if self._alert.value != alert:
            self._alert.value = alert

    def _unfinish(self) -> None:
        self.finished = None
        self.summary_html = None
        self._download.value = ""
        self._finish_message.value = (
            "<span class='aid-changed'>You changed your answers: press the button again to get "
            "an up-to-date summary.</span>"
        )

    def finish(self) -> None:
        """Mark the triage complete: record it (if possible) and offer the summary download."""
        result = self.result
        if result is None:
            return
        if result.unanswered_required and result.urgency < Urgency.URGENT:
            prompts = "".join(
                f"<li>{escape(self.kb.questions[q].prompt)}</li>"
                for q in result.unanswered_required
            )
            self._finish_message.value = (
                "<div class='aid-finish-missing' role='alert'>Please answer these questions "
                f"first (marked *):<ul>{prompts}</ul></div>"
            )
            return
        if self.finished is not None and self.finished == result:
            return  # already recorded; the download is still there
        notes = self.notes
        self._record(result, notes)
        when = self._clock()
        self.summary_html = to_html(result, self.kb, when=when, notes=notes)
        payload = base64.b64encode(self.summary_html.encode("utf-8")).decode("ascii")
        name = f"back-cramp-aid-summary-{when.strftime('%Y%m%d-%H%M')}.html"
        self._download.value = (
            f"<a class='aid-download-link' download='{name}' "
            f"href='data:text/html;charset=utf-8;base64,{payload}' "
            "style='display:inline-block;padding:8px 12px;border:2px solid #1565c0;"
            "border-radius:4px;margin-top:8px'>Download your summary (HTML, printable)</a>"
            "<div style='color:#555;font-size:.9em'>Open it in a browser to print it or show it to "
            "your doctor. It contains your answers, the result, the date and the knowledge-base "
            f"version ({escape(result.kb_version)}).</div>"
        )
        self._finish_message.value = (
            "<span class='aid-finished'>Done. Your summary is ready to download.</span>"
        )
        self.finished = result

    def _record(self, result: Result, notes: str) -> None:
        """Append the encounter to the log; a failure is logged and noted for staff, never raised."""
        self.staff_notice = ""
        self.record_id = None
        try:
            log = self._resolve_log()
            if log is None:
                return  # logging switched off (AID_DB=off): nothing to tell staff
            self.record_id = log.append(result.answers, result, notes=notes)
        except Exception:  # noqa: BLE001 - the person must get their advice whatever the store does
            logger.exception("encounter log failed; the advice was still shown")
            self.staff_notice = STAFF_NOT_SAVED
        self._staff.value = (
            f"<small class='aid-staff' style='color:#555'>{escape(self.staff_notice)}</small>"
            if self.staff_notice
            else ""
        )

    def _resolve_log(self) -> Any:
        spec = self._log_spec
        if spec is _DEFAULT_LOG:
            from ..store import default_log  # lazy: aid.store may be absent or failing

            return default_log()
        if spec is None or hasattr(spec, "append"):
            return spec
        return spec()  # a factory
