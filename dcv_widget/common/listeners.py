"""A thread-safe list of callbacks: how the managers tell their widgets that something changed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

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
