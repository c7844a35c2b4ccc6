"""The files a desktop job writes as it goes, and where they live.

The job writes into `~/.dcv-widget/sessions/` (folder 0700, files 0600): `<job_id>.started.json`
as it starts on its node, `<job_id>.json` once the desktop answers, `<job_id>.idle.json` while
nobody is connected to a desktop with an idle timeout (when it will end itself),
`<job_id>.end.json` (its last word) as it ends. The kernel lists the folder often (it costs the
scheduler nothing) and asks Slurm when a name there says something changed. The ready file holds
the connect secret, so the kernel reads it only to learn readiness and, on a Connect click, to
build the URL; the parsed `Endpoint` it keeps carries no secret.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from ..access.endpoint import Endpoint

STATE_DIR = ".dcv-widget"


@dataclass(frozen=True)
class SessionPaths:
    """The user's dcv_widget folders on the cluster side, from their home directory."""

    home: str

    @property
    def root(self) -> str:
        return posixpath.join(self.home, STATE_DIR)

    @property
    def sessions(self) -> str:
        return posixpath.join(self.root, "sessions")

    @property
    def logs(self) -> str:
        return posixpath.join(self.root, "logs")

    def session_file(self, job_id: str) -> str:
        return posixpath.join(self.sessions, f"{job_id}.json")

    def end_file(self, job_id: str) -> str:
        """The job's last word: why it ended (no secret)."""
        return posixpath.join(self.sessions, f"{job_id}.end.json")

    def started_file(self, job_id: str) -> str:
        """The job's word that it started on its node (no secret)."""
        return posixpath.join(self.sessions, f"{job_id}.started.json")

    def idle_file(self, job_id: str) -> str:
        """The job's word that nobody is connected and when it ends itself (no secret)."""
        return posixpath.join(self.sessions, f"{job_id}.idle.json")

    def log_pattern(self) -> str:
        """sbatch --output pattern; Slurm replaces %j with the job id."""
        return posixpath.join(self.logs, "desktop-%j.out")

    def log_file(self, job_id: str) -> str:
        return posixpath.join(self.logs, f"desktop-{job_id}.out")


class JobFile(str, Enum):
    """What a job's file in the sessions folder says, by its name alone."""

    STARTED = "started"  # <job>.started.json: the job runs on its node
    READY = "ready"  # <job>.json: the desktop answers
    ENDED = "ended"  # <job>.end.json: the job's last word
    IDLE = "idle"  # <job>.idle.json: nobody is connected; the job ends itself at a time


_JOB_FILE_NAME = re.compile(r"(\d+)(\.started|\.end|\.idle)?\.json")
_JOB_FILE_KINDS = {
    ".started": JobFile.STARTED,
    None: JobFile.READY,
    ".end": JobFile.ENDED,
    ".idle": JobFile.IDLE,
}


def job_files(names: Iterable[str]) -> dict[str, frozenset[JobFile]]:
    """Which files each job has, from a listing of the sessions folder: what the kernel learns
    without asking the scheduler. Anything else there (a job's half-written temporary file,
    which starts with a dot) is not a job's word."""
    found: dict[str, set[JobFile]] = {}
    for name in names:
        match = _JOB_FILE_NAME.fullmatch(name)
        if match:
            found.setdefault(match[1], set()).add(_JOB_FILE_KINDS[match[2]])
    return {job_id: frozenset(kinds) for job_id, kinds in found.items()}


@dataclass(frozen=True)
class SessionFile:
    """A parsed session file: the endpoint, the launch that wrote it, and the secret."""

    endpoint: Endpoint
    launch_id: str
    secret: str = field(repr=False)  # never printed by accident


class SessionFileError(ValueError):
    """The session file exists but cannot be used."""


_OPTIONAL_FIELDS = ("session_id", "private_ip", "public_ip", "instance_id", "region", "cert")


def parse_session_file(text: str) -> SessionFile:
    """Read the JSON the job wrote; errors never quote the file (it holds a secret)."""
    problem = ""
    try:
        data = json.loads(text)
        optional = {name: str(data.get(name, "")) for name in _OPTIONAL_FIELDS}
        return SessionFile(
            endpoint=Endpoint(
                engine=str(data["engine"]),
                host=str(data["host"]),
                port=int(data["port"]),
                **optional,
            ),
            launch_id=str(data.get("launch", "")),
            secret=str(data["secret"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        problem = type(exc).__name__
    # Raised outside the except block: a chained JSONDecodeError would carry the whole text.
    raise SessionFileError(
        f"the desktop's session file is malformed ({problem}); "
        "end this desktop and launch a new one"
    )


@dataclass(frozen=True)
class LastWord:
    """What a job wrote as it ended (`<job>.end.json`): a cause and a sentence, no secret.

    cause: "signal" (End, scancel, time limit), "idle" (idle auto-stop), "failed" (the job
    could not start the desktop), "server-exit" (the desktop server ended, e.g. a logout).
    """

    cause: str
    reason: str
    launch_id: str


def parse_last_word(text: str) -> LastWord | None:
    """The job's last word, or None when the file is not one (it is only advisory)."""
    try:
        data = json.loads(text)
        return LastWord(str(data["cause"]), str(data["reason"]), str(data.get("launch", "")))
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class IdleWord:
    """What a job with an idle timeout writes while nobody is connected (`<job>.idle.json`):
    since when, and when it will end itself unless someone connects; epoch seconds on the
    cluster's clock (the node's), no secret."""

    since: float
    ends_at: float
    launch_id: str


def parse_idle_word(text: str) -> IdleWord | None:
    """The job's idle word, or None when the file is not one (it is only advisory). Its times
    are real numbers: json reads NaN and Infinity too, which no card or countdown can show."""
    try:
        data = json.loads(text)
        since, ends_at = float(data["since"]), float(data["ends_at"])
        launch_id = str(data.get("launch", ""))
    except (ValueError, KeyError, TypeError):
        return None
    finite = math.isfinite(since) and math.isfinite(ends_at)
    return IdleWord(since, ends_at, launch_id) if finite else None
