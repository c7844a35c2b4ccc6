"""The Python API for scripts and notebooks: `launch()`, `sessions()` and a handle per desktop.

    s = dcv_widget.launch(partition="dcv", time="2:00:00", engine="dcv")
    s.wait_ready(timeout=600)
    print(s.connect_url())
    s.end()                       # or dcv_widget.end(s, t, …): several at once

The widget and the `dcv-desktop` command are built on the same manager.
"""

from __future__ import annotations

import time
from typing import Any

from .access.instructions import Access
from .desktops.display import DisplayChoice
from .desktops.manager import SessionManager
from .desktops.reasons import Outlook
from .desktops.session import DesktopSession, SessionState
from .managers import default_manager
from .settings import load_settings


class DesktopFailed(RuntimeError):
    """The desktop ended before it was ready; the message says how, with the log's tail."""


class DesktopStuck(RuntimeError):
    """The desktop waits in the queue for a reason that never lets it start by itself; the
    message says why and what to change. Its job is still queued: `never` says whether it can
    never start as asked (end it and launch differently) or waits for someone (an admin)."""

    def __init__(self, session: DesktopSession) -> None:
        super().__init__(f"desktop {session.job_id} will not start by itself: {session.detail}")
        self.never = session.outlook == Outlook.NEVER


class DesktopHandle:
    """One desktop, followed by a manager. Holds no secret: `connect_url()` reads it fresh."""

    def __init__(self, manager: SessionManager, key: str) -> None:
        self.manager = manager
        self.key = key

    @property
    def session(self) -> DesktopSession:
        """The newest snapshot of this desktop."""
        return self.manager.get(self.key)

    @property
    def state(self) -> SessionState:
        return self.session.state

    @property
    def job_id(self) -> str:
        return self.session.job_id

    def wait_ready(self, timeout: float = 600) -> DesktopHandle:
        """Block until the desktop is ready; DesktopFailed if it ended first, DesktopStuck as
        soon as Slurm says it will not start by itself (a partition down, more CPUs than any
        node has, …): waiting longer would not help."""
        session = self.manager.wait_for(
            self.key,
            lambda s: s.state in (SessionState.READY, SessionState.ENDED) or s.stuck,
            timeout,
        )
        if session.stuck:
            raise DesktopStuck(session)
        if session.state == SessionState.ENDED:
            tail = f"\n--- end of the job's log ---\n{session.log_tail}" if session.log_tail else ""
            raise DesktopFailed(
                f"desktop {session.job_id or '(not submitted)'} ended before it was ready: "
                f"{session.outcome}: {session.detail}{tail}"
            )
        return self

    def connect_url(self, timeout: float = 30, display: DisplayChoice | None = None) -> str:
        """The URL that opens the desktop. It holds the connect secret: open it, don't share it.
        `display`: how noVNC shows it (`DisplayChoice(resize="scale", quality=2)`; None: fit
        the window, noVNC's own quality and compression)."""
        return self.manager.connect_url(self.key, display).result(timeout)

    def access(self, timeout: float = 30) -> Access:
        """What to run before Connect works on this desktop's route (the card's text, no
        secret); RuntimeError while it is not ready."""
        found = self.manager.route(self.key).result(timeout)
        if found is None:
            raise RuntimeError(
                f"desktop {self.job_id or '-'} is {self.state.value}, not ready: wait_ready() first"
            )
        return found

    def end(self, wait: bool = True, timeout: float = 120) -> None:
        """End the desktop: Slurm cancels its job. With `wait`, return once Slurm reports the
        job ended: at once for a queued job; for a started one after its clean-up on the node
        (the desktop closes and removes its files), a few seconds. Without `wait`, return once
        Slurm took the cancel. To end several, `dcv_widget.end(a, b, …)` waits for them
        together rather than one after the other."""
        if wait:
            end(self, timeout=timeout)
        else:
            self.manager.end(self.key).result(timeout)

    def __repr__(self) -> str:
        s = self.session
        return f"<desktop job {s.job_id or '-'} {s.display_state}: {s.detail}>"


def end(*desktops: DesktopHandle, timeout: float = 120) -> None:
    """End these desktops together: every job is cancelled first, then all are waited for side
    by side, so ending several takes about as long as ending one. Returns once Slurm reports
    every job ended (see `DesktopHandle.end` for what that waits for); TimeoutError names a
    desktop still ending after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    cancels = [d.manager.end(d.key) for d in desktops]
    for cancel in cancels:
        cancel.result(max(0.0, deadline - time.monotonic()))
    for desktop in desktops:
        desktop.manager.wait_for(
            desktop.key,
            lambda s: s.state == SessionState.ENDED,
            max(0.0, deadline - time.monotonic()),
        )


def launch(*, manager: SessionManager | None = None, **options: Any) -> DesktopHandle:
    """Submit a desktop with the site's defaults and these options (`preset="GPU"`: a site or
    user preset's values, the other options on top); returns at once."""
    manager = manager or default_manager()
    request = load_settings().request(**options)
    return DesktopHandle(manager, manager.launch(request).key)


def sessions(*, manager: SessionManager | None = None) -> list[DesktopHandle]:
    """Every live desktop of this user: this kernel's and, re-attached, any other's."""
    manager = manager or default_manager()
    manager.rediscover()
    return [
        DesktopHandle(manager, s.key) for s in manager.sessions() if s.state != SessionState.ENDED
    ]
