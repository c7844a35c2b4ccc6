"""What a user asks for when launching a desktop, validated before anything reaches Slurm.

Every field is checked against a strict pattern; the error names the field and says what is
allowed. Values that pass can only be passed to `sbatch` as `--option=value` argv items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..access.instructions import ROUTES

ENGINES = ("novnc", "dcv")
# The examples a form's hint gives, and an error repeats (ui/launcher.py).
TIME_EXAMPLES = "30 (minutes), 2:00:00 or 1-00:00:00"
MEMORY_EXAMPLES = "8G or 512M"
# The text options None stands for (Slurm's or the user's default), which empty text sets.
OPTIONAL_TEXT = ("partition", "memory", "account", "qos", "reservation", "constraint", "gpu_type")

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_MEMORY = re.compile(r"[1-9][0-9]{0,8}[KMGT]?")
_GEOMETRY = re.compile(r"([1-9][0-9]{2,4})x([1-9][0-9]{2,4})")
# Slurm's --time forms: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S.
_TIME = re.compile(
    r"(?:(?P<days>[0-9]{1,3})-(?P<dh>[0-9]{1,2})(?::(?P<dm>[0-9]{1,2})(?::(?P<ds>[0-9]{1,2}))?)?"
    r"|(?P<h>[0-9]{1,4}):(?P<m>[0-9]{1,2}):(?P<s>[0-9]{1,2})"
    r"|(?P<mm>[0-9]{1,6})(?::(?P<ms>[0-9]{1,2}))?)"
)


class InvalidRequest(ValueError):
    """A launch option has a value Slurm or the engine would not accept. The message names the
    option as code spells it (`time: …`), or by `label` as a form labels it (`named(label)`)."""

    def __init__(self, field: str, value: object, allowed: str, *, label: str = "") -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(self.named(label or field))

    def named(self, name: str) -> str:
        """The message with `name` for the option (a form's label: "Time limit: …")."""
        return f"{name}: {self.value!r} is not valid; {self.allowed}"


def time_limit_seconds(value: str) -> int:
    """Seconds in a Slurm time limit string; raises InvalidRequest for anything else."""
    match = _TIME.fullmatch(value)
    if not match:
        raise InvalidRequest(
            "time",
            value,
            f"use a Slurm time limit such as {TIME_EXAMPLES}",
        )
    g = {k: int(v) for k, v in match.groupdict().items() if v is not None}
    days = g.get("days", 0)
    hours = g.get("dh", g.get("h", 0))
    minutes = g.get("dm", g.get("m", g.get("mm", 0)))
    seconds = g.get("ds", g.get("s", g.get("ms", 0)))
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0:
        raise InvalidRequest("time", value, "the time limit must be longer than zero")
    return total


_MEMORY_UNITS = {"K": 1, "M": 1024, "G": 1024**2, "T": 1024**3}


def memory_kib(value: str) -> int:
    """KiB in a Slurm memory size (a number of megabytes, or with a K, M, G or T suffix);
    raises InvalidRequest for anything else."""
    if not _MEMORY.fullmatch(value):
        raise InvalidRequest(
            "memory", value, f"use a size such as {MEMORY_EXAMPLES} (a number alone is megabytes)"
        )
    unit = value[-1] if value[-1] in _MEMORY_UNITS else "M"
    return int(value.rstrip("KMGT")) * _MEMORY_UNITS[unit]


def slurm_name(value: object) -> bool:
    """Whether `value` is a name Slurm may take as one argv item (partition, QOS, feature …)."""
    return isinstance(value, str) and bool(_NAME.fullmatch(value))


def _check_name(field: str, value: str | None) -> None:
    if value is not None and not slurm_name(value):
        raise InvalidRequest(
            field,
            value,
            "use letters, digits, '.', '_' and '-' only (at most 64, not starting with '-' or '.')",
        )


# A node-feature expression (--constraint): feature names joined by & (all) or | (any), grouped
# with parentheses. Slurm's counts (*2), brackets and commas are left out: a desktop is one node.
_FEATURE = _NAME
_CONSTRAINT_TOKEN = re.compile(r"[A-Za-z0-9_.-]+|[&|()]|.")
CONSTRAINT_LENGTH = 256
CONSTRAINT_EXAMPLES = "avx2, avx2&x11 or (t4|a10g)&cloud"


def constraint_features(value: str) -> tuple[str, ...]:
    """The feature names of a node-feature expression, in order; InvalidRequest (`constraint`)
    for anything but names joined by & or | with balanced parentheses."""

    def refuse(why: str) -> InvalidRequest:
        return InvalidRequest(
            "constraint",
            value,
            f"{why}; use node feature names joined by & (all of them) or | (any of them), "
            f"grouped with parentheses, such as {CONSTRAINT_EXAMPLES}",
        )

    if len(value) > CONSTRAINT_LENGTH:
        raise refuse(f"it is longer than {CONSTRAINT_LENGTH} characters")
    features: list[str] = []
    depth = 0
    expect_term = True  # a name or "(" comes next, else an operator or ")"
    for part in _CONSTRAINT_TOKEN.findall(value):
        if expect_term and part == "(":
            depth += 1
        elif expect_term and _FEATURE.fullmatch(part):
            features.append(part)
            expect_term = False
        elif not expect_term and part in "&|":
            expect_term = True
        elif not expect_term and part == ")" and depth:
            depth -= 1
        elif part not in "&|()" and not _FEATURE.fullmatch(part):
            raise refuse(f"{part!r} is not {'a feature name' if len(part) > 1 else 'allowed'}")
        else:
            raise refuse(f"{part!r} is out of place")
    if expect_term or depth:
        raise refuse("it ends before the expression does")
    return tuple(features)


def _check_count(field: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(field, value, f"use a whole number from {low} to {high}")


@dataclass(frozen=True)
class LaunchRequest:
    """One desktop's resources and engine. `partition=None` means the cluster's default;
    `idle_timeout` is in minutes without a connection before the job ends itself (0: never)."""

    partition: str | None = None
    time: str = "1:00:00"
    cpus: int = 1
    memory: str | None = None
    gpus: int = 0
    account: str | None = None
    engine: str = "novnc"
    geometry: str = "1600x900"
    idle_timeout: int = 0
    access: str = "direct"
    # Slurm's own options (None: the user's or cluster's default): --qos, --reservation,
    # --constraint (node features), the GPUs' type (--gpus=<type>:<n>), --exclusive (a whole node).
    qos: str | None = None
    reservation: str | None = None
    constraint: str | None = None
    gpu_type: str | None = None
    exclusive: bool = False

    def __post_init__(self) -> None:
        _check_name("partition", self.partition)
        _check_name("account", self.account)
        time_limit_seconds(self.time)
        _check_count("cpus", self.cpus, 1, 1024)
        _check_count("gpus", self.gpus, 0, 64)
        _check_count("idle_timeout", self.idle_timeout, 0, 7 * 24 * 60)
        if self.memory is not None:
            memory_kib(self.memory)
        if self.engine not in ENGINES:
            raise InvalidRequest("engine", self.engine, f"choose one of {', '.join(ENGINES)}")
        if self.access not in ROUTES:
            raise InvalidRequest("access", self.access, f"choose one of {', '.join(ROUTES)}")
        if not _GEOMETRY.fullmatch(self.geometry):
            raise InvalidRequest("geometry", self.geometry, "use WIDTHxHEIGHT such as 1600x900")
        _check_name("qos", self.qos)
        _check_name("reservation", self.reservation)
        _check_name("gpu_type", self.gpu_type)
        if self.constraint is not None:
            constraint_features(self.constraint)
        if self.gpu_type is not None and not self.gpus:
            raise InvalidRequest(
                "gpu_type",
                self.gpu_type,
                "a GPU type needs GPUs: ask for 1 GPU or more, or leave the GPU type empty",
            )
        if not isinstance(self.exclusive, bool):
            raise InvalidRequest("exclusive", self.exclusive, "use True or False")

    def describe(self) -> str:
        """The request in words, one option a line, saying what None and 0 stand for; the
        screen size (where either engine's desktop starts; noVNC and DCV's web client can then
        fit it to the window) and, when set, the idle timeout (either engine's job ends itself
        after it)."""
        engine = [("screen size", self.geometry)]
        if self.idle_timeout:
            idle = f"ends after {self.idle_timeout} min without a connection"
            engine.append(("idle timeout", idle))
        return aligned(
            [
                ("partition", self.partition or "the cluster's default"),
                ("time limit", self.time),
                ("CPUs", str(self.cpus)),
                ("memory", self.memory or "the partition's default"),
                ("GPUs", self._gpus_words()),
                ("account", self.account or "your default"),
                ("QOS", self.qos or "your default"),
                ("reservation", self.reservation or "none"),
                ("features", self.constraint or "any node"),
                ("whole node", "yes (exclusive)" if self.exclusive else "no (shared)"),
                ("engine", self.engine),
                *engine,
                ("access", self.access),
            ]
        )

    def _gpus_words(self) -> str:
        if not self.gpus:
            return "none"
        return f"{self.gpus} of type {self.gpu_type}" if self.gpu_type else str(self.gpus)

    @property
    def gpus_option(self) -> str:
        """sbatch's --gpus value: the count, after the type if one is asked for ("t4:1")."""
        return f"{self.gpu_type}:{self.gpus}" if self.gpu_type else str(self.gpus)


def aligned(rows: list[tuple[str, str]]) -> str:
    """Name-value rows as lines, the values lined up."""
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
