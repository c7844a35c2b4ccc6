"""`ClassOverview(partition="dcv")`: an instructor's view of every desktop on a partition, all
users, drawn by the same view as `Desktop()`: the launcher form is its toolbar (a filter and a
sort, no Launch button), a card per desktop with *End*.

`ClassMonitor` (desktops/class_monitor.py) follows the partition with one `squeue` call per
poll for all users (fast while a desktop is queued, starting or ending, slow otherwise, backing
off while Slurm does not answer), on its own thread; *End* runs `scancel` on its action thread,
and Slurm decides whether the instructor may: a refusal is shown on that card. A desktop of
this kernel's own manager that changes (launched, ended from a Desktop widget or code) has the
partition listed again at once. What each card says is decided in overview_cards.py.

The view sends `set` (field `filter` or `sort`) and `end`; every other message is ignored.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from functools import partial
from typing import Any

from ..desktops.class_monitor import monitor_for
from ..desktops.manager import SessionManager
from ..desktops.request import LaunchRequest
from ..desktops.session import DesktopSession
from ..desktops.slurm import UserDesktop
from ..managers import default_manager
from .card_widget import CardWidget
from .overview_cards import DEFAULT_SORT, SORTS, end_refusal, overview_cards, summary, toolbar

log = logging.getLogger(__name__)


class ClassOverview(CardWidget):
    """Every desktop on `partition`, all users (as far as Slurm shows them to you): user, state,
    node, time left; filter and sort; *End* where your Slurm rights allow (yours, or any as a
    Slurm operator, administrator or account coordinator), Slurm's refusal on the card where
    not. Idle time is shown as unknown: only a desktop's owner can read its connections.

    `filter` (words matched against user, node, state, job id) and `sort` (user, state,
    time_left, node) set the toolbar's starting values. `manager` lends its Slurm connection and
    poll intervals (default: the kernel's, from the site's settings).
    """

    def __init__(
        self,
        partition: str = "dcv",
        *,
        manager: SessionManager | None = None,
        filter: str = "",
        sort: str = DEFAULT_SORT,
    ) -> None:
        LaunchRequest(partition=partition)  # the same check as a launch: InvalidRequest
        if sort not in SORTS:
            raise ValueError(f"sort: {sort!r} is not valid; choose {', '.join(SORTS)}")
        manager = manager or default_manager()
        self.monitor = monitor_for(manager.slurm, partition, slow_poll=manager.slow_poll)
        self.partition = partition
        self._filter = filter
        self._sort = sort
        # A failed End, shown on its card while the job stays in the Slurm state it was in:
        # job id -> (that state, the message).
        self._card_errors: dict[str, tuple[str, str]] = {}
        self._sync_lock = threading.RLock()
        # This kernel's desktops as last seen (state, detail), by key: only a change wakes the
        # monitor.
        self._seen: dict[str, tuple[str, str]] = {}
        super().__init__()
        self._refresh()
        self.on_msg(self._on_message)
        self._unsubscribe = self.monitor.subscribe(self._refresh)
        self._unwatch = manager.subscribe(self._kernel_desktop_changed)

    # -- what the toolbar and a click do; also callable from code ---------------------------

    def set_filter(self, text: str) -> None:
        self._filter = text
        self._refresh()

    def set_sort(self, sort: str) -> None:
        if sort not in SORTS:
            raise ValueError(f"sort: {sort!r} is not valid; choose {', '.join(SORTS)}")
        self._sort = sort
        self._refresh()

    def end(self, job_id: str) -> Future[None]:
        """End a desktop (scancel, off this thread); a refusal is shown on its card and raised
        by the future."""
        with self._sync_lock:
            self._card_errors.pop(job_id, None)
        future = self.monitor.end(job_id)
        future.add_done_callback(partial(self._ended, job_id))
        return future

    def desktops(self) -> list[UserDesktop]:
        """The partition's desktops as last listed, all of them (the filter aside)."""
        return self.monitor.desktops()

    def close(self) -> None:
        # Also reached from __del__ of an overview whose __init__ refused its arguments.
        for name in ("_unsubscribe", "_unwatch"):
            unsubscribe = getattr(self, name, None)
            if unsubscribe is not None:
                unsubscribe()
        super().close()

    # -- messages from the view -------------------------------------------------------------

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        action = content.get("action")
        if action == "set":
            name, value = content.get("field"), content.get("value")
            if name == "filter" and isinstance(value, str):
                self.set_filter(value)
            elif name == "sort" and value in SORTS:
                self.set_sort(str(value))
        elif action == "end":
            key = str(content.get("key", ""))
            if "end" in self._allowed(key):
                self.end(key)

    def _kernel_desktop_changed(self, session: DesktopSession) -> None:
        """A desktop this kernel follows changed (an End clicked on a Desktop widget, a launch
        in code): list the partition now, not at the monitor's next poll."""
        if session.request.partition not in ("", self.partition):
            return
        now = (session.display_state, session.detail)
        with self._sync_lock:
            changed = self._seen.get(session.key) != now
            self._seen[session.key] = now
        if changed:
            self.monitor.poll_now()

    def _ended(self, job_id: str, future: Future[None]) -> None:
        exc = future.exception()
        if exc is not None:
            desktop = next((d for d in self.monitor.desktops() if d.job.job_id == job_id), None)
            self._card_error(job_id, end_refusal(desktop, job_id, str(exc)))

    def _card_error(self, key: str, message: str) -> None:
        desktop = next((d for d in self.monitor.desktops() if d.job.job_id == key), None)
        with self._sync_lock:
            self._card_errors[key] = (desktop.job.state if desktop else "", message)
        self._refresh()

    # -- state for the view -----------------------------------------------------------------

    def _refresh(self) -> None:
        with self._sync_lock:
            monitor = self.monitor
            desktops = monitor.desktops()
            states = {d.job.job_id: d.job.state for d in desktops}
            if monitor.listed:  # errors of jobs that are gone go with them
                self._card_errors = {k: v for k, v in self._card_errors.items() if k in states}
            errors = {
                job_id: message
                for job_id, (state, message) in self._card_errors.items()
                if states.get(job_id) == state
            }
            cards = overview_cards(
                desktops,
                filter_text=self._filter,
                sort=self._sort,
                ends=monitor.ends(),
                errors=errors,
                ending=monitor.ending(),
                unreachable=monitor.unreachable,
            )
            if monitor.listed:
                words = [summary(desktops, len(cards), self.partition)]
            else:
                words = [f"Listing the desktops on {self.partition}…"]
            message = " ".join(w for w in [*words, monitor.problem, *monitor.notes] if w)
            with self.hold_sync():
                self.launcher = toolbar(self._filter, self._sort, message, self.partition)
                self._show_cards(cards)
