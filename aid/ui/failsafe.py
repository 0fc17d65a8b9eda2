"""The dashboard's fail-safe: any error in a callback becomes a calm "seek care" message.

Safety first (DESIGN.md): if the aid cannot work out advice, the person must still be told which
signs mean an emergency and to contact a doctor. The message is fixed text, kept here rather than
read from ``red_flags.csv`` (``aid.report.EMERGENCY_SIGNS``), so that it still shows when the
knowledge tables themselves fail to load.

The error itself goes to the server log, never to the page: inside a Jupyter kernel, anything
written to ``sys.stderr`` (even file descriptor 2) is forwarded to the browser, so the handler
installed by :func:`server_logger` writes to the kernel's *original* stderr, which ipykernel keeps
as ``sys.stderr._original_stdstream_copy`` and which ends up in the Voila server's terminal.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import sys
from collections.abc import Callable
from html import escape
from typing import Any, TypeVar

from ..report import EMERGENCY_SIGNS

logger = logging.getLogger("aid.ui")

#: The emergency warning signs, shared with the "not enough information" result.
WARNING_SIGNS = EMERGENCY_SIGNS

FAILSAFE_TITLE = "Sorry, something went wrong and the aid cannot give advice right now."
FAILSAFE_ADVICE = "Please contact a doctor, nurse or pharmacist about your back or rib pain."
#: The same signs for a visitor waiting for the questionnaire: nothing went wrong there.
WAITING_TITLE = "While you wait"
ROLE_ALERT = " role='alert'"


def failsafe_html(
    title: str = FAILSAFE_TITLE, advice: str = FAILSAFE_ADVICE, alert: bool = True
) -> str:
    """The calm message shown instead of advice when anything fails (no error details).

    ``title``, ``advice`` and ``alert`` change only for the waiting page, which shows the same
    emergency warning signs while the questionnaire is being prepared (``aid.serving``). That
    page reloads itself every few seconds, so it is not an ARIA alert: a screen reader would
    read the whole list out again at every reload.
    """
    signs = "".join(f"<li>{escape(s)}</li>" for s in WARNING_SIGNS)
    lead = f"{escape(advice)} " if advice else ""
    return (
        f"<div class='aid-failsafe'{ROLE_ALERT if alert else ''} "
        "style='border:2px solid #555;border-radius:6px;"
        "padding:12px 16px;background:#f5f5f5;color:#1a1a1a'>"
        f"<div style='font-size:1.2em;font-weight:bold'>{escape(title)}</div>"
        f"<p>{lead}<b>If any of these apply, call emergency services or go to the emergency "
        "department now:</b></p>"
        f"<ul>{signs}</ul>"
        "<p>If you feel very unwell or are worried, do not wait: get help now.</p></div>"
    )


def _original_stderr() -> io.TextIOBase | None:
    """The kernel's real stderr (the server terminal), or None outside a Jupyter kernel.

    ipykernel replaces ``sys.stderr`` by a stream that publishes to the browser and, unless told
    not to, also redirects file descriptor 2 into it, keeping the real one as
    ``_original_stdstream_copy``; without that redirect, ``sys.__stderr__`` is still the real one.
    """
    if not type(sys.stderr).__module__.startswith("ipykernel"):
        return None
    fd = getattr(sys.stderr, "_original_stdstream_copy", None)
    if fd is None:
        if sys.__stderr__ is None:
            return None
        fd = sys.__stderr__.fileno()
    return io.TextIOWrapper(
        io.FileIO(os.dup(fd), "w", closefd=True), encoding="utf-8", line_buffering=True
    )


def server_logger() -> logging.Logger:
    """The ``aid.ui`` logger; inside a kernel it writes to the server terminal, not the page.

    Outside a kernel (pytest, a script) nothing is installed: records propagate to the root
    logger as usual, where pytest's ``caplog`` sees them.
    """
    if not getattr(logger, "_aid_server_handler", False):
        stream = _original_stderr()
        if stream is not None:
            handler = logging.StreamHandler(stream)
            handler.setFormatter(
                logging.Formatter("[%(levelname)s %(asctime)s %(name)s] %(message)s")
            )
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            logger.propagate = False  # the root logger's handlers would write to the page
        logger._aid_server_handler = True  # type: ignore[attr-defined]
    return logger


F = TypeVar("F", bound=Callable[..., Any])


def guarded(method: F) -> F:
    """Decorate a widget callback method: an exception shows the fail-safe, never a traceback.

    The instance must have an ``on_error`` attribute: a callable taking the exception (the
    dashboard's, which replaces the advice by :func:`failsafe_html`), or None. The exception is
    logged server-side with its traceback and not re-raised, so ipywidgets never sees it.
    """

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the whole point: nothing escapes to the page
            logger.exception("dashboard callback %s failed", method.__qualname__)
            handler = getattr(self, "on_error", None)
            if handler is not None:
                try:
                    handler(exc)
                except Exception:  # noqa: BLE001
                    logger.exception("fail-safe display itself failed")
            return None

    return wrapper  # type: ignore[return-value]
