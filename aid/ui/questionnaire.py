"""The questionnaire, built generically from ``questions.csv`` (like ``ipywidgets.interactive``).

One input widget per question, chosen by its ``kind``; every input's ``.value`` is in the
answer's own vocabulary (option ids, numbers, a tuple for multi-choice) and ``None`` or ``()``
while unanswered, because unanswered is *unknown*, never "no":

=======  ===========================================  =======================================
kind     widget                                       unanswered value
=======  ===========================================  =======================================
yesno    ToggleButtons Yes / No / Not sure            None (and "unsure", which means unknown)
choice   RadioButtons, no option selected             None
multi    :class:`CheckboxGroup` (one checkbox each)   ()
number   :class:`NumberField` (a text box, checked)   None
scale    ToggleButtons 0..10                          None
=======  ===========================================  =======================================

Visibility follows FHIR Questionnaire ``enableWhen``: :func:`aid.enablement.visible_questions` decides, from the
answers of *visible* questions only, which questions are asked; a hidden question keeps its
widget value (it comes back if the question reappears) but its answer is not sent to triage.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from html import escape
from typing import Any

import ipywidgets as widgets
import traitlets
from ipywidgets.widgets.widget_bool import CheckboxStyle
from ipywidgets.widgets.widget_description import DescriptionStyle
from ipywidgets.widgets.widget_string import HTMLStyle

from ..answers import AnswerError, allowed_text, validate_answer
from ..knowledge import Knowledge, Question
from .failsafe import guarded

#: The yes/no widget's third choice: an explicit "I don't know", sent to triage as unanswered.
UNSURE = "unsure"

#: Hidden questions get this DOM class (one small message) instead of their own Layout model.
HIDDEN_CLASS = "aid-hidden"
QUESTIONNAIRE_CSS = (
    f"<style>.{HIDDEN_CLASS} {{ display: none !important; }} "
    ".aid-questionnaire > .aid-q { margin-bottom: 14px; }</style>"
)

_shared: dict[str, widgets.Widget] = {}


def shared(key: str, factory: Callable[[], widgets.Widget]) -> Any:
    """One Layout or Style model per look, shared by every widget with that look.

    Each ipywidget otherwise creates its own Layout and Style models: about 700 models for this
    questionnaire, every one created in the kernel, sent and rendered when the page loads. Shared
    looks halve that (the time to a usable page is ``benchmarks/dashboard.py``'s first figure).
    Only looks that never change per widget are shared; visibility is a DOM class, not a layout.
    """
    if key not in _shared:
        _shared[key] = factory()
    return _shared[key]


def html_widget(value: str) -> widgets.HTML:
    """Static text: an HTML widget with the shared look."""
    return widgets.HTML(
        value,
        layout=shared("html-layout", widgets.Layout),
        style=shared("html-style", HTMLStyle),
    )


def _css_id(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower())


class _SyncGuard:
    """Re-entrancy guard for composite inputs: while the widget writes to its own parts, the
    parts' change events must not echo back as if the person had answered."""

    _syncing = False

    @contextmanager
    def _sync(self) -> Iterator[None]:
        self._syncing = True
        try:
            yield
        finally:
            self._syncing = False


class CheckboxGroup(_SyncGuard, widgets.VBox):
    """Multi-choice as one checkbox per option (keyboard: Tab and Space; no Ctrl-click).

    ``value`` is a tuple of option ids in table order. An option called ``none`` ("None of
    these") excludes the others, as ``aid.answers`` requires: ticking it clears the rest and
    ticking any other clears it.
    """

    value = traitlets.Tuple()

    def __init__(self, options: tuple[str, ...], labels: tuple[str, ...], **kwargs: Any):
        self.options = tuple(options)
        self.boxes = {
            opt: widgets.Checkbox(
                value=False,
                description=label,
                indent=False,
                layout=shared("checkbox-layout", lambda: widgets.Layout(width="auto")),
                style=shared("checkbox-style", CheckboxStyle),
            )
            for opt, label in zip(options, labels, strict=True)
        }
        self.on_error: Callable[[BaseException], None] | None = None
        kwargs.setdefault("layout", shared("box-layout", widgets.Layout))
        super().__init__(children=list(self.boxes.values()), **kwargs)
        for opt, box in self.boxes.items():
            box.observe(self._ticked(opt), names="value")

    def _ticked(self, option: str) -> Callable[[dict], None]:
        def handler(change: dict) -> None:
            self._on_tick(option, change["new"])

        return handler

    @guarded
    def _on_tick(self, option: str, ticked: bool) -> None:
        if self._syncing:
            return
        with self._sync():
            if ticked and option == "none":
                for opt, box in self.boxes.items():
                    if opt != "none":
                        box.value = False
            elif ticked and "none" in self.boxes:
                self.boxes["none"].value = False
        self.value = tuple(opt for opt, box in self.boxes.items() if box.value)

    @traitlets.validate("value")
    def _validate(self, proposal: dict) -> tuple[str, ...]:
        chosen = set(proposal["value"] or ())
        unknown = chosen - set(self.options)
        if unknown:
            raise traitlets.TraitError(
                f"unknown option(s) {sorted(unknown)}; allowed: {', '.join(self.options)}"
            )
        return tuple(opt for opt in self.options if opt in chosen)

    @traitlets.observe("value")
    def _show(self, change: dict) -> None:
        if self._syncing:
            return
        with self._sync():
            for opt, box in self.boxes.items():
                box.value = opt in change["new"]


class NumberField(_SyncGuard, widgets.VBox):
    """A number typed into a text box, so it can start empty (IntText cannot).

    ``value`` is a float or None. Text that is not a number in range leaves the value None and
    shows what is allowed (the typed text is escaped: it is shown, never run).
    """

    value = traitlets.Float(None, allow_none=True)

    def __init__(self, question: Question, **kwargs: Any):
        self.question = question
        self.minimum = question.minimum if question.minimum is not None else -math.inf
        self.maximum = question.maximum if question.maximum is not None else math.inf
        unit = f" {question.unit}" if question.unit else ""
        self.allowed = allowed_text(question)  # the same words as the engine's AnswerError
        self.text = widgets.Text(
            value="",
            placeholder=f"{self.minimum:g} to {self.maximum:g}{unit}",
            continuous_update=False,
            layout=widgets.Layout(width="14em"),
        )
        self.text.add_class("aid-number")
        self.error = html_widget("")
        self.on_error: Callable[[BaseException], None] | None = None
        kwargs.setdefault("layout", shared("box-layout", widgets.Layout))
        super().__init__(children=[self.text, self.error], **kwargs)
        self.add_class("aid-number-field")
        self.text.observe(self._on_text, names="value")

    @guarded
    def _on_text(self, change: dict) -> None:
        if self._syncing:
            return
        raw = change["new"].strip().replace(",", ".")
        number: float | None = None
        message = ""
        if raw:
            try:
                number = float(raw)
            except ValueError:
                message = f"&ldquo;{escape(change['new'])}&rdquo; is not a number."
            else:
                try:  # the engine's own check: finite and within the question's range
                    number = validate_answer(self.question, number)  # type: ignore[assignment]
                except AnswerError:
                    message = f"{escape(change['new'])} is out of range."
                    number = None
        self.error.value = (
            f"<span class='aid-input-error' style='color:#b00020'>{message} "
            f"Please enter {escape(self.allowed)}.</span>"
            if message
            else ""
        )
        with self._sync():
            self.value = number

    @traitlets.validate("value")
    def _validate(self, proposal: dict) -> float | None:
        value = proposal["value"]
        if value is not None and not self.minimum <= value <= self.maximum:
            raise traitlets.TraitError(f"{value!r} is out of range; allowed: {self.allowed}")
        return value

    @traitlets.observe("value")
    def _show(self, change: dict) -> None:
        if self._syncing:
            return
        with self._sync():
            self.text.value = "" if change["new"] is None else f"{change['new']:g}"
            self.error.value = ""


def make_input(question: Question) -> widgets.Widget:
    """The input widget for one question, starting unanswered."""
    if question.kind == "yesno":
        widget: widgets.Widget = widgets.ToggleButtons(
            options=[("Yes", "yes"), ("No", "no"), ("Not sure", UNSURE)],
            value=None,
            style=shared("yesno-style", lambda: widgets.ToggleButtonsStyle(button_width="6em")),
            layout=shared("input-layout", widgets.Layout),
        )
    elif question.kind == "choice":
        widget = widgets.RadioButtons(
            options=list(zip(question.option_labels, question.options, strict=True)),
            value=None,
            layout=shared("radio-layout", lambda: widgets.Layout(width="auto")),
            style=shared("radio-style", DescriptionStyle),
        )
    elif question.kind == "multi":
        widget = CheckboxGroup(question.options, question.option_labels)
    elif question.kind == "scale":
        assert question.minimum is not None and question.maximum is not None
        points = range(int(question.minimum), int(question.maximum) + 1)
        widget = widgets.ToggleButtons(
            options=[(str(i), i) for i in points],
            value=None,
            style=shared("scale-style", lambda: widgets.ToggleButtonsStyle(button_width="2.6em")),
            layout=shared("input-layout", widgets.Layout),
        )
    elif question.kind == "number":
        widget = NumberField(question)
    else:  # knowledge.py validates kinds at load time; a new kind must get a widget here
        raise ValueError(f"no widget for question kind {question.kind!r} ({question.id})")
    widget.add_class("aid-input")
    widget.add_class(f"aid-input-{_css_id(question.id)}")
    return widget


def answer_of(question: Question, value: Any) -> Any:
    """The widget value as an answer for triage, or None when it means unanswered."""
    if value is None or value == UNSURE:
        return None
    if question.kind == "multi":
        return list(value) or None
    return value


class Questionnaire(widgets.VBox):
    """All questions, by section, with help text and required ones marked.

    ``inputs[question_id]`` is the input widget; ``parts[question_id]`` its (prompt, input)
    pair, shown and hidden together by :meth:`apply_visibility`; ``prompts[question_id]`` the
    prompt and help text as shown. Prompt and input are direct children (no box per question:
    fewer widget models make the page usable sooner).
    """

    def __init__(self, knowledge: Knowledge, **kwargs: Any):
        self.knowledge = knowledge
        self.inputs: dict[str, widgets.Widget] = {}
        self.parts: dict[str, tuple[widgets.Widget, widgets.Widget]] = {}
        self.prompts: dict[str, str] = {}  # question id -> prompt (+ help) HTML, for tests
        children: list[widgets.Widget] = [html_widget(QUESTIONNAIRE_CSS)]
        for section in knowledge.sections:
            children.append(html_widget(f"<h3 class='aid-section'>{escape(section)}</h3>"))
            for q in knowledge.questions.values():
                if q.section != section:
                    continue
                self.parts[q.id] = self._question_parts(q)
                children.extend(self.parts[q.id])
        self.notes = widgets.Textarea(
            value="",
            placeholder="Anything else you want the doctor to know (optional)",
            continuous_update=False,
            layout=widgets.Layout(width="95%", height="5em"),
        )
        self.notes.add_class("aid-notes")
        children += [
            html_widget("<h3 class='aid-section'>For your doctor</h3>"),
            html_widget(
                "<div class='aid-prompt'>Is there anything else you want the doctor to know?</div>"
                "<div class='aid-help' style='color:#555;font-size:.9em'>This is passed on "
                "in your summary; it does not change the advice.</div>"
            ),
            self.notes,
        ]
        super().__init__(children=children, **kwargs)
        self.add_class("aid-questionnaire")

    def _question_parts(self, q: Question) -> tuple[widgets.Widget, widgets.Widget]:
        mark = (
            " <span class='aid-required' title='required' style='color:#b00020'>*</span>"
            "<span class='aid-sr-only' style='position:absolute;left:-9999px'> (required)</span>"
            if q.required
            else ""
        )
        unit = (
            f" <span class='aid-unit' style='color:#555'>({escape(q.unit)})</span>"
            if (q.unit and q.kind == "number")
            else ""
        )
        prompt = f"<div class='aid-prompt'><b>{escape(q.prompt)}</b>{unit}{mark}</div>"
        if q.help:
            prompt += (
                f"<div class='aid-help' style='color:#555;font-size:.9em'>{escape(q.help)}</div>"
            )
        self.prompts[q.id] = prompt
        label = html_widget(prompt)
        label.add_class(f"aid-prompt-{_css_id(q.id)}")
        widget = make_input(q)
        widget.add_class("aid-q")
        widget.add_class(f"aid-q-{_css_id(q.id)}")
        self.inputs[q.id] = widget
        return label, widget

    def raw_values(self) -> dict[str, Any]:
        """question id -> answer (None when unanswered), visible or not."""
        return {
            qid: answer_of(self.knowledge.questions[qid], w.value) for qid, w in self.inputs.items()
        }

    def apply_visibility(self, visible: Mapping[str, bool]) -> None:
        """Show and hide question boxes; only touches boxes whose state changes (fewer messages)."""
        for qid, parts in self.parts.items():
            hidden = not visible.get(qid, True)
            for part in parts:
                if hidden != (HIDDEN_CLASS in part._dom_classes):
                    (part.add_class if hidden else part.remove_class)(HIDDEN_CLASS)
