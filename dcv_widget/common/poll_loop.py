"""The poll thread every manager runs: one thread at a time, started on demand, woken early on
request, ending by itself when there is nothing left to follow."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class PollLoop:
    """Calls `poll_round()` over and over on one daemon thread, while `keep_going()` is true.

    `poll_round` does one round and returns the seconds to wait before the next (the manager
    knows whether something is about to change, or whether to back off); `wake()` cuts the
    wait short. A round that raises is logged and tried again after `retry_after` seconds:
    polling never dies with one bad round. `keep_going` is asked under the loop's own lock, as
    is `ensure_running`, so a caller that adds work and then calls `ensure_running` is never
    left with a loop that had just decided to stop. (So callers must not hold a lock that
    `keep_going` takes while calling `ensure_running`.)
    """

    def __init__(
        self,
        name: str,
        poll_round: Callable[[], float],
        keep_going: Callable[[], bool],
        *,
        retry_after: float = 30.0,
    ) -> None:
        self.name = name
        self.retry_after = retry_after
        self._round = poll_round
        self._keep_going = keep_going
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def ensure_running(self) -> None:
        """Start the thread unless it runs; either way, the next round comes at once."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
                return
        self._wake.set()

    def wake(self) -> None:
        """Poll now instead of at the end of the current wait."""
        self._wake.set()

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._keep_going():
                        self._thread = None
                        return
                try:
                    interval = self._round()
                except Exception:  # a round's own handling failed: poll on, later
                    log.exception(
                        "%s: a poll failed; retrying in %g s", self.name, self.retry_after
                    )
                    interval = self.retry_after
                self._wake.wait(interval)
                self._wake.clear()
        except Exception:  # keep_going itself failed: say so; the next ensure_running restarts
            log.exception("%s: the poll thread stopped", self.name)
        finally:
            # However the thread ends, the next ensure_running() starts a new one.
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None


class Backoff:
    """Waits that double after each failure, from `first` up to `limit`, and reset on success."""

    def __init__(self, first: float, limit: float) -> None:
        self.first, self.limit = first, limit
        self.current = first

    def reset(self) -> None:
        self.current = self.first

    def next(self) -> float:
        """The wait after one more failure in a row."""
        self.current = min(self.current * 2, self.limit)
        return self.current
