"""How commands reach the cluster: an argv list in, text out.

Every layer above talks to a `Transport`, so the same Slurm backend works on the head node
(`LocalTransport`) and, later, over SSH. A transport never takes a shell string: callers hand it
an argv list, which is passed to the OS as is.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
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

    def home(self) -> str:
        """The user's home directory on the cluster side."""
        ...

    def make_private_dir(self, path: str) -> None:
        """Create the folder `path` (its parent must exist) with mode 0700; idempotent."""
        ...


class LocalTransport:
    """Runs commands on this machine as the current user: JupyterLab on the head node."""

    def run(
        self,
        argv: list[str],
        *,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> CommandResult:
        try:
            done = subprocess.run(
                argv,
                input=stdin,
                env={**os.environ, **env} if env else None,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise TransportError(
                f"{argv[0]!r} was not found on PATH; is this a Slurm head node with the Slurm "
                "client commands installed?"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise TransportError(f"{argv[0]} did not answer within {timeout:g} s") from exc
        return CommandResult(tuple(argv), done.returncode, done.stdout, done.stderr)

    def read_text(self, path: str) -> str | None:
        try:
            return Path(path).read_text()
        except FileNotFoundError:
            return None

    def remove(self, path: str) -> None:
        Path(path).unlink(missing_ok=True)

    def home(self) -> str:
        return os.path.expanduser("~")

    def make_private_dir(self, path: str) -> None:
        Path(path).mkdir(mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)
