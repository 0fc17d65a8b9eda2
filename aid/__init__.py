"""Back Cramp Aid: how urgently to get care for back or rib cramps, what may be behind them,
and what to do now, every statement traced to a source.

The public face. Importing ``aid`` never imports ipywidgets (only ``aid.ui`` does) nor pandas
(only ``aid.cohort`` and ``aid.store`` need it), so the engine stays light for the CLI.
"""

from .answers import AnswerError, Answers
from .knowledge import Knowledge, KnowledgeError, load_knowledge
from .result import Result
from .triage import triage
from .urgency import Urgency

__version__ = "0.1.0"

__all__ = [
    "AnswerError",
    "Answers",
    "Knowledge",
    "KnowledgeError",
    "Result",
    "Urgency",
    "__version__",
    "load_knowledge",
    "triage",
]
