"""Commands on this machine, as the current user: JupyterLab on the head node."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

from .base import CommandNotFound, CommandResult, TransportError, decode


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
            # Bytes, decoded as SSHTransport does: text=True would turn a "\r" into "\n".
            done = subprocess.run(
                argv,
                input=stdin.encode() if stdin is not None else None,
                env={**os.environ, **env} if env else None,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise CommandNotFound(f"{argv[0]!r} is not on this machine's PATH") from exc
        except subprocess.TimeoutExpired as exc:
            raise TransportError(f"{argv[0]} did not answer within {timeout:g} s") from exc
        return CommandResult(tuple(argv), done.returncode, decode(done.stdout), decode(done.stderr))

    def read_text(self, path: str) -> str | None:
        try:
            return decode(Path(path).read_bytes())
        except FileNotFoundError:
            return None

    def remove(self, path: str) -> None:
        Path(path).unlink(missing_ok=True)

    def list_files(self, folder: str) -> dict[str, float]:
        found = {}
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    with contextlib.suppress(FileNotFoundError):  # removed meanwhile
                        found[entry.name] = entry.stat().st_mtime
        except FileNotFoundError:
            pass
        return found

    def home(self) -> str:
        return os.path.expanduser("~")

    def make_private_dir(self, path: str) -> None:
        Path(path).mkdir(mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)
