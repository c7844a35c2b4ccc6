"""A desktop's lifecycle as a state machine: Slurm's view of a job in, plain words out. No I/O.

SUBMITTING -> QUEUED(reason) -> STARTING(node booting) -> LAUNCHING(job running, desktop not
ready) -> READY -> ENDED(outcome). Two overlays keep the state reached: `unreachable` (the
scheduler did not answer, so nothing is declared ended on a failed query) and `ending` (End was
asked for, or Slurm is completing the job: the desktop is on its way out from whatever state it
was in, and is shown as Ending).

Times are Slurm's own (see `JobStatus`), so they survive a re-attach: a queued desktop waits
since its submission, a started one runs since its job started; an ending one ends since End.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from enum import Enum

from .reasons import Outlook, reason
from .request import LaunchRequest, time_limit_seconds
from .session_file import LastWord
from .slurm import JobStatus


class SessionState(str, Enum):
    SUBMITTING = "submitting"
    QUEUED = "queued"
    STARTING = "starting"
    LAUNCHING = "launching"
    READY = "ready"
    ENDED = "ended"


_ORDER = list(SessionState)

ACTIVE_STATES = frozenset(
    {
        SessionState.SUBMITTING,
        SessionState.QUEUED,
        SessionState.STARTING,
        SessionState.LAUNCHING,
    }
)

# Final Slurm job states and how a person would say the desktop ended.
_END_OUTCOMES = {
    "COMPLETED": "completed",
    "CANCELLED": "cancelled",
    "TIMEOUT": "time limit reached",
    "FAILED": "failed",
    "NODE_FAIL": "failed: the node failed",
    "BOOT_FAIL": "failed: the node did not boot",
    "OUT_OF_MEMORY": "failed: out of memory",
    "PREEMPTED": "preempted by a higher-priority job",
    "DEADLINE": "failed: deadline passed",
    "REVOKED": "cancelled: revoked",
}


# Slurm's final job states: a desktop in one of them is over.
FINAL_STATES = frozenset(_END_OUTCOMES)


# What an ending desktop waits for: Slurm takes a queued job out at once; a started one first
# gets its signal, and the job's clean-up on the node (the desktop closes, its files go) runs.
ENDING_ASKED = "asking Slurm to end the job"
_ENDING_QUEUED = "Slurm is taking the job out of the queue"
_ENDING_STARTED = "Slurm is stopping the job; the desktop closes and cleans up on its node"


@dataclass(frozen=True)
class DesktopSession:
    """One desktop as the kernel knows it. Immutable: the manager replaces it on every change.

    It never holds a secret: the password lives in the session file on the cluster and is read
    only when someone connects.
    """

    request: LaunchRequest
    key: str
    origin: str = ""
    job_id: str = ""
    state: SessionState = SessionState.SUBMITTING
    detail: str = "submitting the desktop job"
    node: str = ""
    # When the job started (on its node) and when its time limit ends it: Slurm's times.
    started_at: float | None = None
    ends_at: float | None = None
    # While queued: when Slurm expects it to start (its estimate, which moves as the queue does;
    # None when it has none), and whether it can start by itself (reasons.py).
    expected_start: float | None = None
    outlook: Outlook = Outlook.WAITS
    # The reason code Slurm last gave for a queue it can never leave as asked (PartitionConfig,
    # …): kept after the end, so *Launch again* can say what to change (relaunch.py).
    never_reason: str = ""
    # False for a desktop adopted from the queue: its job comment names only its engine, route
    # and partition, so `request` holds the defaults for the rest.
    request_known: bool = True
    # A ready desktop with an idle timeout that nobody is connected to: since when, and when its
    # job ends it unless someone connects (the job's idle word, on our clock); None otherwise.
    idle_since: float | None = None
    idle_ends_at: float | None = None
    outcome: str = ""
    unreachable: bool = False
    ending: bool = False
    # Whether the ending was asked for (End): only then does it hold whatever Slurm says next.
    # An ending seen in Slurm (COMPLETING) ends when the job runs or queues again (requeued).
    end_asked: bool = False
    log_tail: str = ""
    furthest: SessionState = SessionState.SUBMITTING
    since: float = field(default_factory=time.time)

    @property
    def display_state(self) -> str:
        """The state as a person is told it: "ending" while on its way out (an overlay here,
        a state of its own on the card), otherwise the state's name."""
        if self.ending and self.state != SessionState.ENDED:
            return "ending"
        return self.state.value

    @property
    def stuck(self) -> bool:
        """Queued for a reason that never lets it start by itself (its partition is down, it asks
        for more than any node has, …): its card and the CLI say so, and what to change."""
        return (
            self.state == SessionState.QUEUED and not self.ending and self.outlook != Outlook.WAITS
        )

    @property
    def active(self) -> bool:
        """Changing soon (starting up or shutting down): worth a fast poll."""
        return self.state in ACTIVE_STATES or (self.ending and self.state != SessionState.ENDED)

    def moved_to(
        self, state: SessionState, detail: str, outcome: str = "", since: float | None = None
    ) -> DesktopSession:
        """A copy in `state` since `since` (Slurm's time for it); without one, the step's start
        time resets only when the state really changes. `furthest` remembers the last step
        reached before an end (the stepper shows it)."""
        if since is None:
            since = self.since if state == self.state else time.time()
        return replace(
            self.reached(state),
            state=state,
            detail=detail,
            outcome=outcome,
            since=since,
            unreachable=False,
        )

    def reached(self, state: SessionState) -> DesktopSession:
        """A copy that got at least as far as `state` (ENDED is not a step)."""
        if state == SessionState.ENDED or _ORDER.index(state) <= _ORDER.index(self.furthest):
            return self
        return replace(self, furthest=state)

    def submitted(self, job_id: str) -> DesktopSession:
        """sbatch answered with the job's id: queued (one ending since End was clicked while
        sbatch ran stays Ending, since then)."""
        session = replace(self, job_id=job_id, unreachable=False)
        if self.ending:
            return replace(session.reached(SessionState.QUEUED), state=SessionState.QUEUED)
        return session.moved_to(SessionState.QUEUED, "submitted")

    def start_ending(self) -> DesktopSession:
        """End was asked for: Ending from now, whatever state the desktop is in."""
        if self.state == SessionState.ENDED or self.end_asked:
            return self
        return replace(self, ending=True, end_asked=True, detail=ENDING_ASKED, since=time.time())

    def ending_asked(self) -> DesktopSession:
        """Slurm took the cancel: what the ending desktop waits for now."""
        if self.state == SessionState.ENDED:
            return self
        started = _ORDER.index(self.furthest) >= _ORDER.index(SessionState.STARTING)
        return replace(self, detail=_ENDING_STARTED if started else _ENDING_QUEUED)


