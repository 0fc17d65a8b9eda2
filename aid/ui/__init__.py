"""The dashboard's widgets (the only part of the aid that imports ipywidgets).

``from aid.ui import Dashboard; Dashboard()`` is the whole served notebook. The questionnaire is
built from ``questions.csv``, the card from :mod:`aid.report`; triage stays in :mod:`aid.triage`.
"""

from ..enablement import visible_questions
from .card import alert_html, card_html, is_pending
from .dashboard import Dashboard
from .failsafe import WARNING_SIGNS, failsafe_html, guarded
from .questionnaire import CheckboxGroup, NumberField, Questionnaire, make_input

__all__ = [
    "CheckboxGroup",
    "Dashboard",
    "NumberField",
    "Questionnaire",
    "WARNING_SIGNS",
    "alert_html",
    "card_html",
    "failsafe_html",
    "guarded",
    "is_pending",
    "make_input",
    "visible_questions",
]
