"""What Slurm offers one user beyond the partitions, and its refusals of those options in words.

Pure: text in, values out. The reservations a user may use (`scontrol show reservation
--oneliner`) and their QOS per account (`sacctmgr show associations`) fill the launcher's
choices; sbatch's refusals of a QOS, a reservation, node features or a GPU type become words
naming the option and what to change. slurm.py runs the commands.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .request import LaunchRequest

_NULL = ("", "(null)", "n/a")


@dataclass(frozen=True)
class Reservation:
    """A reservation this user may use, now or later. `accounts`: the accounts it admits, one of
    which a job must use ("" where it admits any account); times are epoch seconds."""

    name: str
    start: float
    end: float
    nodes: str
    accounts: tuple[str, ...] = ()
    cpus: int | None = None  # the CPUs it holds (its TRES), None: not said

    def active(self, now: float) -> bool:
        return self.start <= now


@dataclass(frozen=True)
class Associations:
    """The user's Slurm associations: their default account, each account's QOS and default
    QOS."""

    default_account: str
    qos: dict[str, tuple[str, ...]]
    default_qos: dict[str, str]

    @property
    def accounts(self) -> tuple[str, ...]:
        return tuple(self.qos)

    def qos_of(self, account: str | None) -> tuple[str, ...]:
        """The QOS a job may ask for under `account` (None: the default account)."""
        return self.qos.get(account or self.default_account, ())

    def default_qos_of(self, account: str | None) -> str:
        """The QOS a job gets without --qos under `account` (None: the default account); ""
        where the association sets none (Slurm's own default then)."""
        return self.default_qos.get(account or self.default_account, "")


@dataclass(frozen=True)
class SlurmChoices:
    """What the launcher offers besides partitions; None where Slurm could not say (no
    accounting database, scontrol failed): the form then takes any name."""

    associations: Associations | None = None
    reservations: tuple[Reservation, ...] | None = None


def _fields(line: str) -> dict[str, str]:
    """`Key=Value Key=Value …` of a scontrol --oneliner line; a word without "=" (free text
    with spaces, such as a Comment) belongs to the value before it."""
    found: dict[str, str] = {}
    last = ""
    for word in line.split():
        key, sep, value = word.partition("=")
        if sep and key.isalnum():
            found[key] = value
            last = key
        elif last:
            found[last] += " " + word
    return found


def _names(value: str) -> list[str]:
    return [] if value in _NULL else [v for v in value.split(",") if v]


def _admits(listed: list[str], mine: set[str] | None) -> bool | None:
    """Whether a reservation's Users= or Accounts= list admits one of `mine` (None: not known).
    A list of names each with a leading "-" admits everyone but them."""
    if not listed:
        return True
    if mine is None:
        return None
    if all(name.startswith("-") for name in listed):
        return not mine & {name[1:] for name in listed}
    return bool(mine & set(listed))


def _epoch(value: str) -> float | None:
    """A scontrol time: epoch seconds (SLURM_TIME_FORMAT=%s), else its ISO local time."""
    if value.isdigit():
        return float(value)
    try:
        return time.mktime(time.strptime(value, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def parse_reservations(
    text: str, user: str, accounts: tuple[str, ...] | None, now: float
) -> list[Reservation]:
    """The reservations of `scontrol show reservation --oneliner` that `user` (with Slurm
    `accounts`, None where accounting is not known) may use and that have not ended, in
    start order. As scontrol(1) says: where both Users (or Groups) and Accounts are given, a
    job must match both. Reservations for Unix groups alone are left out (the user's groups
    are not known here)."""
    found = []
    for line in text.splitlines():
        fields = _fields(line)
        name = fields.get("ReservationName", "")
        start, end = _epoch(fields.get("StartTime", "")), _epoch(fields.get("EndTime", ""))
        if not name or start is None or end is None or end <= now:
            continue
        users = _names(fields.get("Users", ""))
        groups = _names(fields.get("Groups", ""))
        listed_accounts = _names(fields.get("Accounts", ""))
        if groups and not users:
            continue
        if not _admits(users, {user}):
            continue
        known = set(accounts) if accounts is not None else None
        if _admits(listed_accounts, known) is False:
            continue
        admitted = tuple(a for a in listed_accounts if not a.startswith("-"))
        if known is not None:
            admitted = tuple(a for a in admitted if a in known)
        tres = dict(t.partition("=")[::2] for t in fields.get("TRES", "").split(","))
        cpus = int(tres["cpu"]) if tres.get("cpu", "").isdigit() else None
        found.append(Reservation(name, start, end, fields.get("Nodes", ""), admitted, cpus))
    return sorted(found, key=lambda r: (r.start, r.name))


def parse_associations(text: str) -> Associations:
    """The user's associations from `sacctmgr --noheader --parsable2 show user withassoc
    format=defaultaccount,account,qos,defaultqos` (a `default|account|qos,qos|default QOS`
    line each; a user with several partitions' associations under an account gets their QOS
    together)."""
    default_account = ""
    qos: dict[str, set[str]] = {}
    default_qos: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 4 or not parts[1]:
            continue
        default_account, account, names, default = parts
        qos.setdefault(account, set()).update(_names(names))
        if default:
            default_qos[account] = default
    return Associations(default_account, {a: tuple(sorted(q)) for a, q in qos.items()}, default_qos)


# sbatch's refusals of the Slurm options (slurm_strerror's words), the option each concerns, and
# what to do about it.
_REFUSALS = (
    (
        "Invalid qos specification",
        "qos",
        "QOS {qos!r} is not one you may use (with this account and partition): choose one of "
        "yours, or leave QOS empty for your default; `sacctmgr show assoc user=$USER "
        "format=account,qos` lists them",
    ),
    (
        "Requested reservation is invalid",
        "reservation",
        "reservation {reservation!r} does not exist, has ended or is not on this partition: "
        "choose one of your reservations, or leave Reservation empty; `scontrol show "
        "reservation` lists them",
    ),
    (
        "Access denied to requested reservation",
        "reservation",
        "reservation {reservation!r} is not open to you (or to the account you chose): choose "
        "another one, or the account the reservation is for",
    ),
    (
        "Requested reservation not usable now",
        "reservation",
        "reservation {reservation!r} cannot take this desktop now (it has not started, or its "
        "nodes are taken): choose another one, or leave Reservation empty",
    ),
    (
        "Invalid feature specification",
        "constraint",
        "no node of the partition has the node features {constraint!r}: choose features the "
        "partition's nodes have (the form suggests them; `sinfo -o '%P %f'` lists them), or "
        "leave Node features empty",
    ),
    (
        "Invalid generic resource (gres) specification",
        "gpu_type",
        "no node of the partition has GPUs of type {gpu_type!r}: choose a type the "
        "partition's nodes have (`sinfo -o '%P %G'`), or leave GPU type empty",
    ),
)


def refusal_words(message: str, request: LaunchRequest) -> str:
    """sbatch's refusal (its error line) in words that name the launch option to change, for
    the refusals of the Slurm options; "" for any other."""
    for words, field, advice in _REFUSALS:
        if words.lower() in message.lower() and getattr(request, field) is not None:
            return advice.format(**{field: getattr(request, field)})
    if "Job violates accounting/QOS policy" in message:
        qos = f"QOS {request.qos!r}" if request.qos else "your QOS"
        return (
            f"a limit of your account or {qos} refuses it (its time limit, size, or how many "
            "jobs you may have): ask for less time or fewer resources, or choose another QOS; "
            "`sacctmgr show qos` lists the limits"
        )
    if "Requested node configuration is not available" in message:
        asked = []
        if request.gpu_type:
            asked.append(f"{request.gpus} GPU(s) of type {request.gpu_type!r}")
        if request.constraint:
            asked.append(f"node features {request.constraint!r}")
        if request.exclusive:
            asked.append("a whole node")
        asked.append(f"{request.cpus} CPU(s)")
        if request.memory:
            asked.append(f"{request.memory} of memory")
        if request.gpus and not request.gpu_type:
            asked.append(f"{request.gpus} GPU(s)")
        return (
            f"no node of the partition has everything asked for together ({', '.join(asked)}): "
            "ask for less, drop a node feature or the GPU type, or choose another partition"
        )
    return ""
