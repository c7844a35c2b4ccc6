"""A transport that counts what it runs: the real local one, for tests of the scheduler load."""

from __future__ import annotations

import threading
from typing import Any

from dcv_widget.transport.base import CommandResult
from dcv_widget.transport.local import LocalTransport


class CountingTransport(LocalTransport):
    """The real local transport, counting the commands it runs (by their program name)."""

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[str] = []
        self._lock = threading.Lock()

    def run(self, argv: list[str], **kwargs: Any) -> CommandResult:
        with self._lock:
            self.commands.append(argv[0])
        return super().run(argv, **kwargs)

    def count(self, command: str) -> int:
        with self._lock:
            return self.commands.count(command)
