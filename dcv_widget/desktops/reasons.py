"""Why a queued job waits, in words: Slurm's job reason codes, and whether the desktop can start
by itself. Pure: a code in, a `Reason` out.

Slurm documents about two hundred codes (squeue(1), JOB REASON CODES, and the full list it points
to, job_reason_codes.html). The limits come in families whose names are built from parts (who
sets the limit, its kind, the resource, per what): `QOSMaxCpuPerUserLimit`,
`AssocGrpGRESRunMinutes`, `MaxMemoryPerAccount`; those are read from their parts, the rest are
listed one by one. tests/unit/test_reasons.py walks the documented list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Outlook(str, Enum):
    """Whether a queued desktop starts without anyone doing anything."""

    WAITS = "waits"  # once something frees up (a node, a limit's headroom, its start time)
    BLOCKED = "blocked"  # only when someone acts: an admin, or you (a hold)
    NEVER = "never"  # not as asked: the request itself must change, so it is launched anew


@dataclass(frozen=True)
class Reason:
    """A reason code as a person reads it: `words` say what holds the desktop and, when it will
    not start by itself, what to change."""

    code: str
    words: str
    outlook: Outlook

    @property
    def starts_by_itself(self) -> bool:
        return self.outlook == Outlook.WAITS


_WONT = "so this desktop will not start by itself"
_NEVER = "so this desktop can never start as asked"
_ADMIN = "ask your cluster admin"

# Reasons that are not limit families, one by one: (words, outlook).
_ONE_BY_ONE: dict[str, tuple[str, Outlook]] = {
    "None": ("waiting to be scheduled", Outlook.WAITS),
    "WaitingForScheduling": ("waiting for the scheduler to look at it", Outlook.WAITS),
    "Priority": ("waiting behind jobs with higher priority", Outlook.WAITS),
    "Resources": ("waiting for a free node", Outlook.WAITS),
    "Constraints": ("waiting for a node with the features it needs", Outlook.WAITS),
    "Prolog": ("its node is running the site's start-up script (prolog)", Outlook.WAITS),
    "BeginTime": ("waiting for its start time", Outlook.WAITS),
    "Dependency": ("waiting for another job to finish", Outlook.WAITS),
    "Licenses": ("waiting for a free software license", Outlook.WAITS),
    "Reservation": ("waiting for its reservation to start", Outlook.WAITS),
    "ReqNodeNotAvail": (
        "the nodes it needs are not available (down, drained or reserved)",
        Outlook.WAITS,
    ),
    # Slurm 22.05 prints ReqNodeNotAvail's long form for nodes being powered down.
    "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions": (
        "the nodes it needs are down, drained, powering down or reserved",
        Outlook.WAITS,
    ),
    "NodeDown": ("a node it needs is down; it starts once the node is back", Outlook.WAITS),
    "Cleaning": ("requeued, and still cleaning up after its previous run", Outlook.WAITS),
    "JobArrayTaskLimit": ("its job array runs as many tasks at once as it may", Outlook.WAITS),
    "BurstBufferResources": ("waiting for room in a burst buffer pool", Outlook.WAITS),
    "BurstBufferStageIn": ("its burst buffer is being staged in", Outlook.WAITS),
    "FedJobLock": ("waiting for the federation's clusters to agree on it", Outlook.WAITS),
    "SchedDefer": (
        "the scheduler defers immediate allocations; waiting for its next pass",
        Outlook.WAITS,
    ),
    "PowerNotAvail": ("waiting for enough power to be available", Outlook.WAITS),
    "PowerReserved": ("waiting: the power it needs is reserved", Outlook.WAITS),
    "MaxPoweredUpNodes": (
        "waiting: as many nodes are powered up as the cluster allows",
        Outlook.WAITS,
    ),
    "BlockMaxError": ("waiting for a block of nodes (the block is in error)", Outlook.WAITS),
    "BlockFreeAction": ("waiting for a block of nodes to be freed", Outlook.WAITS),
    "TimeLimit": ("requeued after its previous run reached its time limit", Outlook.WAITS),
    "NonZeroExitCode": ("requeued after its previous run failed", Outlook.WAITS),
    "InactiveLimit": ("requeued after reaching the cluster's inactivity limit", Outlook.WAITS),
    "OutOfMemory": (
        "requeued after its previous run ran out of memory; if it fails again, launch with "
        "more memory",
        Outlook.WAITS,
    ),
    "AccountingPolicy": (
        "a limit of your account or QOS holds it; it starts when your usage allows",
        Outlook.WAITS,
    ),
    "AssociationJobLimit": ("your account runs as many jobs as it may at once", Outlook.WAITS),
    "AssociationResourceLimit": (
        "your account uses all the resources it may at once",
        Outlook.WAITS,
    ),
    "QOSJobLimit": ("your QOS runs as many jobs as it may at once", Outlook.WAITS),
    "QOSResourceLimit": ("your QOS uses all the resources it may at once", Outlook.WAITS),
    "QOSUsageThreshold": (
        "your QOS has used its share of the cluster for now; it starts as that usage decays",
        Outlook.WAITS,
    ),
    # Nothing changes these but a person.
    "PartitionDown": (
        f"the partition is down, {_WONT}: end it and launch on another partition, or "
        "ask your cluster admin to bring the partition back up",
        Outlook.BLOCKED,
    ),
    "PartitionInactive": (
        f"the partition is inactive, {_WONT}: end it and launch on another partition, or {_ADMIN}",
        Outlook.BLOCKED,
    ),
    "PartitionNodeLimit": (
        f"the partition's node limits exclude it, or its nodes are down or drained, {_WONT}: "
        f"end it and launch on another partition, or {_ADMIN}",
        Outlook.BLOCKED,
    ),
    "FrontEndDown": (f"the cluster's front-end node is down, {_WONT}: {_ADMIN}", Outlook.BLOCKED),
    "SystemFailure": (
        f"a failure of Slurm, a file system or the network holds it, {_WONT}: {_ADMIN}",
        Outlook.BLOCKED,
    ),
    "JobHeldAdmin": (
        f"held by an administrator, {_WONT}: {_ADMIN} to release it, or end it",
        Outlook.BLOCKED,
    ),
    "JobHeldUser": (
        f"held by you or your account's coordinator, {_WONT}: release it with "
        "`scontrol release` and its job id, or end it",
        Outlook.BLOCKED,
    ),
    "JobHoldMaxRequeue": (
        f"held after being requeued too many times, {_WONT}: end it and launch again; if that "
        f"happens again, {_ADMIN}",
        Outlook.BLOCKED,
    ),
    "JobLaunchFailure": (
        f"Slurm could not launch it on its node (a file system or node problem), {_WONT}: end "
        f"it and launch again; if that happens again, {_ADMIN}",
        Outlook.BLOCKED,
    ),
    "launch failed requeued held": (
        f"the node failed to start it and it was held, {_WONT}: end it and launch again; if "
        f"that happens again, {_ADMIN}",
        Outlook.BLOCKED,
    ),
    "BurstBufferOperation": (
        f"a burst buffer operation failed, {_WONT}: end it, or {_ADMIN}",
        Outlook.BLOCKED,
    ),
    "AssociationTimeLimit": (
        f"your account has used up its time allowance, {_WONT}: {_ADMIN} to raise or reset it",
        Outlook.BLOCKED,
    ),
    "QOSTimeLimit": (
        f"your QOS has used up its time allowance, {_WONT}: {_ADMIN} to raise or reset it",
        Outlook.BLOCKED,
    ),
    # The request as it stands can never run: it has to be launched again, differently.
    "PartitionConfig": (
        f"it asks for more than the partition allows or any of its nodes has (CPUs, memory, "
        f"GPUs or time), {_NEVER}: end it and launch with less, or on another partition",
        Outlook.NEVER,
    ),
    "PartitionTimeLimit": (
        f"its time limit is longer than the partition allows, {_NEVER}: end it and launch "
        "with a shorter time limit, or on another partition",
        Outlook.NEVER,
    ),
    "BadConstraints": (
        f"no node can meet what it asks for, {_NEVER}: end it and launch with fewer CPUs, "
        "less memory or fewer GPUs, or on another partition",
        Outlook.NEVER,
    ),
    "MaxMemPerLimit": (
        f"it asks for more memory per CPU or per node than allowed, {_NEVER}: end it and launch "
        "with less memory",
        Outlook.NEVER,
    ),
    "InvalidAccount": (
        f"its account is not valid for you, {_NEVER}: end it and launch with an account you "
        "belong to (`sacctmgr show association user=$USER` lists them), or none",
        Outlook.NEVER,
    ),
    "AccountNotAllowed": (
        f"the partition does not take jobs of its account, {_NEVER}: end it and launch on "
        "another partition or with another account",
        Outlook.NEVER,
    ),
    "InvalidQOS": (
        f"its QOS is not valid for your account or the partition, {_NEVER}: end it and launch "
        f"on another partition, or {_ADMIN} which QOS you may use",
        Outlook.NEVER,
    ),
    "QOSNotAllowed": (
        f"your account or the partition does not allow its QOS, {_NEVER}: end it and launch on "
        f"another partition, or {_ADMIN} which QOS you may use",
        Outlook.NEVER,
    ),
    "DependencyNeverSatisfied": (
        f"the job it depends on ended in a way that never satisfies the dependency, {_NEVER}: "
        "end it and launch again",
        Outlook.NEVER,
    ),
    "ReservationDeleted": (
        f"the reservation it asked for no longer exists, {_NEVER}: end it and launch again",
        Outlook.NEVER,
    ),
    "DeadLine": (f"it can no longer meet its deadline, {_NEVER}: end it", Outlook.NEVER),
}

# The limit families: QOS|Assoc, then Grp|Max|Min, a resource, maybe minutes, maybe per what;
# and the QOS's per-account and per-user limits, `Max<resource>[RunMins]Per(Account|User)`.
_FAMILY = re.compile(
    r"(?P<owner>QOS|Assoc)(?P<kind>Grp|Max|Min)(?P<resource>[A-Za-z]+?)"
    r"(?P<minutes>Minutes|RunMinutes)?(?:Per(?P<per>Job|Node|User))?"
    r"(?:Limit|NotSatisfied)?"
)
_QOS_PER = re.compile(r"Max(?P<resource>[A-Za-z]+?)(?P<minutes>RunMins)?Per(?P<per>Account|User)")

# The resources as the families spell them: how a person says them, their use over time, and
# the change to the request that asks for less ("" where a desktop's options have none).
_RESOURCES = {
    "Cpu": ("CPUs", "CPU-minutes", "fewer CPUs"),
    "CPU": ("CPUs", "CPU-minutes", "fewer CPUs"),
    "Mem": ("memory", "memory-minutes", "less memory"),
    "Memory": ("memory", "memory-minutes", "less memory"),
    "Node": ("nodes", "node-minutes", ""),
    "GRES": ("GPUs (generic resources)", "GPU-minutes", "fewer GPUs"),
    "BB": ("burst buffer", "burst-buffer-minutes", ""),
    "Billing": ("billing units", "billing-minutes", "fewer CPUs, less memory or fewer GPUs"),
    "Energy": ("energy", "energy-minutes", ""),
    "License": ("licenses", "license-minutes", ""),
    "Unknown": ("other trackable resources", "trackable-resource-minutes", ""),
    "Wall": ("wall time", "wall time", "a shorter time limit"),
    "WallDuration": ("wall time", "wall time", "a shorter time limit"),
}
# Job counts: running at once, or running and queued.
_JOBS = {
    "Job": "running",
    "Jobs": "running",
    "SubmitJob": "running or queued",
    "SubmitJobs": "running or queued",
}


def _family(code: str) -> Reason | None:
    """A limit family's code in words, from its parts; None for any other code."""
    qos_per = _QOS_PER.fullmatch(code)
    match = qos_per or _FAMILY.fullmatch(code)
    if match is None:
        return None
    parts = match.groupdict()
    name = parts["resource"]
    owner = "your QOS" if qos_per or parts["owner"] == "QOS" else "your account"
    # Grp: the owner's users together; Max without "per": per user; PerAccount: the QOS's.
    scope = parts["per"] or ("Grp" if not qos_per and parts["kind"] == "Grp" else "User")
    if name in _JOBS:
        return Reason(code, _jobs_words(owner, scope, _JOBS[name]), Outlook.WAITS)
    if name not in _RESOURCES:
        return None
    kind = "Max" if qos_per else parts["kind"]
    return _resource_limit(code, owner, kind, scope, parts["minutes"] or "", _RESOURCES[name])


