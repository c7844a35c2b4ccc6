"""Slurm, through its command-line tools: one class wraps the CLI, pure functions parse it.

Output is requested with explicit field lists and the ASCII unit separator (0x1F) between
fields, a character no job name, reason or node list contains; free text (the job comment) comes
last. Parsing never depends on column widths or on the JSON schema of one Slurm release.

squeue prints times as epoch seconds (SLURM_TIME_FORMAT=%s): no time zone of the cluster to
guess. They are on the cluster's clock; `ClusterClock` moves them onto this machine's, which
the kernel compares them with (and the browser, whose counters tick from them).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, replace

from ..transport.base import CommandNotFound, CommandResult, Transport, TransportError
from .request import InvalidRequest, LaunchRequest, slurm_name, time_limit_seconds
from .slurm_options import (
    Associations,
    Reservation,
    SlurmChoices,
    parse_associations,
    parse_reservations,
    refusal_words,
)

log = logging.getLogger(__name__)

JOB_NAME = "dcv-widget"
SEP = "\x1f"

# Job id, state, reason, nodes, time left, partition, submit, start and end time, comment.
_SQUEUE_FIELDS = ("%i", "%T", "%r", "%N", "%L", "%P", "%V", "%S", "%e", "%k")
# squeue then prints %V, %S and %e as epoch seconds, whatever the cluster's time zone.
_SQUEUE_ENV = {"SLURM_TIME_FORMAT": "%s"}
# A new measure of the cluster's clock replaces the one in use only when further off than this:
# one measure is good to a second plus half the command's round trip.
CLOCK_TOLERANCE = 2.0
# One line per partition, node state and node size (sinfo --exact groups a partition's nodes by
# state and by equal sizes): the partition, whether it is up, its time limit, the nodes' compact
# state with its flags (idle~ is powered down), how many nodes, their CPUs allocated/idle/other/
# total, each node's CPUs, memory (MB) and generic resources ("gpu:a100:4(S:0-1),mps:100"), and
# their features ("avx2,x11"; "(null)" for none): the launcher suggests them.
_SINFO_FIELDS = ("%P", "%a", "%l", "%t", "%D", "%C", "%c", "%m", "%G", "%f")
_SACCT_FIELDS = ("JobIDRaw", "State", "NodeList")
# The partition overview's fields: the job's user, then exactly `jobs()`'s (comment last).
_PARTITION_FIELDS = ("%u", *_SQUEUE_FIELDS)
# The states of a desktop that is on its partition, or about to be or just leaving it.
LIVE_STATES = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING")
_PARTITION_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
# sacct says this (and exits non-zero) where the cluster runs without slurmdbd.
_NO_ACCOUNTING = "accounting storage is disabled"


class SlurmError(Exception):
    """Slurm refused or failed a request; the message says what to do."""


class SlurmUnavailable(SlurmError):
    """The controller did not answer; the job may well be fine."""


@dataclass(frozen=True)
class JobStatus:
    """One line of squeue (or sacct): a job as the scheduler sees it now.

    The times are Slurm's own (epoch seconds, None where Slurm has none; sacct gives none).
    `started_at` is when the job started on its node (for a cloud node, Slurm moves it to when
    the node is up), None while it is pending; for a job cancelled before it started, Slurm sets
    it to the moment of the cancel. `expected_start` is only for a pending job: the scheduler's
    estimate of its start, None when it has none (an estimate, which moves as the queue does).
    `end_time` is when a started job ended, or will reach its time limit; None while pending
    and without a limit.
    """

    job_id: str
    state: str
    reason: str
    nodes: str
    time_left: str
    partition: str
    comment: str
    submitted_at: float | None = None
    started_at: float | None = None
    expected_start: float | None = None
    end_time: float | None = None


@dataclass(frozen=True)
class JobTag:
    """What a dcv_widget job's comment says: its engine, the launch that submitted it, the
    notebook it came from (a hash; empty for scripts) and its access route, for re-attaching
    after a restart with the same card."""

    engine: str
    launch_id: str
    origin: str = ""
    access: str = "direct"


def job_comment(tag: JobTag) -> str:
    """The comment that marks a job as a dcv_widget desktop:
    `dcv-widget:<engine>:<launch>[:<origin>]`, or with a route other than direct
    `dcv-widget:<engine>:<launch>:<origin, maybe empty>:<access>`."""
    parts = [JOB_NAME, tag.engine, tag.launch_id]
    if tag.access != "direct":
        return ":".join([*parts, tag.origin, tag.access])
    return ":".join([*parts, *([tag.origin] if tag.origin else [])])


def parse_job_comment(comment: str) -> JobTag | None:
    """The tag in a dcv_widget job comment; None for anything else."""
    parts = comment.split(":")
    if len(parts) not in (3, 4, 5) or parts[0] != JOB_NAME or not all(parts[1:3]):
        return None
    if len(parts) == 4 and not parts[3]:
        return None
    if len(parts) == 5 and not parts[4]:
        return None
    return JobTag(*parts[1:])


@dataclass(frozen=True)
class UserDesktop:
    """A dcv_widget desktop job of any user on a partition, as the class overview lists it."""

    user: str
    job: JobStatus
    tag: JobTag


@dataclass(frozen=True)
class Partition:
    """A partition as a desktop sees it: whether one starts now, after a node boots, or not at
    all. CPU counts are summed over the partition's nodes; a desktop needs them on one node."""

    name: str
    state: str  # the partition's own: up, down (jobs wait), drain or inact (jobs refused)
    default: bool
    time_limit: str
    cpus_idle: int  # idle, on nodes that are up and powered on: a desktop starts now
    cpus_asleep: int  # idle, on powered-down (cloud) nodes: a desktop starts after a boot
    cpus_total: int
    nodes_total: int
    nodes_unusable: int  # down, drained, failed, reserved or not responding
    # The biggest node's CPUs, memory (MB) and GPUs, over every node whatever its state: what a
    # desktop may ask for at most (it runs on one node). None: not known (no node, or older data).
    node_cpus: int | None = None
    node_memory_mb: int | None = None
    node_gpus: int | None = None
    # Every node's features and GPU types (GRES types of "gpu"), sorted: what the launcher offers.
    features: tuple[str, ...] = ()
    gpu_types: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        return self.state == "up"


