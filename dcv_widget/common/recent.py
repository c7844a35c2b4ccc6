"""One answer read for every caller, read again once it is older than a caller allows: how the
launchers of a kernel (or of a server's browsers) share one `sinfo` and one look at the user's
reservations and QOS. The scheduler is shared; its answers are too."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Recent(Generic[T]):
    """The last answer of `read`, with when it came."""

    def __init__(self, read: Callable[[], T]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._read_at = -math.inf
        self._answer: T | None = None

    def get(self, max_age: float) -> T:
        """The answer as `read` gave it at most `max_age` seconds ago (read now if older; an
        exception of `read` goes to the caller, and the next call reads again). A second of
        slack: a caller that read it itself `max_age` ago (its clock started just before this
        one's) gets a new answer, not its own old one."""
        with self._lock:
            if self._answer is None or time.monotonic() - self._read_at >= max_age - 1.0:
                self._answer = self._read()
                self._read_at = time.monotonic()
            return self._answer
