"""The launcher form as data: which fields, their options, and validation of one edit.

The view renders these dicts and sends back raw values; the kernel parses and validates them
with the same rules as every other way in (LaunchRequest, then the site's Bounds), so an error
shows inline, named and explained, before anything is submitted; the selects offer only what the
site allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..desktops.bounds import UNBOUNDED, Bounds
from ..desktops.request import InvalidRequest, LaunchRequest
from ..desktops.slurm import Partition

_ROUTE_LABELS = {
    "jupyter": "through JupyterLab (nothing to run, no port)",
    "direct": "direct: the browser reaches the node",
    "ssh": "SSH tunnel through the head node",
    "ssm": "AWS SSM port forwarding (no inbound port)",
    "ssm-head": "AWS SSM through the head node",
    "tunnel": "tunnel held by this notebook (over ssh_host)",
}


@dataclass(frozen=True)
class _Field:
    name: str
    label: str
    kind: str  # "select" | "text" | "number"
    hint: str = ""


FIELDS = (
    _Field("partition", "Partition", "select"),
    _Field("time", "Time limit", "text", "e.g. 30 (minutes), 2:00:00 or 1-00:00:00"),
    _Field("cpus", "CPUs", "number"),
    _Field("gpus", "GPUs", "number"),
    _Field("memory", "Memory", "text", "e.g. 8G; empty: the partition's default"),
    _Field("engine", "Engine", "select"),
    _Field("access", "Access", "select"),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)
_NUMBERS = {f.name for f in FIELDS if f.kind == "number"}
# Empty text means "the cluster's default" for these.
_OPTIONAL = {"partition", "memory"}


def parse_field(
    name: str, raw: Any, values: dict[str, Any], bounds: Bounds = UNBOUNDED
) -> tuple[Any, str]:
    """(the value to keep, "" or the error) for one edited field, checked with the others and
    against the site's bounds."""
    value: Any = raw
    if name in _NUMBERS:
        try:
            value = int(str(raw).strip())
        except ValueError:
            return raw, f"{name}: {raw!r} is not valid; use a whole number"
    elif name in _OPTIONAL:
        value = str(raw if raw is not None else "").strip() or None
    else:
        value = str(raw).strip()
    try:
        LaunchRequest(**{**values, name: value})
    except InvalidRequest as exc:
        if exc.field == name:
            return value, str(exc)
    try:
        bounds.check_field(name, value)
    except InvalidRequest as exc:
        return value, str(exc)
    return value, ""


def _hint(f: _Field, bounds: Bounds) -> str:
    return "; ".join(h for h in (f.hint, bounds.hint(f.name)) if h)


def _partition_options(current: str | None, partitions: list[Partition]) -> list[dict[str, Any]]:
    options: list[dict[str, Any]] = [{"value": "", "label": "the cluster's default"}]
    for p in partitions:
        state = "up" if p.available else "down"
        default = ", default" if p.default else ""
        label = f"{p.name} ({state}{default}, {p.nodes_idle} of {p.nodes_total} nodes free)"
        options.append({"value": p.name, "label": label})
    if current and current not in {p.name for p in partitions}:
        options.append({"value": current, "label": current})
    return options


def launcher_fields(
    values: dict[str, Any],
    errors: dict[str, str],
    partitions: list[Partition],
    *,
    locked: bool = False,
    bounds: Bounds = UNBOUNDED,
) -> list[dict[str, Any]]:
    """The form's fields with their current values, options (the engines and routes the site
    allows) and errors; typed fields' hints say the site's bound (no typing hints on a locked
    form: nobody types there)."""
    options = {
        "partition": _partition_options(values["partition"], partitions),
        "engine": [{"value": e, "label": e} for e in bounds.engines],
        "access": [{"value": r, "label": _ROUTE_LABELS[r]} for r in bounds.routes],
    }
    result = []
    for f in FIELDS:
        value = values[f.name]
        shown = value if f.name in _NUMBERS and isinstance(value, int) else value or ""
        field: dict[str, Any] = {
            "name": f.name,
            "label": f.label,
            "kind": f.kind,
            "value": shown,
            "error": errors.get(f.name, ""),
            "hint": "" if locked else _hint(f, bounds),
        }
        if f.kind == "select":
            field["options"] = options[f.name]
        result.append(field)
    return result
