"""A thread-safe list of callbacks: how the managers tell their widgets that something changed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

L = TypeVar("L", bound=Callable[..., None])


class Listeners(Generic[L]):
    """Listeners added from any thread; iterating gives a snapshot, so a listener may
    unsubscribe (or subscribe another) while being called."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[L] = []

    def add(self, listener: L) -> Callable[[], None]:
        """Add `listener`; returns the function that removes it again."""
        with self._lock:
            self._items.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._items:
                    self._items.remove(listener)

        return remove

    def __iter__(self) -> Iterator[L]:
        with self._lock:
            return iter(list(self._items))

    def call(self, *args: Any, what: str) -> None:
        """Call every listener with `args`; one that fails is logged (as `what`) and the
        others are still called: a broken widget must not stop the managers' threads."""
        for listener in self:
            try:
                listener(*args)
            except Exception:
                log.exception("%s failed", what)