def observe(session: DesktopSession, job: JobStatus, desktop_ready: bool) -> DesktopSession:
    """The session after one look at the scheduler (squeue, or sacct for a job that left it).

    `desktop_ready` says whether the job's session file announced a ready desktop.
    """
    if session.state == SessionState.ENDED:
        return session
    session = replace(
        session,
        node=job.nodes or session.node,
        started_at=job.started_at,
        ends_at=ends_at(job),
        expected_start=job.expected_start,
    )
    if job.state in _END_OUTCOMES:
        outcome = _END_OUTCOMES[job.state]
        return _reached_by(session, job).moved_to(SessionState.ENDED, outcome, outcome=outcome)
    if session.end_asked:  # End was asked for: the job is on its way out whatever it does now
        return replace(session, unreachable=False)
    if job.state == "COMPLETING":  # ending by itself (or cancelled elsewhere): since its end
        return replace(
            session,
            detail=_ENDING_STARTED,
            ending=True,
            since=job.end_time or time.time(),
            unreachable=False,
        )
    # Queued or running again after Slurm was seen completing it: requeued (scontrol requeue, a
    # node failure with JobRequeue), not ending.
    session = replace(session, ending=False)
    if job.state == "PENDING":
        why = reason(job.reason)
        words = why.words
        if job.reason == "Resources" and session.request.gpus:
            words = "waiting for a free GPU node"
        elif why.outlook == Outlook.NEVER:
            words = f"{words} (it asks for {asked(session.request)})"
        queued = session.moved_to(SessionState.QUEUED, words, since=job.submitted_at)
        never = job.reason if why.outlook == Outlook.NEVER else ""
        return replace(queued, outlook=why.outlook, never_reason=never)
    if job.state == "CONFIGURING":
        # How long a boot takes is the site's word (node_boot_seconds), which the card adds.
        return session.moved_to(
            SessionState.STARTING, f"powering up {job.nodes or 'a node'}", since=job.started_at
        )
    if job.state == "RUNNING":
        # Both run since the job started: "running for" is the job's true running time.
        if desktop_ready:
            return session.moved_to(
                SessionState.READY, f"running on {job.nodes}", since=job.started_at
            )
        return session.moved_to(
            SessionState.LAUNCHING, f"starting the desktop on {job.nodes}", since=job.started_at
        )
    # SUSPENDED, REQUEUED, …: keep the step and say what Slurm says.
    return replace(session, detail=f"Slurm reports {job.state.lower()}", unreachable=False)