# Node states (sinfo's compact %t, flags stripped) that take no new job. Not "resv": Slurm says
# it of an idle node that any reservation covers, even one core of it (a class's), and jobs
# outside the reservation still run on the rest; Slurm decides at submission.
_UNUSABLE_NODE_STATES = frozenset(
    {"down", "drain", "drng", "fail", "failg", "maint", "inval", "unk", "futr", "npc"}
)
# Flags after a compact state: not responding; in a maintenance reservation.
_UNUSABLE_FLAGS = frozenset("*$")
# Powered down, powering up, powering down: a job waits for the node to boot.
_ASLEEP_FLAGS = frozenset("~#%")
_STATE_FLAGS = "*~#!%$@^-"


def parse_sbatch(text: str) -> str:
    """The job id from `sbatch --parsable` ("123" or "123;cluster")."""
    job_id = text.strip().split(";", 1)[0]
    if not job_id.isdigit():
        raise SlurmError(f"sbatch answered {text.strip()!r} instead of a job id")
    return job_id


def _epoch(text: str) -> float | None:
    """A time squeue printed under `_SQUEUE_ENV` ("N/A", "Unknown" or "NONE" where it has none)."""
    return float(text) if text.isdigit() else None


def parse_squeue(text: str) -> dict[str, JobStatus]:
    """Jobs by id from squeue output in the `_SQUEUE_FIELDS` format, times as epoch seconds."""
    jobs: dict[str, JobStatus] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(SEP, len(_SQUEUE_FIELDS) - 1)
        if len(parts) != len(_SQUEUE_FIELDS):
            raise SlurmError(f"unexpected squeue line {line!r}")
        job_id, state, reason, nodes, time_left, partition, submit, start, end, comment = parts
        # A pending job's StartTime is the scheduler's estimate, and its EndTime follows it.
        pending = state == "PENDING"
        jobs[job_id] = JobStatus(
            job_id,
            state,
            reason,
            nodes,
            time_left,
            partition,
            comment,
            submitted_at=_epoch(submit),
            started_at=None if pending else _epoch(start),
            expected_start=_epoch(start) if pending else None,
            end_time=None if pending else _epoch(end),
        )
    return jobs


def cluster_now(jobs: dict[str, JobStatus]) -> float | None:
    """The cluster's clock when squeue answered, read from the answer itself: for a running job
    squeue prints its EndTime and the time left, which it works out from its own clock, so
    EndTime minus the time left is that clock's "now" (to the second, which it truncates).
    None when no running job has a time limit."""
    for job in jobs.values():
        if job.state != "RUNNING" or job.end_time is None:
            continue
        try:
            return job.end_time - time_limit_seconds(job.time_left)
        except InvalidRequest:  # UNLIMITED, NOT_SET, or no time left ("0:00")
            continue
    return None


