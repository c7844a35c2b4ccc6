"""`ClassOverview(partition="dcv")`: an instructor's view of every desktop on a partition, all
users, drawn by the same view as `Desktop()`: the launcher form is its toolbar (a filter and a
sort, no Launch button), a card per desktop with *End*.

`ClassMonitor` follows the partition with one `squeue` call per poll for all users (fast while
a desktop is queued, starting or ending, slow otherwise, backing off while Slurm does not
answer), on its own thread; *End* runs `scancel` on its action thread, and Slurm decides whether
the instructor may: a refusal is shown on that card. What each card says is decided in
overview_cards.py.

The view sends `set` (field `filter` or `sort`) and `end`; every other message is ignored.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

from .backends.slurm import SlurmBackend, SlurmError, SlurmUnavailable, UserDesktop
from .card_widget import COMPACT_AFTER, CardWidget
from .listeners import Listeners, running_thread
from .manager import FAST_POLL, MAX_BACKOFF, SLOW_POLL, SessionManager, default_manager
from .overview_cards import (
    DEFAULT_SORT,
    SORTS,
    card_state,
    end_refusal,
    ends_at,
    overview_cards,
    summary,
    toolbar,
)
from .request import LaunchRequest

log = logging.getLogger(__name__)

# Card states worth a fast poll: about to change.
_CHANGING = frozenset({"queued", "starting", "ending"})
PRIVATE_JOBS = (
    "This cluster hides other users' jobs (PrivateData=jobs in slurm.conf): you see only "
    "yours unless you are a Slurm operator or administrator."
)


class ClassMonitor:
    """Every user's dcv_widget desktops on one partition, as Slurm shows them to this user,
    followed by one poll loop that runs while someone listens."""

    def __init__(
        self,
        slurm: SlurmBackend,
        partition: str,
        *,
        fast_poll: float = FAST_POLL,
        slow_poll: float = SLOW_POLL,
    ) -> None:
        self.slurm = slurm
        self.partition = partition
        self.fast_poll, self.slow_poll = fast_poll, slow_poll
        self._desktops: list[UserDesktop] = []
        self._ends: dict[str, float | None] = {}
        self._ending: set[str] = set()  # End accepted or under way, job not gone yet
        self.listed = False  # a listing has come in
        self.unreachable = False  # Slurm did not answer the last poll: the list is the last known
        self.problem = ""  # why the last poll failed
        self.notes: list[str] = []  # what the cluster's configuration means for this list
        self._looked_around = False
        self._listeners: Listeners[Callable[[], None]] = Listeners()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._poller: threading.Thread | None = None
        self._actions = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dcv-widget-overview")

    # -- what callers see -------------------------------------------------------------------

    def desktops(self) -> list[UserDesktop]:
        with self._lock:
            return list(self._desktops)

    def ends(self) -> dict[str, float | None]:
        """When each started job reaches its time limit (epoch seconds), by job id."""
        with self._lock:
            return dict(self._ends)

    def ending(self) -> set[str]:
        """Jobs whose End was accepted (or is under way) and that Slurm still lists."""
        with self._lock:
            return set(self._ending)

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener()` after every poll and End; polling runs while anyone listens."""
        remove = self._listeners.add(listener)
        self._ensure_polling()
        return remove

    def poll_now(self) -> None:
        self._wake.set()

    def end(self, job_id: str) -> Future[None]:
        """`scancel` the job on an action thread; the future raises Slurm's refusal."""
        with self._lock:
            self._ending.add(job_id)
        self._notify()
        return self._actions.submit(self._end, job_id)

    # -- on the monitor's threads -------------------------------------------------------------

    def _end(self, job_id: str) -> None:
        try:
            self.slurm.cancel(job_id)
        except Exception:
            with self._lock:
                self._ending.discard(job_id)
            self._notify()
            raise
        self.poll_now()

    def _ensure_polling(self) -> None:
        with self._lock:
            self._poller = running_thread(self._poller, self._poll_loop, "dcv-widget-overview-poll")
        self._wake.set()

    def _poll_loop(self) -> None:
        backoff = self.fast_poll
        while True:
            with self._lock:
                if next(iter(self._listeners), None) is None:
                    self._poller = None
                    return
            try:
                changing = self.poll_once()
                interval = self.fast_poll if changing else self.slow_poll
                backoff = self.fast_poll
            except SlurmUnavailable as exc:
                log.info("scheduler unreachable: %s", exc)
                self.unreachable = True
                self.problem = f"{exc}. The cards show the last known state."
                self._notify()
                backoff = min(backoff * 2, MAX_BACKOFF)
                interval = backoff
            except Exception as exc:
                if not isinstance(exc, SlurmError):
                    log.exception("listing the partition's desktops failed; retrying")
                self.problem = f"Could not list the desktops: {exc}. Retrying."
                self._notify()
                interval = self.slow_poll
            self._wake.wait(interval)
            self._wake.clear()

    def poll_once(self) -> bool:
        """One squeue call for the whole partition; returns whether a desktop is about to
        change (queued, starting, ending), which asks for a fast poll."""
        if not self._looked_around:
            self._look_around()
        desktops = self.slurm.partition_desktops(self.partition)
        now = time.time()
        with self._lock:
            self._ends = {
                d.job.job_id: ends_at(d.job, now, self._ends.get(d.job.job_id)) for d in desktops
            }
            self._desktops = desktops
            self._ending &= {d.job.job_id for d in desktops}
            self.listed, self.unreachable, self.problem = True, False, ""
            ending = bool(self._ending)
        self._notify()
        return ending or any(card_state(d.job) in _CHANGING for d in desktops)

    def _look_around(self) -> None:
        """Once: whether Slurm hides other users' jobs here, and whether the partition exists
        (squeue says nothing about a partition it does not know)."""
        try:
            hidden = self.slurm.private_data()
            names = [p.name for p in self.slurm.partitions()]
        except SlurmUnavailable:
            raise
        except SlurmError as exc:
            log.info("could not read the cluster's configuration: %s", exc)
            hidden, names = frozenset(), []
        notes = [PRIVATE_JOBS] if "jobs" in hidden else []
        if names and self.partition not in names and "partitions" not in hidden:
            notes.append(f"Slurm knows no partition {self.partition!r}; it has {', '.join(names)}.")
        self.notes, self._looked_around = notes, True

    def _notify(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception:
                log.exception("a class overview listener failed")


_monitors: weakref.WeakKeyDictionary[SlurmBackend, dict[str, ClassMonitor]] = (
    weakref.WeakKeyDictionary()
)
_monitors_lock = threading.Lock()


def monitor_for(
    slurm: SlurmBackend, partition: str, *, fast_poll: float, slow_poll: float
) -> ClassMonitor:
    """The monitor of `partition` through `slurm`, shared by every overview of it in the kernel
    (a cell run again adds no second squeue per poll)."""
    with _monitors_lock:
        by_partition = _monitors.setdefault(slurm, {})
        if partition not in by_partition:
            by_partition[partition] = ClassMonitor(
                slurm, partition, fast_poll=fast_poll, slow_poll=slow_poll
            )
        return by_partition[partition]


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
        self.monitor = monitor_for(
            manager.slurm, partition, fast_poll=manager.fast_poll, slow_poll=manager.slow_poll
        )
        self.partition = partition
        self._filter = filter
        self._sort = sort
        # A failed End, shown on its card while the job stays in the Slurm state it was in:
        # job id -> (that state, the message).
        self._card_errors: dict[str, tuple[str, str]] = {}
        self._sync_lock = threading.RLock()
        super().__init__()
        self._refresh()
        self.on_msg(self._on_message)
        self._unsubscribe = self.monitor.subscribe(self._refresh)

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
        unsubscribe = getattr(self, "_unsubscribe", None)
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
                self.cards = cards
                self.compact = len(cards) > COMPACT_AFTER