def _jobs_words(owner: str, scope: str, counted: str) -> str:
    """A limit on the number of jobs: it starts once one of them ends."""
    if scope == "Grp":
        return (
            f"{owner}'s users together have as many {counted} jobs as it allows: it starts once "
            "one of them ends"
        )
    if scope == "Account":
        return (
            f"your account has as many {counted} jobs as {owner} allows per account: it starts "
            "once one of them ends"
        )
    return (
        f"you have as many {counted} jobs as {owner} allows per user: one of your jobs must "
        "end first"
    )


def _resource_limit(
    code: str, owner: str, kind: str, scope: str, minutes: str, words: tuple[str, str, str]
) -> Reason:
    """A limit on a resource, or on its use over time (minutes): per job or node, the request
    itself is too big; Grp minutes (past, present and future use) are an allowance used up;
    the rest are shared and free up as jobs end."""
    resource, over_time, less = words
    what = over_time if minutes else resource
    if kind == "Min":
        return Reason(
            code,
            f"{owner} sets a minimum of {what} per job and it asks for less, {_NEVER}: end it "
            "and launch asking for more",
            Outlook.NEVER,
        )
    if scope in ("Job", "Node"):
        change = "fewer CPUs or a shorter time limit" if minutes and less else less
        todo = f"launch with {change}" if change else f"{_ADMIN} which limits apply"
        if owner == "your QOS":  # another QOS of the user's may allow it (the form lists them)
            todo += ", or with another QOS"
        return Reason(
            code,
            f"it asks for more {what} than {owner} allows per {scope.lower()}, {_NEVER}: end "
            f"it and {todo}",
            Outlook.NEVER,
        )
    if scope == "Grp" and minutes == "Minutes":
        return Reason(
            code,
            f"{owner} has used up its allowance of {what}, {_WONT}: {_ADMIN} to raise or reset it",
            Outlook.BLOCKED,
        )
    whose, then = {
        "Grp": ("all its users' jobs", "it starts as jobs end"),
        "Account": ("your account's jobs", "it starts as jobs end"),
    }.get(scope, ("your jobs", "one of your jobs must end first"))
    sooner = "; a shorter time limit may let it start sooner" if minutes else ""
    return Reason(
        code,
        f"{owner} limits the {what} {whose} may use at once, and all of it is in use: "
        f"{then}{sooner}",
        Outlook.WAITS,
    )


def reason(code: str) -> Reason:
    """A squeue reason code in words. Codes Slurm may add later (or a site's own) are shown as
    Slurm says them, taken to wait."""
    # 22.05 appends the nodes to some codes: "ReqNodeNotAvail, UnavailableNodes:dcv-node-1".
    head = code.split(",", 1)[0].strip() if code.startswith("ReqNodeNotAvail") else code
    if head in _ONE_BY_ONE:
        words, outlook = _ONE_BY_ONE[head]
        return Reason(code, words, outlook)
    return _family(head) or Reason(code, f"waiting ({code})", Outlook.WAITS)
