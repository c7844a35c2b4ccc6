"""Job scripts: the shared prelude (common.sh) followed by an engine's own part.

Placeholders are `@NAME@`; every value must match a strict pattern, so what reaches bash is a
plain word that needs no quoting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files

from ..request import LaunchRequest

_SAFE_VALUE = re.compile(r"[A-Za-z0-9._x-]{1,64}")
_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")


def render_job_script(engine: str, body: str, *, launch_id: str, **values: str) -> str:
    """common.sh + the engine's `body` template, with `@NAME@` replaced by `values[NAME]`.

    `launch_id` (hex, the manager's session key) goes into the session file, so a file left by
    an earlier job with the same job id (a killed job, a rebuilt cluster) is never taken for
    this desktop's.
    """
    if not re.fullmatch(r"[0-9a-f]{1,64}", launch_id):
        raise ValueError(f"launch_id: {launch_id!r} is not a hex id")
    values = {"ENGINE": engine, "LAUNCH_ID": launch_id, **values}
    for name, value in values.items():
        if not _SAFE_VALUE.fullmatch(value):
            raise ValueError(f"{name.lower()}: {value!r} cannot go into a job script")
    here = files(__package__)
    template = here.joinpath("common.sh").read_text() + here.joinpath(body).read_text()

    def substitute(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return _PLACEHOLDER.sub(substitute, template)


@dataclass(frozen=True)
class IdleWatch:
    """How a job watches its desktop (common.sh, watch_desktop) for the idle stop: `idle_grace`
    seconds after ready before the idle clock starts, a look every `poll_seconds`; tests
    shorten them."""

    idle_grace: int
    poll_seconds: int

    def __post_init__(self) -> None:
        if self.idle_grace < 0 or self.poll_seconds < 1:
            raise ValueError("idle_grace must be >= 0 and poll_seconds >= 1")

    def values(self, request: LaunchRequest) -> dict[str, str]:
        """The job script's placeholders for the watch, with the request's idle timeout."""
        return {
            "IDLE_TIMEOUT": str(request.idle_timeout),
            "IDLE_GRACE": str(self.idle_grace),
            "POLL_SECONDS": str(self.poll_seconds),
        }
