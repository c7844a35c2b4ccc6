"""*Launch again*: what to change before relaunching a desktop whose end says it could not work
as asked. Pure: an ended session (and sinfo's partitions) in, a field and words out.

Two places say so: sbatch's refusal (the "failed to submit" card's detail, e.g. "Requested time
limit is invalid (missing or exceeds some limit)") and the reason code of a queue the desktop
could never leave (PartitionConfig, PartitionTimeLimit, …: reasons.py, kept in
`DesktopSession.never_reason`). Anything else is relaunched as it was.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields

from .request import InvalidRequest, LaunchRequest, memory_kib, time_limit_seconds
from .session import DesktopSession, asked
from .slurm import Partition
from .slurm_options import refusal_words


@dataclass(frozen=True)
class Change:
    """The launch option to change (a LaunchRequest field) and what to change it to, in words."""

    field: str
    hint: str


# sbatch's refusals (its "Batch job submission failed: …" words) -> the option they are about;
# "resources": whichever of CPUs, GPUs, memory or time the partition cannot hold; "gres": the GPU
# type if one was asked for, else the GPUs; "policy": the QOS if one was chosen, else the time.
_REFUSALS = (
    ("requested time limit is invalid", "time"),
    ("requested node configuration is not available", "resources"),
    ("memory required by task is not available", "memory"),
    ("invalid generic resource", "gres"),
    ("invalid account", "account"),
    ("invalid partition", "partition"),
    ("invalid qos", "qos"),
    ("requested reservation is invalid", "reservation"),
    ("access denied to requested reservation", "reservation"),
    ("requested reservation not usable now", "reservation"),
    ("invalid feature specification", "constraint"),
    ("job violates accounting/qos policy", "policy"),
)
# Queue reasons that never let a desktop start as asked -> the option they are about.
_REASONS = {
    "PartitionTimeLimit": "time",
    "PartitionConfig": "resources",
    "BadConstraints": "resources",
    "MaxMemPerLimit": "memory",
    "InvalidAccount": "account",
    "AccountNotAllowed": "account",
    "InvalidQOS": "qos",
    "QOSNotAllowed": "qos",
    "ReservationDeleted": "reservation",
}
# A per-job limit family (QOSMaxCpuPerJobLimit, AssocMaxWallDurationPerJob, …): its resource.
_LIMIT = re.compile(r"(?:QOS|Assoc)?(?:Max|Min)(Cpu|Mem|GRES|Gres|Wall)\w*")
_LIMIT_FIELDS = {"Cpu": "cpus", "Mem": "memory", "GRES": "gpus", "Gres": "gpus", "Wall": "time"}


def partition_of(request: LaunchRequest, partitions: Sequence[Partition]) -> Partition | None:
    """The partition a request went to: the one named, or the cluster's default."""
    name = request.partition
    return next((p for p in partitions if p.name == name or (not name and p.default)), None)


def change_for(session: DesktopSession, partitions: Sequence[Partition] = ()) -> Change | None:
    """What to change before launching `session`'s desktop again, or None: relaunch as is."""
    about = _about(session)
    if about is None:
        return None
    request = session.request
    if about == "gres":
        about = "gpu_type" if request.gpu_type else "gpus"
    elif about == "policy":
        about = "qos" if request.qos else "time"
    # The Slurm options' refusals, as the card's detail words them (slurm_options.py).
    said = refusal_words(session.detail, request) if session.outcome == "failed to submit" else ""
    partition = partition_of(request, partitions)
    where = partition.name if partition else request.partition or "the default partition"
    if about == "resources":
        return _too_big(request, partition) or Change(
            "partition",
            f"{said}."
            if said
            else f"{where} cannot hold what it asked for ({asked(request)}): ask for less, or "
            "choose another partition.",
        )
    if about == "time":
        return _too_long(request, partition) or Change(
            "time",
            f"{said}."
            if said
            else f"{request.time} is longer than {where} allows: ask for a shorter time limit, "
            "or choose another partition.",
        )
    words = {
        "memory": f"{request.memory or 'the default'} is more memory than {where} allows per "
        "node or CPU: ask for less, or leave it empty.",
        "gpus": f"{where} has no GPUs as asked: ask for fewer, or choose a partition with GPUs.",
        "account": f"Slurm does not take jobs of account {request.account or '(your default)'} "
        f"on {where}: choose an account you belong to, or another partition.",
        "partition": f"Slurm does not know partition {where}: choose another.",
    }
    known = {f.name for f in fields(LaunchRequest)}
    if about not in known:  # an option this version's form does not have
        return Change("partition", f"Slurm refused its {about}: choose another partition.")
    hint = f"{said}." if said else words.get(about, "")
    return Change(about, hint or f"Slurm refused its {about}: choose another, or leave it empty.")


def _about(session: DesktopSession) -> str | None:
    """The option the desktop's end blames, or None."""
    if session.never_reason:
        if session.never_reason in _REASONS:
            return _REASONS[session.never_reason]
        limit = _LIMIT.fullmatch(session.never_reason)
        return _LIMIT_FIELDS[limit.group(1)] if limit else None
    if session.outcome == "failed to submit":
        text = session.detail.lower()
        return next((about for words, about in _REFUSALS if words in text), None)
    return None


def _too_big(request: LaunchRequest, p: Partition | None) -> Change | None:
    """The first of CPUs, GPUs, memory and time that no node or limit of `p` allows."""
    if p is None:
        return None
    if p.node_cpus is not None and request.cpus > p.node_cpus:
        return Change(
            "cpus",
            f"no node of {p.name} has {request.cpus} CPUs: ask for at most {p.node_cpus}, or "
            "choose another partition.",
        )
    if p.node_gpus is not None and request.gpus > p.node_gpus:
        most = f"ask for at most {p.node_gpus}" if p.node_gpus else "it has none: ask for 0"
        return Change(
            "gpus",
            f"no node of {p.name} has {request.gpus} GPUs: {most}, or choose another partition.",
        )
    most_kib = None if p.node_memory_mb is None else p.node_memory_mb * 1024
    if request.memory and most_kib is not None and memory_kib(request.memory) > most_kib:
        return Change(
            "memory",
            f"no node of {p.name} has {request.memory}: ask for at most {p.node_memory_mb}M, "
            "or leave it empty.",
        )
    return _too_long(request, p)


def _too_long(request: LaunchRequest, p: Partition | None) -> Change | None:
    """The time limit, if longer than `p`'s MaxTime (sinfo's %l)."""
    if p is None:
        return None
    try:
        most = time_limit_seconds(p.time_limit)
    except InvalidRequest:  # "infinite", "n/a": no limit known
        return None
    if time_limit_seconds(request.time) <= most:
        return None
    return Change(
        "time",
        f"{p.name} allows at most {p.time_limit}: ask for at most {p.time_limit}, or choose "
        "another partition.",
    )
