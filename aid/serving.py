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
  Pages are counted from admission (:class:`OpenPages`), so a burst is limited too; kernels
  waiting in the pool are not counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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


class OpenPages:
    """How many dashboard pages are open: pages being served now plus pages served whose kernel
    still runs. Kernels waiting in Voila's preheated pool are not pages and are never counted.

    A page is counted from the moment it is admitted, so a burst of visitors arriving at once is
    limited as well as a slow stream; once its HTML is sent it is counted by its kernel id (read
    from the page's ``jupyter-config-data``), until that kernel stops (the page's beacon, the
    culler, or a crash).
    """

    def __init__(self) -> None:
        self._serving = 0
        self._kernels: set[str] = set()

    def count(self, running_kernel_ids: Iterable[str]) -> int:
        self._kernels &= set(running_kernel_ids)
        return self._serving + len(self._kernels)

    def admitted(self) -> None:
        self._serving += 1

    def served(self, kernel_id: str | None) -> None:
        """The page's request ended (sent, failed or dropped); ``kernel_id`` is its kernel if any."""
        self._serving = max(self._serving - 1, 0)
        if kernel_id:
            self._kernels.add(kernel_id)


#: The kernel id in the page's ``jupyter-config-data`` (Voila writes it with this spacing).
KERNEL_ID = re.compile(r'"kernelId":\s*"([0-9a-f-]{36})"')


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

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.open_pages = OpenPages()

    async def get_user(self, handler: web.RequestHandler) -> User | None:
        user = await ensure_async(super().get_user(handler))
        if _is_page_request(handler):
            # What JupyterHandler.prepare does right after this call; done early because both the
            # token and the error page read the current user.
            handler.current_user = handler._jupyter_current_user = user  # type: ignore[attr-defined]
            if self.max_sessions > 0:
                in_use = self.open_pages.count(handler.kernel_manager.list_kernel_ids())
                if in_use >= self.max_sessions:
                    self.log.warning(
                        "Refusing a dashboard page: %d of %d sessions in use",
                        in_use,
                        self.max_sessions,
                    )
                    raise web.HTTPError(503, reason="The aid is busy")
                self._follow(handler)
            # Tornado sets the _xsrf cookie when the token is first read (upstream Voila #1458).
            handler.xsrf_token  # noqa: B018 - read for its side effect
        return user

    def _follow(self, handler: web.RequestHandler) -> None:
        """Count this page from now on: note its kernel id as it is written, and its end."""
        self.open_pages.admitted()
        seen: dict[str, str] = {}
        write, on_finish, on_close = handler.write, handler.on_finish, handler.on_connection_close

        def noting_write(chunk: Any) -> Any:
            if "id" not in seen and isinstance(chunk, str):
                match = KERNEL_ID.search(chunk)
                if match:
                    seen["id"] = match.group(1)
            return write(chunk)

        def ended() -> None:
            if "ended" not in seen:
                seen["ended"] = "yes"
                self.open_pages.served(seen.get("id"))

        def finishing() -> None:
            ended()
            on_finish()

        def closing() -> None:
            ended()
            on_close()

        handler.write = noting_write  # type: ignore[method-assign]
        handler.on_finish = finishing  # type: ignore[method-assign]
        handler.on_connection_close = closing  # type: ignore[method-assign]


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
