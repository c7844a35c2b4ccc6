"""The notebook widget: a launcher form and one card per desktop, as synced data.

The view (js/src/widget.ts) renders `launcher`, `cards` and `compact` and sends messages:
`set` (a form field changed), `launch`, `connect`, `end`, `dismiss`. The kernel owns every
decision: validation, which actions exist, what a card says (card_widget.py: the connect URL
is never synced).
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import Future
from dataclasses import fields
from functools import partial
from typing import Any

from ..desktops.manager import SessionManager
from ..desktops.request import InvalidRequest, LaunchRequest
from ..desktops.session import DesktopSession
from ..desktops.slurm import Partition
from ..managers import default_manager
from ..settings import DesktopSettings, load_settings
from .card_widget import COMPACT_AFTER, CardWidget
from .desktop_cards import card_for
from .launcher import FIELD_NAMES, launcher_fields, parse_field

# Launch clicks with the same values closer together than this (seconds) are one launch.
DOUBLE_CLICK = 2.0


class Desktop(CardWidget):
    """Remote desktops on the cluster: a launcher form, then a card per desktop to follow it
    until ready, *Connect*, *End*.

    Keyword arguments are launch options (partition, time, cpus, memory, gpus, account, engine,
    geometry, idle_timeout, access) on top of the site's defaults (`DesktopSettings`); they are
    validated here, so a bad value fails in the cell that set it. `locked=True` shows them
    read-only: students only click *Launch*. Cards show every live desktop of the user (after a
    kernel restart too: `attach`), this notebook's first, newest first; ended ones stay until
    dismissed.
    """

    def __init__(
        self,
        *,
        manager: SessionManager | None = None,
        locked: bool = False,
        attach: bool = True,
        settings: DesktopSettings | None = None,
        **launch_options: Any,
    ) -> None:
        self._settings = settings or load_settings()
        self._bounds = self._settings.bounds()
        self._request = self._settings.request(**launch_options)
        self._manager = manager or default_manager()
        self._locked = locked
        self._values: dict[str, Any] = {
            f.name: getattr(self._request, f.name) for f in fields(LaunchRequest)
        }
        self._baseline = dict(self._values)
        self._errors: dict[str, str] = {}
        self._message = ""
        self._partitions: list[Partition] = []
        self._last_launch: tuple[float, dict[str, Any]] = (0.0, {})
        # A failed Connect or End, shown on its card until the desktop's state changes:
        # key -> (the state it happened in, the message).
        self._card_errors: dict[str, tuple[str, str]] = {}
        # Re-entrant: a trait observer of the user's may launch or dismiss from inside an update.
        self._sync_lock = threading.RLock()
        super().__init__()
        self._refresh()
        self._unsubscribe = self._manager.subscribe(lambda _session: self._refresh_cards())
        self.on_msg(self._on_message)
        self._manager.run_later(self._manager.slurm.partitions).add_done_callback(
            self._got_partitions
        )
        if attach:
            self._manager.rediscover_later().add_done_callback(lambda _: self._refresh_cards())

    @classmethod
    def from_config(cls, **kwargs: Any) -> Desktop:
        """The site's defaults (Jupyter config files), locked: a one-line cell for a class."""
        return cls(locked=True, **kwargs)

    # -- what a click does; also callable from code ---------------------------------------

    def launch(self) -> DesktopSession:
        """Submit a desktop with the form's values (validated again here, bounds included)."""
        try:
            request = LaunchRequest(**self._values)
            self._bounds.check(request)
        except InvalidRequest as exc:
            self._errors[exc.field] = str(exc)
            self._refresh()
            raise
        session = self._manager.launch(request)
        self._refresh()
        return session

    def end(self, key: str) -> None:
        self._manager.end(key).add_done_callback(partial(self._report, key))

    def dismiss(self, key: str) -> None:
        """Forget an ended desktop: its card goes from every widget of this kernel."""
        self._manager.forget(key)

    def close(self) -> None:
        self._unsubscribe()
        super().close()

    # -- messages from the view -------------------------------------------------------------

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        action = content.get("action")
        key = str(content.get("key", ""))
        allowed = self._allowed(key)
        if action == "set" and not self._locked:
            self._set_field(str(content.get("field", "")), content.get("value"))
        elif action == "launch" and self.launcher.get("can_launch"):
            # A double click is one launch: the same values again within DOUBLE_CLICK seconds.
            clicked = (time.monotonic(), dict(self._values))
            last_time, last_values = self._last_launch
            if clicked[0] - last_time < DOUBLE_CLICK and clicked[1] == last_values:
                return
            self._last_launch = clicked
            with contextlib.suppress(InvalidRequest):  # shown inline by launch()
                self.launch()
        elif action == "connect":
            request = str(content.get("request", ""))
            if "connect" in allowed:
                future = self._manager.connect_url(key)
                future.add_done_callback(partial(self._send_url, key, request))
            else:
                self._send_url(key, request, None)
        elif action == "end" and "end" in allowed:
            self.end(key)
        elif action == "dismiss" and "dismiss" in allowed:
            self.dismiss(key)

    def _set_field(self, name: str, value: Any) -> None:
        if name not in self._values:
            return
        self._values[name] = value
        # Every field is checked on its own against the valid values the widget started with,
        # so one bad field never hides another's error.
        self._errors = {}
        for field_name in FIELD_NAMES:
            parsed, error = parse_field(
                field_name, self._values[field_name], self._baseline, self._bounds
            )
            self._values[field_name] = parsed
            if error:
                self._errors[field_name] = error
        self._refresh()

    def _report(self, key: str, future: Future[None]) -> None:
        exc = future.exception()
        if exc is not None:
            self._card_error(key, f"End failed: {exc}. Try again, or scancel the job.")

    def _card_error(self, key: str, message: str) -> None:
        session = next((s for s in self._manager.sessions() if s.key == key), None)
        if session is not None:
            self._card_errors[key] = (session.state.value, message)
            self._refresh_cards()

    def _got_partitions(self, future: Future[list[Partition]]) -> None:
        exc = future.exception()
        if exc is None:
            self._partitions = future.result()
        else:
            self._message = (
                f"Could not list the partitions ({exc}); the form still works with the "
                "partition you give. Re-run the cell to try again."
            )
        self._refresh()

    # -- state for the view -----------------------------------------------------------------

    def _refresh(self) -> None:
        with self._sync_lock:
            self.launcher = {
                "fields": launcher_fields(
                    self._values,
                    self._errors,
                    self._partitions,
                    locked=self._locked,
                    bounds=self._bounds,
                ),
                "locked": self._locked,
                "can_launch": not self._errors,
                "message": self._message,
            }
        self._refresh_cards()

    def _refresh_cards(self) -> None:
        with self._sync_lock:
            # Newest first (the manager keeps them in the order it learnt of them); this
            # notebook's desktops (launched here, or before a kernel restart) before the
            # user's others.
            sessions = self._manager.sessions()
            sessions.reverse()
            sessions.sort(key=lambda s: s.origin != self._manager.origin)
            cards = [card_for(s, self._manager.access(s.key), self._error_of(s)) for s in sessions]
            with self.hold_sync():
                self.cards = cards
                self.compact = len(cards) > COMPACT_AFTER

    def _error_of(self, session: DesktopSession) -> str:
        """The card's error, while the desktop is still in the state it happened in."""
        state, message = self._card_errors.get(session.key, ("", ""))
        return message if state == session.state.value else ""
