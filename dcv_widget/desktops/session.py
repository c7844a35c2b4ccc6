"""A desktop's lifecycle as a state machine: Slurm's view of a job in, plain words out. No I/O.

SUBMITTING -> QUEUED(reason) -> STARTING(node booting) -> LAUNCHING(job running, desktop not
ready) -> READY -> ENDED(outcome). `unreachable` is an overlay: the scheduler did not answer, so
the last known state stays and nothing is declared ended on a failed query.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from enum import Enum

from .request import InvalidRequest, LaunchRequest, time_limit_seconds
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

# squeue's pending-reason codes in words a person understands.
_PENDING_REASONS = {
    "None": "waiting to be scheduled",
    "Priority": "waiting behind jobs with higher priority",
    "Resources": "waiting for a free node",
    "PartitionDown": "the partition is down; ask your cluster admin",
    "PartitionInactive": "the partition is inactive; ask your cluster admin",
    "PartitionNodeLimit": "the request needs more nodes than the partition allows",
    "PartitionTimeLimit": "the time limit is longer than the partition allows; choose less time",
    "ReqNodeNotAvail": "the nodes it needs are not available (down, drained or reserved)",
    # Slurm 22.05 prints ReqNodeNotAvail's long form for nodes being powered down.
    "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions": (
        "the nodes it needs are down, drained, powering down or reserved"
    ),
    "NodeDown": "a node it needs is down",
    "BeginTime": "waiting for its start time",
    "Dependency": "waiting for another job to finish",
    "JobHeldUser": "held by you: release it with scontrol release",
    "JobHeldAdmin": "held by an administrator",
    "QOSMaxJobsPerUserLimit": "you already run as many jobs as your QOS allows",
    "AssocMaxJobsLimit": "you already run as many jobs as your account allows",
    "AssocGrpCpuLimit": "your account's CPU limit is reached",
    "Reservation": "waiting for its reservation to start",
    "launch failed requeued held": "the node failed to start it and it was held",
}

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


def pending_reason(code: str) -> str:
    """Plain words for a squeue reason code (unknown codes are shown as Slurm says them)."""
    return _PENDING_REASONS.get(code, f"waiting ({code})")


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
    ends_at: float | None = None
    outcome: str = ""
    unreachable: bool = False
    ending: bool = False
    log_tail: str = ""
    furthest: SessionState = SessionState.SUBMITTING
    since: float = field(default_factory=time.time)

    @property
    def active(self) -> bool:
        """Changing soon (starting up or shutting down): worth a fast poll."""
        return self.state in ACTIVE_STATES or (self.ending and self.state != SessionState.ENDED)

    def moved_to(self, state: SessionState, detail: str, outcome: str = "") -> DesktopSession:
        """A copy in `state`; the step's start time resets only when the state really changes,
        and `furthest` remembers the last step reached before an end (the stepper shows it)."""
        since = self.since if state == self.state else time.time()
        furthest = self.furthest
        if state != SessionState.ENDED and _ORDER.index(state) > _ORDER.index(furthest):
            furthest = state
        return replace(
            self,
            state=state,
            detail=detail,
            outcome=outcome,
            since=since,
            furthest=furthest,
            unreachable=False,
        )


def observe(session: DesktopSession, job: JobStatus, desktop_ready: bool) -> DesktopSession:
    """The session after one look at the scheduler (squeue, or sacct for a job that left it).

    `desktop_ready` says whether the job's session file announced a ready desktop.
    """
    if session.state == SessionState.ENDED:
        return session
    session = replace(
        session, node=job.nodes or session.node, ends_at=_ends_at(session.ends_at, job)
    )
    if job.state == "PENDING":
        reason = pending_reason(job.reason)
        if job.reason == "Resources" and session.request.gpus:
            reason = "waiting for a free GPU node"
        return session.moved_to(SessionState.QUEUED, reason)
    if job.state == "CONFIGURING":
        return session.moved_to(
            SessionState.STARTING,
            f"powering up {job.nodes or 'a node'} (a cloud node usually takes 3 to 5 minutes)",
        )
    if job.state == "RUNNING":
        if desktop_ready:
            return session.moved_to(SessionState.READY, f"running on {job.nodes}")
        return session.moved_to(SessionState.LAUNCHING, f"starting the desktop on {job.nodes}")
    if job.state in _END_OUTCOMES:
        outcome = _END_OUTCOMES[job.state]
        return session.moved_to(SessionState.ENDED, outcome, outcome=outcome)
    if job.state == "COMPLETING":
        return replace(session, detail="shutting down", ending=True, unreachable=False)
    # SUSPENDED, REQUEUED, …: keep the step and say what Slurm says.
    return replace(session, detail=f"Slurm reports {job.state.lower()}", unreachable=False)


def _ends_at(known: float | None, job: JobStatus) -> float | None:
    """When a started job hits its time limit (epoch seconds), from squeue's time left; kept
    as it was when the new estimate is within a few seconds, so polls don't churn the state."""
    if job.state not in ("RUNNING", "CONFIGURING", "COMPLETING"):
        return None
    try:
        estimate = time.time() + time_limit_seconds(job.time_left)
    except InvalidRequest:  # UNLIMITED, NOT_SET, INVALID
        return None
    return known if known is not None and abs(known - estimate) < 5 else estimate


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
        if word.cause in _LAST_WORD_OUTCOMES:
            session = replace(session, outcome=_LAST_WORD_OUTCOMES[word.cause], detail=word.reason)
        elif word.cause == "signal" and session.outcome == "ended":
            session = replace(session, outcome="stopped", detail=word.reason)
    if session.outcome.startswith("failed"):
        session = replace(session, log_tail=log_tail)
    return session
