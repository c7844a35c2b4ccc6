"""The command line a remote POSIX shell runs: the one place an argv becomes a string."""

from __future__ import annotations

import re
import shlex

_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def remote_command(argv: list[str]) -> str:
    """The command line that makes a POSIX login shell (sh, bash, dash, zsh) on the far side run
    exactly `argv`: every item goes through `shlex.quote`, so the shell splits the line back into
    the same items and expands nothing in them. The one place dcv_widget builds a command string.
    """
    if not argv:
        raise ValueError("an empty argv names no program to run")
    for index, item in enumerate(argv):
        if "\0" in item:
            raise ValueError(
                f"argument {index} of {argv[0]!r} contains a NUL byte, which no command line "
                "can carry; remove it"
            )
        try:
            item.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"argument {index} of {argv[0]!r} is not valid text (it holds a lone surrogate)"
            ) from None
    return " ".join(shlex.quote(item) for item in argv)


def with_env(argv: list[str], env: dict[str, str] | None) -> list[str]:
    """`argv` prefixed with `env NAME=VALUE ...`: sshd passes no variables of ours (AcceptEnv)."""
    if not env:
        return argv
    for name in env:
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(
                f"environment variable name {name!r}: use A-Z, 0-9 and '_', not starting with "
                "a digit"
            )
    if argv and "=" in argv[0]:
        raise ValueError(f"program name {argv[0]!r} contains '=', which env would take for a value")
    return ["env", *(f"{name}={value}" for name, value in env.items()), *argv]
