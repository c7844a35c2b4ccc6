"""When a manager asks the scheduler: seldom, except when something has just changed.

slurmctld is shared by everyone on the cluster, and every `squeue` costs it a few RPCs; a
desktop may wait in the queue for hours. So the manager learns of changes from the job's own
files first (a listing of the sessions folder, which asks Slurm nothing) and asks `squeue` only:
- soon after a submit (the queue's first word on the job: its reason, or that it started);
- at once when a file, or an End, says something changed, and again after growing gaps until
  Slurm agrees (the job's state catches up with its files within a second or two);
- otherwise every `interval` seconds, whatever the desktops do: the queue's reason and start
  estimate are refreshed then, a file system that shows the job's files late is covered, and a
  job that vanishes without a word (a node failure, a kill) is noticed. (A faster pace while a
  desktop waits, 30 s for its first minutes, cost a kernel 10.7 RPCs a minute over a launch's
  first three minutes: over the 8 a kernel may cost.)
Never two calls closer than `min_gap`: a burst of news is one query.
"""

from __future__ import annotations

import math
import threading

# The first gap after a confirmation that found Slurm not agreeing yet; it doubles up to half
# the interval. A job that wrote its last word leaves squeue within about a second.
FIRST_RETRY = 0.5
# After a submit (seconds): the scheduler's first pass (at once on submit) has set the job's
# reason, or started it, by the first; the reason a busy scheduler first gives ("Resources",
# "Priority") may turn into one that says more ("PartitionDown") on a later pass.
AFTER_SUBMIT = (1.0, 5.0, 15.0)


class SqueuePace:
    """The schedule of one manager's squeue calls (times are passed in; the lock is for the
    manager's threads, which report news while the poll thread reads the schedule)."""

    def __init__(self, interval: float, *, min_gap: float = 0.5) -> None:
        self.interval, self.min_gap = interval, min_gap
        self._last = -math.inf
        self._confirm_at: list[float] = []  # when confirmations are due, soonest first
        self._hold_until = -math.inf
        self._retries = 0
        self._lock = threading.Lock()

    def asked(self, now: float) -> None:
        """A squeue ran at `now`: it answers every confirmation asked for until then."""
        with self._lock:
            self._last = now
            self._confirm_at = [t for t in self._confirm_at if t > now]

    def confirm(self, now: float, delay: float = 0.0) -> None:
        """Something changed (or will have, after `delay`): ask Slurm then, and, until it
        agrees, again after gaps doubling from FIRST_RETRY (news starts its own streak: one a
        long disagreement built up must not delay it)."""
        with self._lock:
            self._confirm_at = sorted([*self._confirm_at, now + delay])
            self._retries = 0

    def submitted(self, now: float) -> None:
        """A job was just submitted: the queue's first words on it, at AFTER_SUBMIT."""
        for delay in AFTER_SUBMIT:
            self.confirm(now, delay)

    def not_yet(self, now: float) -> None:
        """The last answer did not confirm what the files (or an End) said: ask again, after a
        gap that doubles each time, up to half the interval."""
        with self._lock:
            gap = min(FIRST_RETRY * 2**self._retries, self.interval / 2)
            self._retries += 1
            self._confirm_at = sorted([*self._confirm_at, now + gap])

    def agreed(self) -> None:
        """Slurm's answer and the files agree: back to the regular pace."""
        with self._lock:
            self._retries = 0

    def hold(self, now: float, seconds: float) -> None:
        """The scheduler did not answer (or the poll failed): no call before `now + seconds`."""
        with self._lock:
            self._hold_until = now + seconds

    def due_in(self, now: float) -> float:
        """Seconds until the next squeue (0: now)."""
        with self._lock:
            regular = self._last + self.interval
            due = min([regular, *self._confirm_at[:1]])
            due = max(due, self._last + self.min_gap, self._hold_until)
        return max(0.0, due - now)
