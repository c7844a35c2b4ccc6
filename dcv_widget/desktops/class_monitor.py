"""Every user's desktops on one partition, for an instructor's class overview: one `squeue`
call per poll for all users, on its own thread, at the manager's pace (see `pace`): every
`slow_poll` seconds, at once after an End and again after doubling gaps until Slurm shows the
job gone; backing off while Slurm does not answer. (Other users' job files are not readable:
squeue is the only channel here.) *End* runs `scancel` on its action thread, and Slurm decides
whether the instructor may.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from ..common.listeners import Listeners
from ..common.poll_loop import Backoff, PollLoop
from .manager import MAX_BACKOFF, SLOW_POLL
from .pace import SqueuePace
from .session import ends_at
from .slurm import JobStatus, SlurmBackend, SlurmError, SlurmUnavailable, UserDesktop

# Slurm's state -> the card's state word. "queued" and "starting" mean what they mean on a
# Desktop card; a running job is "running", not "ready": only its owner can see whether the
# desktop answers.
STATE_WORDS = {
    "PENDING": "queued",
    "CONFIGURING": "starting",
    "RUNNING": "running",
    "COMPLETING": "ending",
}
STATE_ORDER = {word: i for i, word in enumerate(STATE_WORDS.values())}

log = logging.getLogger(__name__)

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
        slow_poll: float = SLOW_POLL,
    ) -> None:
        self.slurm = slurm
        self.partition = partition
        self.slow_poll = slow_poll
        self._pace = SqueuePace(slow_poll)
        self._desktops: list[UserDesktop] = []
        self._ending: set[str] = set()  # End accepted or under way, job not gone yet
        self.listed = False  # a listing has come in
        self.unreachable = False  # Slurm did not answer the last poll: the list is the last known
        self.problem = ""  # why the last poll failed
        self.notes: list[str] = []  # what the cluster's configuration means for this list
        self._looked_around = False
        self._listeners: Listeners[Callable[[], None]] = Listeners()
        self._lock = threading.Lock()
        self._loop = PollLoop("dcv-widget-overview-poll", self._poll_round, self._has_listeners)
        self._backoff = Backoff(1.0, MAX_BACKOFF)
        self._actions = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dcv-widget-overview")

    # -- what callers see -------------------------------------------------------------------

    def desktops(self) -> list[UserDesktop]:
        with self._lock:
            return list(self._desktops)

    def ends(self) -> dict[str, float | None]:
        """When each running job reaches its time limit (Slurm's EndTime on this machine's
        clock, epoch seconds), by job id; None for the others (see `session.ends_at`)."""
        with self._lock:
            return {d.job.job_id: ends_at(d.job) for d in self._desktops}

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
        """Look at the partition now (an End here or elsewhere in this kernel)."""
        self._pace.confirm(time.time())
        self._loop.wake()

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
        self._loop.ensure_running()

    def _has_listeners(self) -> bool:
        """Polling runs while anyone listens."""
        return next(iter(self._listeners), None) is not None

    def _poll_round(self) -> float:
        """One poll when the pace says one is due; the seconds until the next."""
        if self._pace.due_in(time.time()) <= 0:
            self._poll_when_due()
        return self._pace.due_in(time.time())

    def _poll_when_due(self) -> None:
        self._pace.asked(time.time())
        try:
            self.poll_once()
        except SlurmUnavailable as exc:
            log.info("scheduler unreachable: %s", exc)
            self.unreachable = True
            self.problem = f"{exc}. The cards show the last known state."
            self._notify()
            self._pace.hold(time.time(), self._backoff.next())
            return
        except Exception as exc:
            if not isinstance(exc, SlurmError):
                log.exception("listing the partition's desktops failed; retrying")
            self.problem = f"Could not list the desktops: {exc}. Retrying."
            self._notify()
            self._pace.hold(time.time(), self.slow_poll)
            return
        self._backoff.reset()
        if self.ending():  # an End Slurm has not carried out yet: it will within seconds
            self._pace.not_yet(time.time())
        else:
            self._pace.agreed()

    def poll_once(self) -> None:
        """One squeue call for the whole partition."""
        if not self._looked_around:
            self._look_around()
        desktops = self.slurm.partition_desktops(self.partition)
        with self._lock:
            self._desktops = desktops
            self._ending &= {d.job.job_id for d in desktops}
            self.listed, self.unreachable, self.problem = True, False, ""
        self._notify()

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
        self._listeners.call(what="a class overview listener")


_monitors: weakref.WeakKeyDictionary[SlurmBackend, dict[str, ClassMonitor]] = (
    weakref.WeakKeyDictionary()
)
_monitors_lock = threading.Lock()


def monitor_for(slurm: SlurmBackend, partition: str, *, slow_poll: float) -> ClassMonitor:
    """The monitor of `partition` through `slurm`, shared by every overview of it in the kernel
    (a cell run again adds no second squeue per poll)."""
    with _monitors_lock:
        by_partition = _monitors.setdefault(slurm, {})
        if partition not in by_partition:
            by_partition[partition] = ClassMonitor(slurm, partition, slow_poll=slow_poll)
        return by_partition[partition]


def card_state(job: JobStatus) -> str:
    """The card's state word for a Slurm state (other states as Slurm says them, lower case)."""
    return STATE_WORDS.get(job.state, job.state.lower())
