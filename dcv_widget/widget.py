"""The notebook widget: synced traits that mirror one desktop session, and three messages.

The view (js/src/widget.ts) renders these traits and sends `{"action": "launch" | "connect" |
"end"}`; the kernel owns every decision, including which actions are offered (`actions`). The
connect URL carries a secret, so it is never a trait (traits are saved into the notebook file):
it goes to the browser once, in a custom message answering the Connect click.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from functools import partial
from typing import Any, ClassVar

import ipywidgets as widgets
from traitlets import Bool, Dict, List, Unicode

from . import __version__
from .manager import SessionManager, default_manager
from .session import DesktopSession, SessionState
from .settings import load_settings

MODULE_NAME = "dcv-widget"
MODULE_VERSION = f"^{__version__}"


def _actions_for(session: DesktopSession | None) -> list[str]:
    if session is None or session.state == SessionState.ENDED:
        return ["launch"]
    if session.state == SessionState.READY:
        return ["connect", "end"]
    return ["end"]


class Desktop(widgets.DOMWidget):  # type: ignore[misc]
    """A remote desktop on the cluster: *Launch*, follow it until ready, *Connect*, *End*.

    Keyword arguments are the launch options (partition, time, cpus, memory, gpus, account,
    engine, geometry, idle_timeout) on top of the site's defaults (`DesktopSettings`); they are
    validated here, so a bad value fails in the cell that set it. With `attach` (the default),
    a new widget re-attaches to a live desktop launched from this same notebook that no other
    widget of this kernel follows: after a kernel restart, the notebook shows its desktop again
    (desktops of other notebooks are left to them; `dcv_widget.sessions()` lists them all).
    """

    # Sessions followed by a widget of this kernel, so two widgets never attach to one desktop.
    _followed: ClassVar[set[str]] = set()

    _model_name = Unicode("DesktopModel").tag(sync=True)
    _model_module = Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    _view_name = Unicode("DesktopView").tag(sync=True)
    _view_module = Unicode(MODULE_NAME).tag(sync=True)
    _view_module_version = Unicode(MODULE_VERSION).tag(sync=True)

    state = Unicode("").tag(sync=True)
    detail = Unicode("").tag(sync=True)
    job_id = Unicode("").tag(sync=True)
    node = Unicode("").tag(sync=True)
    outcome = Unicode("").tag(sync=True)
    time_left = Unicode("").tag(sync=True)
    unreachable = Bool(False).tag(sync=True)
    actions = List(Unicode(), default_value=["launch"]).tag(sync=True)
    options = Dict().tag(sync=True)
    error = Unicode("").tag(sync=True)

    def __init__(
        self, *, manager: SessionManager | None = None, attach: bool = True, **launch_options: Any
    ) -> None:
        self._request = load_settings().request(**launch_options)
        self._manager = manager or default_manager()
        self._key = ""
        self._show_lock = threading.Lock()
        # Guards which desktop this widget follows (a Launch click and re-attach may race).
        self._follow_lock = threading.Lock()
        super().__init__(
            options={
                "partition": self._request.partition or "",
                "time": self._request.time,
                "cpus": self._request.cpus,
                "engine": self._request.engine,
            }
        )
        self._unsubscribe = self._manager.subscribe(self._on_session)
        self.on_msg(self._on_message)
        if attach:
            self._manager.rediscover_later().add_done_callback(self._attach)

    @property
    def session(self) -> DesktopSession | None:
        """The desktop this widget shows, if it launched one."""
        return self._manager.get(self._key) if self._key else None

    def launch(self) -> None:
        """What the *Launch* button does; also callable from code."""
        with self._follow_lock:
            if "launch" not in _actions_for(self.session):
                raise RuntimeError(
                    f"this widget already follows desktop {self.job_id or '(submitting)'}; "
                    "end it first, or create another Desktop() for a second desktop"
                )
            self._set_error("")
            self._follow(self._manager.launch(self._request).key)

    def end(self) -> None:
        """What the *End* button does; also callable from code."""
        if self._key:
            self._manager.end(self._key).add_done_callback(self._report_failure)

    def close(self) -> None:
        self._unsubscribe()
        self._followed.discard(self._key)
        super().close()

    def _follow(self, key: str) -> None:
        self._followed.discard(self._key)
        self._followed.add(key)
        self._key = key
        self._show()

    def _attach(self, future: Future[list[DesktopSession]]) -> None:
        """Follow a live desktop nobody in this kernel follows, if this widget has none yet."""
        if future.exception() is not None:
            return  # nothing to re-attach to while Slurm does not answer; Launch still works
        origin = self._manager.origin
        with self._follow_lock:
            for session in self._manager.sessions():
                if (
                    not self._key
                    and origin
                    and session.origin == origin
                    and session.state != SessionState.ENDED
                    and session.key not in self._followed
                ):
                    self._follow(session.key)

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        # Decide from the kernel's own state, not the synced `actions` (the browser can set it).
        action = content.get("action")
        allowed = _actions_for(self.session)
        if action == "connect":
            request = str(content.get("request", ""))
            if "connect" in allowed:
                future = self._manager.connect_url(self._key)
                future.add_done_callback(partial(self._send_url, request))
            else:
                self._send_url(request, None)
        elif action == "launch" and "launch" in allowed:
            self.launch()
        elif action == "end" and "end" in allowed:
            self.end()

    def _send_url(self, request: str, future: Future[str] | None) -> None:
        """Answer one view's Connect click; only the view that sent `request` opens the URL."""
        try:
            if future is None:
                raise RuntimeError("the desktop is not ready to connect")
            url = future.result()
        except Exception as exc:
            self._set_error(str(exc))
            self.send({"event": "open-failed", "request": request})
            return
        self.send({"event": "open", "request": request, "url": url})

    def _report_failure(self, future: Future[None]) -> None:
        exc = future.exception()
        if exc is not None:
            self._set_error(str(exc))

    def _set_error(self, message: str) -> None:
        with self._show_lock:
            self.error = message

    def _on_session(self, session: DesktopSession) -> None:
        if session.key == self._key:
            self._show()

    def _show(self) -> None:
        # Read the newest session under the lock: the submit and poll threads both call this,
        # and an older snapshot must never overwrite a newer one.
        with self._show_lock, self.hold_sync():
            session = self._manager.get(self._key)
            self.state = session.state.value
            self.detail = session.detail
            self.job_id = session.job_id
            self.node = session.node
            self.outcome = session.outcome
            self.time_left = session.time_left
            self.unreachable = session.unreachable
            self.actions = _actions_for(session)
