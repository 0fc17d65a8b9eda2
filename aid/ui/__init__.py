"""The dashboard (the only part of the aid that imports widget libraries).

``from aid.ui import Dashboard; Dashboard()`` is the whole served notebook. The questionnaire is
one anywidget (:class:`~aid.ui.form.AidForm`, ``form.js``) built from ``questions.csv``; the card
comes from :mod:`aid.report`'s template; triage stays in :mod:`aid.triage`.
"""

from ..enablement import visible_questions
from .dashboard import Dashboard, bar_state
from .failsafe import WARNING_SIGNS, failsafe_html, guarded
from .form import AidForm, parse_answers, question_table, steps

__all__ = [
    "AidForm",
    "Dashboard",
    "WARNING_SIGNS",
    "bar_state",
    "failsafe_html",
    "guarded",
    "parse_answers",
    "question_table",
    "steps",
    "visible_questions",
]
