"""Serving the dashboard to a clinic: who may open a page now, and the shutdown beacon's token.

Voila loads :class:`ClinicIdentityProvider` by name from ``voila.json``
(``"Voila": {"identity_provider_class": "aid.serving.ClinicIdentityProvider"}``); nothing else
imports this module, so ``import aid`` stays free of Jupyter. It runs in the Voila server process,
once per HTTP request, before the request is handled, and does two small things there:

* **The shutdown beacon's token (upstream Voila issue #1458).** When a page is closed or reloaded,
  Voila's page posts ``/voila/api/shutdown/<kernel>`` with the ``_xsrf`` cookie as form field. The
  dashboard page never set that cookie, so the post was refused (``403 '_xsrf' argument missing``)
  and every visit left a kernel of about 57 MB running until it was culled. Reading
  ``handler.xsrf_token`` on the page request makes Tornado set the cookie, so the beacon carries a
  valid token and the kernel stops as soon as the page goes. The check itself stays on.
* **A limit on open pages (admission).** Each open page holds one kernel (about 57 MB and a share of
  two cores). When ``max_sessions`` pages are open, a new visitor gets the page ``503.html`` of the
  ``aid`` Voila template: a plain "the aid is busy, wait a minute and try again" with the
  emergency warning signs, never a blank page or a traceback. The check runs before the page takes
  a kernel from the preheated pool, so a refused visitor costs nothing and the pool stays full.
  Kernels ready in the pool are not counted; a kernel still starting for the pool is, so while
  the pool refills the limit may refuse up to ``pool size`` visitors early (never late).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.identity import PasswordIdentityProvider, User
from tornado import web
from traitlets import Int

#: The ``aid`` Voila template (selected in voila.json, installed as data files by pyproject.toml).
TEMPLATE_DIR = (
    Path(__file__).resolve().parents[1] / "share" / "jupyter" / "voila" / "templates" / "aid"
)
#: The fail-safe as the template includes it; generated, never edited (``make page-failsafe``).
FAILSAFE_PARTIAL = TEMPLATE_DIR / "aid_failsafe.html"


def sessions_in_use(kernel_manager: Any) -> int:
    """Kernels held by open pages: every running kernel minus those ready in Voila's pool.

    Voila's preheating kernel manager keeps its pool as ``_pools`` (notebook -> list of tasks, one
    per kernel being started or ready); without preheating there is no pool. A kernel whose pool
    task is still rendering counts as in use: the error is on the safe side.
    """
    running = len(kernel_manager.list_kernel_ids())
    pooled = sum(
        1
        for pool in getattr(kernel_manager, "_pools", {}).values()
        for task in pool
        if task.done() and not task.cancelled() and task.exception() is None
    )
    return max(running - pooled, 0)


def _is_page_request(handler: web.RequestHandler) -> bool:
    """The dashboard page itself (Voila's page handler), not its assets, APIs or websocket."""
    from voila.handler import VoilaHandler

    return isinstance(handler, VoilaHandler) and handler.request.method in ("GET", "HEAD")


class ClinicIdentityProvider(PasswordIdentityProvider):
    """Voila's default identity provider plus the xsrf cookie and the open-page limit."""

    max_sessions = Int(
        0,
        config=True,
        help="Most dashboard pages open at once (one kernel each); 0 means no limit. A visitor "
        "beyond it gets the 'busy, try again' page (HTTP 503).",
    )

    async def get_user(self, handler: web.RequestHandler) -> User | None:
        user = await ensure_async(super().get_user(handler))
        if _is_page_request(handler):
            # What JupyterHandler.prepare does right after this call; done early because both the
            # token and the error page read the current user.
            handler.current_user = handler._jupyter_current_user = user  # type: ignore[attr-defined]
            if self.max_sessions > 0:
                in_use = sessions_in_use(handler.kernel_manager)
                if in_use >= self.max_sessions:
                    self.log.warning(
                        "Refusing a dashboard page: %d of %d sessions in use",
                        in_use,
                        self.max_sessions,
                    )
                    raise web.HTTPError(503, reason="The aid is busy")
            # Tornado sets the _xsrf cookie when the token is first read (upstream Voila #1458).
            handler.xsrf_token  # noqa: B018 - read for its side effect
        return user


def failsafe_partial() -> str:
    """The dashboard's own fail-safe message (``aid.ui.failsafe``), as the page template shows it.

    The page shows it before and after the questionnaire lives: when the questionnaire could not be
    shown in time, when its kernel or the server has gone, and when the aid is busy. Rendered from
    the same Python as the in-page fail-safe (so the emergency warning signs are
    ``aid.report.EMERGENCY_SIGNS``) and written into the template as static HTML, so that the page
    shows it even when nothing in Python works at request time.
    """
    from .ui.failsafe import failsafe_html

    return (
        "{#- Generated by scripts/make_page_failsafe.py from aid.ui.failsafe: do not edit. -#}\n"
        + failsafe_html()
        + "\n"
    )
