"""How commands reach the cluster: an argv list in, text out.

Every layer above talks to a `Transport`, so the same Slurm backend works on the head node
(`LocalTransport`, local.py) and from anywhere else over SSH (`SSHTransport`, ssh.py). A
transport never takes a shell string: callers hand it an argv list. Locally it is passed to the
OS as is; over SSH, `remote_command` (quoting.py) is the one place it becomes a command line,
every item quoted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CommandResult:
    """What a finished command said."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class TransportError(Exception):
    """The command could not be run at all (not found, timed out, host unreachable)."""


class CommandNotFound(TransportError):
    """The command does not exist where it was to run: no retry can help. `host`: the SSH host
    it is missing on, as the user named it; "" for this machine."""

    def __init__(self, message: str, *, host: str = "") -> None:
        super().__init__(message)
        self.host = host


class Transport(Protocol):
    """Runs argv lists and reads small files as the desktop's owner."""

    def run(
        self,
        argv: list[str],
        *,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> CommandResult:
        """Run `argv` with extra `env` variables, feeding `stdin` (never part of argv, so
        secrets and scripts stay out of `ps`)."""
        ...

    def read_text(self, path: str) -> str | None:
        """The file's text, or None when it does not exist."""
        ...

    def remove(self, path: str) -> None:
        """Delete a file; a missing file is not an error."""
        ...

    def list_files(self, folder: str) -> dict[str, float]:
        """The names in `folder` (no paths) with their modification times, {} when it does not
        exist: one cheap look that asks nothing of the scheduler."""
        ...

    def home(self) -> str:
        """The user's home directory on the cluster side."""
        ...

    def make_private_dir(self, path: str) -> None:
        """Create the folder `path` (its parent must exist) with mode 0700; idempotent."""
        ...


def decode(output: bytes) -> str:
    """Command output as text, the same way for every transport (UTF-8, newlines untouched)."""
    return output.decode("utf-8", errors="replace")