def asked(request: LaunchRequest) -> str:
    """What a desktop asks Slurm for, in a few words: "64 CPUs, 1 t4 GPU, 16G for 1 h"."""
    parts = [f"{request.cpus} CPU{'s' if request.cpus != 1 else ''}"]
    if request.gpus:
        kind = f" {request.gpu_type}" if request.gpu_type else ""
        parts.append(f"{request.gpus}{kind} GPU{'s' if request.gpus != 1 else ''}")
    if request.memory:
        parts.append(request.memory)
    return f"{', '.join(parts)} for {_duration(time_limit_seconds(request.time))}"


def _duration(seconds: int) -> str:
    """A time limit in words: "5 min", "2 h", "1 h 30 min", "2 days 4 h"."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes and not days else []
    return " ".join(parts) or f"{seconds} s"


def boot_words(seconds: int) -> str:
    """About how long a powered-down node takes, said the same on the partition labels
    and on a card whose node boots (the site's node_boot_seconds)."""
    if seconds <= 0:
        return "once a node has booted"
    if seconds < 50:
        return f"in ~{seconds} s"
    if seconds < 90:
        return "in about a minute"
    return f"in ~{round(seconds / 60)} min"


def ends_at(job: JobStatus) -> float | None:
    """When a running job reaches its time limit: Slurm's EndTime. None while its cloud node
    boots (CONFIGURING): Slurm then restarts the job's clock from the moment the node is up, so
    a time left shown during the boot would jump back afterwards. None once it is completing:
    its EndTime is then when it ended, not its limit."""
    return job.end_time if job.state == "RUNNING" else None


def _reached_by(session: DesktopSession, job: JobStatus) -> DesktopSession:
    """A job that ended by itself after getting a node got that far, even if no poll saw it
    there (a desktop failing in its first second was last seen queued): a node that failed, to
    the node's step; otherwise the job ran there, to the desktop's. A cancel says nothing of how
    far the job got."""
    if not job.nodes or job.state == "CANCELLED":
        return session
    node_failed = job.state in ("BOOT_FAIL", "NODE_FAIL")
    return session.reached(SessionState.STARTING if node_failed else SessionState.LAUNCHING)


def vanished(session: DesktopSession) -> DesktopSession:
    """The job left squeue and the cluster keeps no accounting: ended, how is not known yet.

    Never called "completed": the job's last word (see `with_last_word`) may still say how.
    """
    if session.state == SessionState.ENDED:
        return session
    return session.moved_to(
        SessionState.ENDED,
        "the job left the queue and this cluster keeps no job accounting, so how it ended "
        "is unknown",
        outcome="ended",
    )


# The job's last-word causes that say more than Slurm's end state.
_LAST_WORD_OUTCOMES = {"idle": "idle stop", "failed": "failed", "server-exit": "desktop closed"}


def with_last_word(session: DesktopSession, word: LastWord | None, log_tail: str) -> DesktopSession:
    """An ended session told by the job's own last word and, for failures, its log's tail."""
    if word is not None and word.launch_id == session.key:
        # Only the job script on the node writes a last word: the desktop got that far.
        session = session.reached(SessionState.LAUNCHING)
        if word.cause in _LAST_WORD_OUTCOMES:
            session = replace(session, outcome=_LAST_WORD_OUTCOMES[word.cause], detail=word.reason)
        elif word.cause == "signal" and session.outcome == "ended":
            session = replace(session, outcome="stopped", detail=word.reason)
    if session.outcome.startswith("failed"):
        session = replace(session, log_tail=log_tail)
    return session
