"""The site's bounds on what users may ask for: `c.DesktopSettings.max_time = "8:00:00"`.

Pure and in one place: a frozen `Bounds`, built from the settings (`DesktopSettings.bounds()`),
checks a valid `LaunchRequest`, or one field of the launcher form, and raises `InvalidRequest`
naming the field, the bound and the setting that sets it. `DesktopSettings.request()` applies
it, so `Desktop()`, `launch()` and `dcv-desktop` all do; the widget applies it to each edit of
its form and again when launching. How many desktops a user may have at once (`max_desktops`)
needs the queue: the manager counts them on its own thread, when submitting (manager.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..access.instructions import ROUTES
from .request import (
    ENGINES,
    InvalidRequest,
    LaunchRequest,
    aligned,
    constraint_features,
    memory_kib,
    slurm_name,
    time_limit_seconds,
)

# The launch options a bound can refuse.
BOUNDED = (
    "time",
    "cpus",
    "gpus",
    "memory",
    "engine",
    "access",
    "qos",
    "reservation",
    "constraint",
    "gpu_type",
    "exclusive",
)
# Bounds that list Slurm names (an empty list: any Slurm accepts), and the option each bounds.
_NAME_LISTS = {
    "allowed_qos": "qos",
    "allowed_reservations": "reservation",
    "allowed_features": "constraint",
    "allowed_gpu_types": "gpu_type",
}


def setting(name: str) -> str:
    """How an admin writes the setting, for messages: c.DesktopSettings.max_time."""
    return f"c.DesktopSettings.{name}"


def _at_most(field: str, value: object, bound: object, name: str) -> InvalidRequest:
    return InvalidRequest(field, value, f"the site allows at most {bound} ({setting(name)})")


def _only(field: str, value: object, allowed: tuple[str, ...], name: str) -> InvalidRequest:
    return InvalidRequest(
        field, value, f"the site allows only {', '.join(allowed)} ({setting(name)})"
    )


@dataclass(frozen=True)
class Bounds:
    """The most a user may ask for; an empty text, 0 or an empty tuple means no bound.

    A request that leaves `memory` unset gets the partition's default, which `max_memory` does
    not bound (the widget cannot know it)."""

    max_time: str = ""
    max_cpus: int = 0
    max_gpus: int = 0
    max_memory: str = ""
    allowed_engines: tuple[str, ...] = ()
    allowed_routes: tuple[str, ...] = ()
    allowed_qos: tuple[str, ...] = ()
    allowed_reservations: tuple[str, ...] = ()
    allowed_features: tuple[str, ...] = ()
    allowed_gpu_types: tuple[str, ...] = ()
    allow_exclusive: bool = False

    def __post_init__(self) -> None:
        """The bounds themselves are checked: a typo in the site's file is named there."""
        if self.max_time:
            try:
                time_limit_seconds(self.max_time)
            except InvalidRequest:
                raise InvalidRequest(
                    "max_time",
                    self.max_time,
                    f"use a Slurm time limit such as 8:00:00 or 1-00:00:00 ({setting('max_time')})",
                ) from None
        if self.max_memory:
            try:
                memory_kib(self.max_memory)
            except InvalidRequest:
                raise InvalidRequest(
                    "max_memory",
                    self.max_memory,
                    f"use a size such as 32G or 64000 (megabytes) ({setting('max_memory')})",
                ) from None
        for name in ("max_cpus", "max_gpus"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidRequest(
                    name, value, f"use a whole number, 0 for no bound ({setting(name)})"
                )
        for name, known in (("allowed_engines", ENGINES), ("allowed_routes", ROUTES)):
            for value in getattr(self, name):
                if value not in known:
                    raise InvalidRequest(
                        name, value, f"list some of {', '.join(known)} ({setting(name)})"
                    )
        for name in _NAME_LISTS:
            for value in getattr(self, name):
                if not slurm_name(value):
                    raise InvalidRequest(
                        name,
                        value,
                        f"list Slurm names: letters, digits, '.', '_' and '-' ({setting(name)})",
                    )

    @property
    def engines(self) -> tuple[str, ...]:
        """The engines a user may choose, in the usual order."""
        return tuple(e for e in ENGINES if not self.allowed_engines or e in self.allowed_engines)

    @property
    def routes(self) -> tuple[str, ...]:
        """The access routes a user may choose, in the usual order."""
        return tuple(r for r in ROUTES if not self.allowed_routes or r in self.allowed_routes)

    def describe(self) -> str:
        """The bounds in words, one a line: "no limit" where the field's "", 0 or () says so
        (a repr's `max_cpus=0` reads as "no CPUs")."""

        def most(bound: object) -> str:
            return f"at most {bound}" if bound else "no limit"

        def only(allowed: tuple[str, ...], everything: tuple[str, ...]) -> str:
            return f"only {', '.join(allowed)}" if allowed else f"any ({', '.join(everything)})"

        return aligned(
            [
                ("time limit", most(self.max_time)),
                ("CPUs", most(self.max_cpus)),
                ("GPUs", most(self.max_gpus)),
                ("memory", most(self.max_memory)),
                ("engines", only(self.allowed_engines, ENGINES)),
                ("access routes", only(self.allowed_routes, ROUTES)),
                ("QOS", only(self.allowed_qos, ("those you have",))),
                ("reservations", only(self.allowed_reservations, ("those you may use",))),
                ("node features", only(self.allowed_features, ("the nodes have",))),
                ("GPU types", only(self.allowed_gpu_types, ("the nodes have",))),
                ("whole nodes", "allowed" if self.allow_exclusive else "not allowed (shared)"),
            ]
        )

    def check(self, request: LaunchRequest) -> None:
        """Raise InvalidRequest for the first option of `request` out of the site's bounds."""
        for field in BOUNDED:
            self.check_field(field, getattr(request, field))

    def check_field(self, field: str, value: Any) -> None:
        """Raise InvalidRequest if one launch option (valid as a LaunchRequest field) is out of
        the site's bounds; options without a bound always pass."""
        if field == "time" and self.max_time:
            if time_limit_seconds(value) > time_limit_seconds(self.max_time):
                raise _at_most(field, value, self.max_time, "max_time")
        elif field == "cpus" and self.max_cpus and value > self.max_cpus:
            raise _at_most(field, value, self.max_cpus, "max_cpus")
        elif field == "gpus" and self.max_gpus and value > self.max_gpus:
            raise _at_most(field, value, self.max_gpus, "max_gpus")
        elif field == "memory" and self.max_memory and value is not None:
            if memory_kib(value) > memory_kib(self.max_memory):
                raise _at_most(field, value, self.max_memory, "max_memory")
        elif field == "engine" and value not in self.engines:
            raise _only(field, value, self.engines, "allowed_engines")
        elif field == "access" and value not in self.routes:
            raise _only(field, value, self.routes, "allowed_routes")
        elif field in ("qos", "reservation", "gpu_type") and value is not None:
            name = next(n for n, f in _NAME_LISTS.items() if f == field)
            allowed = getattr(self, name)
            if allowed and value not in allowed:
                raise _only(field, value, allowed, name)
        elif field == "constraint" and value is not None and self.allowed_features:
            for feature in constraint_features(value):
                if feature not in self.allowed_features:
                    raise InvalidRequest(
                        field,
                        value,
                        f"the site allows only the node features "
                        f"{', '.join(self.allowed_features)}, not {feature!r} "
                        f"({setting('allowed_features')})",
                    )
        elif field == "exclusive" and value and not self.allow_exclusive:
            raise InvalidRequest(
                field,
                value,
                "the site does not allow a whole node per desktop; desktops share nodes "
                f"({setting('allow_exclusive')})",
            )

    def hint(self, field: str) -> str:
        """The bound on a typed field, for the launcher's hint; "" if none."""
        bound = {
            "time": self.max_time,
            "cpus": self.max_cpus,
            "gpus": self.max_gpus,
            "memory": self.max_memory,
        }.get(field)
        return f"at most {bound}" if bound else ""


UNBOUNDED = Bounds()


class DesktopLimitReached(RuntimeError):
    """The user already has as many live desktops as the site allows (max_desktops)."""

    def __init__(self, count: int, limit: int) -> None:
        self.count = count
        self.limit = limit
        desktops = "desktop" if count == 1 else "desktops"
        super().__init__(
            f"you already have {count} {desktops} running or queued; the site allows {limit} "
            f"at once ({setting('max_desktops')}): end one first"
        )