def shifted(job: JobStatus, offset: float) -> JobStatus:
    """The job with its times moved by `offset` seconds (from the cluster's clock to ours)."""
    if not offset:
        return job

    def move(t: float | None) -> float | None:
        return None if t is None else t - offset

    return replace(
        job,
        submitted_at=move(job.submitted_at),
        started_at=move(job.started_at),
        expected_start=move(job.expected_start),
        end_time=move(job.end_time),
    )


class ClusterClock:
    """How far the cluster's clock runs ahead of this machine's, measured from squeue's answers.

    Slurm requires the cluster's own clocks to agree, but the kernel may run elsewhere (on a
    laptop, over SSH) on a clock that does not: its "running for" and "time left" would be off
    by the difference. Each squeue answer with a running job measures it (see `cluster_now`);
    the offset in use changes only when a measure is off by more than CLOCK_TOLERANCE, so
    polls do not move times that did not move (nor rebuild cards). Until a measure, 0.
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def measure(self, jobs: dict[str, JobStatus], asked: float, answered: float) -> None:
        """Learn from one answer, asked for at `asked` and received at `answered` (our clock)."""
        now = cluster_now(jobs)
        if now is None:
            return
        # squeue's "now" is a whole second: its middle, against the middle of the round trip.
        measured = now + 0.5 - (asked + answered) / 2
        if abs(measured - self.offset) > CLOCK_TOLERANCE:
            # Clocks within the tolerance of each other are taken to agree.
            self.offset = measured if abs(measured) > CLOCK_TOLERANCE else 0.0


def parse_partition_squeue(text: str) -> list[UserDesktop]:
    """Every user's dcv_widget desktops from squeue output in the `_PARTITION_FIELDS` format:
    the user, then a line as `parse_squeue` reads it. Jobs whose comment does not mark them as
    dcv_widget desktops are left out."""
    desktops = []
    for line in text.splitlines():
        if not line.strip():
            continue
        user, sep, rest = line.partition(SEP)
        if not sep or not user:
            raise SlurmError(f"unexpected squeue line {line!r}")
        for job in parse_squeue(rest).values():
            tag = parse_job_comment(job.comment)
            if tag is not None:
                desktops.append(UserDesktop(user, job, tag))
    return desktops


def parse_private_data(text: str) -> frozenset[str]:
    """What slurm.conf's PrivateData hides from ordinary users ("jobs", "usage", …), from
    `scontrol show config` (a line `PrivateData = jobs,usage`; "none" for nothing)."""
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == "PrivateData":
            words = {w.strip().lower() for w in value.split(",")}
            return frozenset(words - {"", "none", "(null)"})
    return frozenset()


def parse_sacct(text: str) -> dict[str, JobStatus]:
    """Final states by job id from `sacct --parsable2` in the `_SACCT_FIELDS` format.

    Only the allocation's own line counts (`123`, not the steps `123.batch`); a state such as
    "CANCELLED by 1001" keeps its first word; a job that never got a node has none ("None
    assigned"), as in squeue.
    """
    jobs: dict[str, JobStatus] = {}
    for line in text.splitlines():
        parts = line.split(SEP)
        if len(parts) != len(_SACCT_FIELDS) or not parts[0].isdigit():
            continue
        job_id, state, nodes = parts
        nodes = "" if nodes == "None assigned" else nodes
        jobs[job_id] = JobStatus(job_id, state.split()[0] if state else "", "", nodes, "", "", "")
    return jobs


# One generic resource of sinfo's %G: name, optional type, count, optional socket binding.
_GRES = re.compile(r"(?P<name>[^:,()]+)(?::(?P<type>[^:,()]+))*?:(?P<count>\d+)(?:\([^)]*\))?")


def gres_gpus(gres: str) -> int:
    """GPUs per node in sinfo's %G ("(null)", "gpu:2", "gpu:a100:4(S:0-1),mps:100")."""
    return sum(int(m["count"]) for m in _GRES.finditer(gres) if m["name"] == "gpu")


def gres_gpu_types(gres: str) -> set[str]:
    """The GPU types in sinfo's %G ("gpu:t4:2,gpu:a10g:1(S:0)": t4 and a10g; "gpu:2": none)."""
    return {m["type"] for m in _GRES.finditer(gres) if m["name"] == "gpu" and m["type"]}


def _features(text: str) -> set[str]:
    """sinfo's %f ("avx2,x11"; "(null)" for none): only names a constraint could name."""
    return {f for f in text.split(",") if slurm_name(f)}


def _most(known: int | None, value: int) -> int:
    return value if known is None else max(known, value)


def parse_sinfo(text: str) -> list[Partition]:
    """Partitions from sinfo output in the `_SINFO_FIELDS` format, in sinfo's order: each
    partition's lines (one per node state and size) summed into one, with the biggest node."""
    partitions: dict[str, Partition] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(SEP)
        if len(parts) != len(_SINFO_FIELDS):
            raise SlurmError(f"unexpected sinfo line {line!r}")
        name, avail, time_limit, node_state, nodes, cpus, node_cpus, memory, gres, features = parts
        try:
            node_count = int(nodes)
            _allocated, idle, _other, total = (int(n) for n in cpus.split("/"))
            # Without --exact, "8+" would be the smallest of unequal nodes; with it, exact.
            size = int(node_cpus.rstrip("+")), int(memory.rstrip("+"))
        except ValueError:
            raise SlurmError(f"unexpected sinfo line {line!r}") from None
        base = node_state.rstrip(_STATE_FLAGS)
        flags = set(node_state[len(base) :])
        unusable = base in _UNUSABLE_NODE_STATES or bool(flags & _UNUSABLE_FLAGS)
        asleep = not unusable and bool(flags & _ASLEEP_FLAGS)
        # A partition without nodes has one line with state n/a and no nodes.
        empty = node_count == 0
        key = name.rstrip("*")
        known = partitions.get(key) or Partition(
            name=key,
            state=avail,
            default=name.endswith("*"),
            time_limit=time_limit,
            cpus_idle=0,
            cpus_asleep=0,
            cpus_total=0,
            nodes_total=0,
            nodes_unusable=0,
        )
        partitions[key] = replace(
            known,
            cpus_idle=known.cpus_idle + (0 if unusable or asleep or empty else idle),
            cpus_asleep=known.cpus_asleep + (idle if asleep else 0),
            cpus_total=known.cpus_total + total,
            nodes_total=known.nodes_total + node_count,
            nodes_unusable=known.nodes_unusable + (node_count if unusable else 0),
        )
        if not empty:
            partitions[key] = replace(
                partitions[key],
                node_cpus=_most(known.node_cpus, size[0]),
                node_memory_mb=_most(known.node_memory_mb, size[1]),
                node_gpus=_most(known.node_gpus, gres_gpus(gres)),
                features=tuple(sorted(set(known.features) | _features(features))),
                gpu_types=tuple(sorted(set(known.gpu_types) | gres_gpu_types(gres))),
            )
    return list(partitions.values())


# The request's options that go to sbatch as they are, when set (None: Slurm's default).
_SBATCH_OPTIONS = (
    ("partition", "--partition"),
    ("account", "--account"),
    ("memory", "--mem"),
    ("qos", "--qos"),
    ("reservation", "--reservation"),
    ("constraint", "--constraint"),
)


def sbatch_argv(request: LaunchRequest, *, output: str, comment: str) -> list[str]:
    """The sbatch command for a validated request; the job script goes to its stdin."""
    argv = [
        "sbatch",
        "--parsable",
        f"--job-name={JOB_NAME}",
        f"--comment={comment}",
        f"--output={output}",
        f"--time={request.time}",
        "--nodes=1",
        "--ntasks=1",
        f"--cpus-per-task={request.cpus}",
    ]
    for field, option in _SBATCH_OPTIONS:
        value = getattr(request, field)
        if value:
            argv.append(f"{option}={value}")
    if request.gpus:
        argv.append(f"--gpus={request.gpus_option}")
    if request.exclusive:
        argv.append("--exclusive")
    return argv


def _first_line(result: CommandResult) -> str:
    text = (result.stderr or result.stdout).strip()
    return text.splitlines()[0] if text else f"exit code {result.returncode}"


def _no_slurm_client(exc: CommandNotFound) -> str:
    """Where Slurm's commands are missing (this machine, or the head node of ssh_host), and
    how to point dcv_widget at a machine that has them."""
    if exc.host:
        return (
            f"the head node {exc.host} (c.DesktopSettings.ssh_host) has no Slurm client "
            f"({exc}). Set ssh_host to a machine of the cluster with Slurm's commands (sbatch, "
            "squeue), or put them on that machine's PATH for commands run over SSH (a login "
            "shell's profile alone may not be read)"
        )
    return (
        f"this machine has no Slurm client ({exc}), and dcv_widget runs Slurm's commands where "
        "JupyterLab runs unless told otherwise. JupyterLab outside the cluster (on your "
        'laptop)? Point dcv_widget at the head node: c.DesktopSettings.ssh_host = "<head '
        'node>" in jupyter_dcv_widget_config.py (a host of your ~/.ssh/config works). On the '
        "head node itself, put Slurm's commands on PATH"
    )


_UNAVAILABLE_HINTS = (
    "Unable to contact slurm controller",
    "Socket timed out",
    "Connection refused",
)


class SlurmBackend:
    """The Slurm commands dcv_widget needs, run through a transport."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.clock = ClusterClock()
        self._user = ""

    def _run(
        self, argv: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> CommandResult:
        try:
            result = self.transport.run(argv, stdin=stdin, env=env)
        except CommandNotFound as exc:
            # Not the controller being away (SlurmUnavailable, retried): no retry can help.
            raise SlurmError(_no_slurm_client(exc)) from exc
        except TransportError as exc:
            raise SlurmUnavailable(str(exc)) from exc
        if not result.ok and any(h in result.stderr for h in _UNAVAILABLE_HINTS):
            raise SlurmUnavailable(
                f"{argv[0]}: the Slurm controller is not answering ({_first_line(result)}); "
                "retrying"
            )
        return result

    def submit(self, request: LaunchRequest, script: str, *, output: str, comment: str) -> str:
        """Submit the desktop job and return its id."""
        # SLURM_UMASK makes slurmstepd create the job's output file private (0600).
        result = self._run(
            sbatch_argv(request, output=output, comment=comment),
            stdin=script,
            env={"SLURM_UMASK": "0077"},
        )
        if not result.ok:
            why = _first_line(result)
            words = refusal_words(why, request)
            raise SlurmError(
                f"Slurm refused the desktop job: {words} (Slurm said: {why})."
                if words
                else f"Slurm refused the desktop job: {why}. "
                "Check the partition, time limit and resources, or ask your cluster admin."
            )
        return parse_sbatch(result.stdout)

    def _squeue(self, argv: list[str]) -> tuple[str, float, float]:
        """squeue's output, with when it was asked for and when it answered (our clock)."""
        asked = time.time()
        result = self._run(argv, env=_SQUEUE_ENV)
        if not result.ok:
            raise SlurmError(f"squeue failed: {_first_line(result)}")
        return result.stdout, asked, time.time()

    def _on_our_clock(
        self, jobs: dict[str, JobStatus], asked: float, answered: float
    ) -> dict[str, JobStatus]:
        self.clock.measure(jobs, asked, answered)
        return {job_id: shifted(job, self.clock.offset) for job_id, job in jobs.items()}

    def jobs(self) -> dict[str, JobStatus]:
        """This user's dcv_widget jobs, pending, running and recently ended: one squeue call.
        Their times are on this machine's clock (see `ClusterClock`)."""
        text, asked, answered = self._squeue(
            [
                "squeue",
                "--me",
                f"--name={JOB_NAME}",
                "--states=all",
                "--noheader",
                f"--format={SEP.join(_SQUEUE_FIELDS)}",
            ]
        )
        return self._on_our_clock(parse_squeue(text), asked, answered)

    def partition_desktops(self, partition: str) -> list[UserDesktop]:
        """Every user's live dcv_widget desktops on `partition`: one squeue call. Slurm shows
        other users' jobs only where PrivateData does not hide them (see `private_data`)."""
        if not _PARTITION_NAME.fullmatch(partition):
            raise SlurmError(f"partition: {partition!r} is not a Slurm partition name")
        text, asked, answered = self._squeue(
            [
                "squeue",
                "--all",
                f"--partition={partition}",
                f"--name={JOB_NAME}",
                f"--states={','.join(LIVE_STATES)}",
                "--noheader",
                f"--format={SEP.join(_PARTITION_FIELDS)}",
            ]
        )
        desktops = parse_partition_squeue(text)
        jobs = self._on_our_clock({d.job.job_id: d.job for d in desktops}, asked, answered)
        return [replace(d, job=jobs[d.job.job_id]) for d in desktops]

    def private_data(self) -> frozenset[str]:
        """What the cluster hides from ordinary users (slurm.conf's PrivateData): with "jobs",
        squeue shows them only their own jobs (operators and administrators see all)."""
        result = self._run(["scontrol", "show", "config"])
        if not result.ok:
            raise SlurmError(f"scontrol show config failed: {_first_line(result)}")
        return parse_private_data(result.stdout)

    def accounting(self, job_ids: list[str]) -> dict[str, JobStatus] | None:
        """How these jobs ended, from sacct; None where the cluster keeps no accounting."""
        result = self._run(
            [
                "sacct",
                "--noheader",
                "--parsable2",
                f"--delimiter={SEP}",
                f"--jobs={','.join(job_ids)}",
                f"--format={','.join(_SACCT_FIELDS)}",
            ]
        )
        if _NO_ACCOUNTING in (result.stderr + result.stdout).lower():
            return None
        if not result.ok:
            raise SlurmError(f"sacct failed: {_first_line(result)}")
        return parse_sacct(result.stdout)

    def cancel(self, job_id: str) -> None:
        """Ask Slurm to end the job (SIGTERM, then SIGKILL after KillWait)."""
        if not job_id.isdigit():
            raise SlurmError(f"job_id: {job_id!r} is not a Slurm job id")
        result = self._run(["scancel", job_id])
        if not result.ok:
            raise SlurmError(f"scancel {job_id} failed: {_first_line(result)}")

    def partitions(self) -> list[Partition]:
        """Every partition: whether it is up, its nodes' states, idle CPUs and biggest node; one
        sinfo call."""
        result = self._run(
            ["sinfo", "--noheader", "--exact", f"--format={SEP.join(_SINFO_FIELDS)}"]
        )
        if not result.ok:
            raise SlurmError(f"sinfo failed: {_first_line(result)}")
        return parse_sinfo(result.stdout)

    def user(self) -> str:
        """The user's name on the cluster side (the transport's), asked once."""
        if not self._user:
            result = self._run(["id", "-un"])
            name = result.stdout.strip()
            if not result.ok or not slurm_name(name):
                raise SlurmError(f"could not tell your user name: {_first_line(result)}")
            self._user = name
        return self._user

    def associations(self) -> Associations | None:
        """The user's default account, accounts and their QOS (sacctmgr, from slurmdbd: no
        slurmctld RPC); None where the cluster keeps no accounting database."""
        result = self._run(
            [
                "sacctmgr",
                "--noheader",
                "--parsable2",
                "show",
                "user",
                "withassoc",
                "where",
                f"user={self.user()}",
                "format=defaultaccount,account,qos,defaultqos",
            ]
        )
        if not result.ok:
            return None
        return parse_associations(result.stdout)

    def choices(self) -> SlurmChoices:
        """The user's associations and reservations, each None where Slurm cannot say (and
        logged): the launcher then takes any name for them. SlurmUnavailable where it did not
        answer: that passes, and the next look asks again."""
        associations: Associations | None = None
        reservations: tuple[Reservation, ...] | None = None
        try:
            associations = self.associations()
            accounts = associations.accounts if associations else None
            reservations = tuple(self.reservations(accounts))
        except SlurmUnavailable:
            raise
        except SlurmError as exc:
            log.warning("dcv_widget: could not list your QOS or reservations: %s", exc)
        return SlurmChoices(associations, reservations)

    def reservations(self, accounts: tuple[str, ...] | None) -> list[Reservation]:
        """The reservations the user (with Slurm `accounts`, None: not known) may use, active or
        to come: one scontrol call (one slurmctld RPC)."""
        asked = time.time()
        result = self._run(["scontrol", "show", "reservation", "--oneliner"], env=_SQUEUE_ENV)
        if not result.ok:
            raise SlurmError(f"scontrol show reservation failed: {_first_line(result)}")
        return parse_reservations(result.stdout, self.user(), accounts, asked)

    def node_address(self, node: str) -> str:
        """The address Slurm reaches `node` at (its NodeAddr), to build URLs the browser opens."""
        result = self._run(["sinfo", "--noheader", "--Node", f"--nodes={node}", "--format=%o"])
        lines = result.stdout.split()
        if not result.ok or not lines:
            raise SlurmError(f"could not find the address of node {node!r}: {_first_line(result)}")
        return lines[0]
