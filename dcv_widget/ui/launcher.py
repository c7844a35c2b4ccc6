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
from ..desktops.request import (
    MEMORY_EXAMPLES,
    TIME_EXAMPLES,
    InvalidRequest,
    LaunchRequest,
    memory_kib,
)
from ..desktops.session import boot_words
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
    _Field("time", "Time limit", "text", f"e.g. {TIME_EXAMPLES}"),
    _Field("cpus", "CPUs", "number"),
    _Field("gpus", "GPUs", "number"),
    _Field("memory", "Memory", "text", f"e.g. {MEMORY_EXAMPLES}; empty: the partition's default"),
    _Field("engine", "Engine", "select", "dcv needs NICE DCV on the nodes; novnc needs TigerVNC"),
    _Field(
        "geometry",
        "Screen size",
        "text",
        "WIDTHxHEIGHT such as 1600x900: the desktop's size at the start, either engine; "
        "Connect can then fit it to the window",
    ),
    _Field("access", "Access", "select"),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)
# Errors in the form name a field as it is labelled there ("Time limit: …", not "time: …").
_LABELS = {f.name: f.label for f in FIELDS}
LABELS = _LABELS  # for the cards' and Launch again's words ("change CPUs: …")
_NUMBERS = {f.name for f in FIELDS if f.kind == "number"}
# Empty text means "the cluster's default" for these.
_OPTIONAL = {"partition", "memory"}


def labelled(exc: InvalidRequest) -> InvalidRequest:
    """The error as the form says it, naming the field by its label ("Time limit: …")."""
    label = _LABELS.get(exc.field, exc.field)
    return InvalidRequest(exc.field, exc.value, exc.allowed, label=label)


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
            return raw, f"{_LABELS[name]}: {raw!r} is not valid; use a whole number"
    elif name in _OPTIONAL:
        value = str(raw if raw is not None else "").strip() or None
    else:
        value = str(raw).strip()
    try:
        LaunchRequest(**{**values, name: value})
    except InvalidRequest as exc:
        if exc.field == name:
            return value, exc.named(_LABELS[name])
    try:
        bounds.check_field(name, value)
    except InvalidRequest as exc:
        return value, exc.named(_LABELS[name])
    return value, ""


def _hint(f: _Field, bounds: Bounds) -> str:
    return "; ".join(h for h in (f.hint, bounds.hint(f.name)) if h)


def partition_outlook(
    p: Partition, cpus: int, boot_seconds: int, gpus: int = 0
) -> tuple[str, bool]:
    """What a desktop of `cpus` CPUs can expect on `p`, in a few words, and whether it would
    not start by itself (the partition or all its nodes down: only an admin can change that).
    sinfo's counts say nothing of free GPUs: with GPUs asked for, no "starts now"."""
    if p.state == "down":
        return "down, desktops wait for an admin", True
    if not p.available:
        return f"closed to new desktops ({p.state})", True
    if p.nodes_unusable == p.nodes_total:
        return "no usable node (down or drained)", True
    idle = f"{p.cpus_idle} of {p.cpus_total} CPUs idle"
    if p.cpus_idle >= cpus:
        return (f"{idle}, free GPUs not known" if gpus else f"starts now, {idle}"), False
    if p.cpus_asleep >= cpus:
        return f"powered down, starts {boot_words(boot_seconds)}", False
    return f"busy, {idle}, desktops queue", False


def _partition_warning(p: Partition, outlook: str) -> str:
    """What to do when the chosen partition would not start a desktop by itself."""
    if p.state == "down":
        why = f"{p.name} is down: a desktop launched there waits in the queue until an admin "
        return why + "brings it back up. Choose another partition, or ask your cluster admin."
    if not p.available:
        return (
            f"{p.name} takes no new jobs ({p.state}): Slurm would refuse the desktop. Choose "
            "another partition."
        )
    return (
        f"{p.name} has {outlook}: a desktop launched there waits until an admin brings a node "
        "back. Choose another partition, or ask your cluster admin."
    )


def chosen_partition(name: str | None, partitions: list[Partition]) -> Partition | None:
    """The partition a desktop would go to: the one named, or the cluster's default."""
    return next((p for p in partitions if p.name == name or (not name and p.default)), None)


def fit_warnings(p: Partition | None, values: dict[str, Any]) -> dict[str, str]:
    """Per field (cpus, gpus, memory), why no node of `p` could ever hold the desktop, from
    sinfo's biggest node: Slurm would accept it and keep it queued for good (PartitionConfig).
    Warnings, not errors: sinfo may not show every node a site can bring up."""
    if p is None:
        return {}
    warnings = {}
    never = "a desktop asking for that would never start there"
    cpus, gpus, memory = values["cpus"], values["gpus"], values["memory"]
    if isinstance(cpus, int) and p.node_cpus is not None and cpus > p.node_cpus:
        warnings["cpus"] = (
            f"No node of {p.name} has {cpus} CPUs (the most is {p.node_cpus}): {never}. Ask for "
            f"{p.node_cpus} or fewer, or choose another partition."
        )
    if isinstance(gpus, int) and p.node_gpus is not None and gpus > p.node_gpus:
        most = f"the most is {p.node_gpus}" if p.node_gpus else "it has none"
        warnings["gpus"] = (
            f"No node of {p.name} has {gpus} GPU{'s' if gpus != 1 else ''} ({most}): {never}. "
            "Ask for fewer, or choose a partition with GPUs."
        )
    if isinstance(memory, str) and p.node_memory_mb is not None:
        try:
            asked = memory_kib(memory)
        except InvalidRequest:  # shown as the field's error
            asked = 0
        if asked > p.node_memory_mb * 1024:
            warnings["memory"] = (
                f"No node of {p.name} has {memory} of memory (the most is {p.node_memory_mb} "
                f"MB): {never}. Ask for less, or leave it empty for the partition's default."
            )
    return warnings


def _partition_field(
    current: str | None, partitions: list[Partition], values: dict[str, Any], boot_seconds: int
) -> tuple[list[dict[str, Any]], str]:
    """The partition options, each saying what a desktop can expect there now, and the warning
    for the chosen one ("" unless it would not start by itself)."""
    # What is asked for, as far as it is valid (an invalid number is shown as its error).
    cpus, gpus = (values[n] if isinstance(values[n], int) else 0 for n in ("cpus", "gpus"))
    default = next((p for p in partitions if p.default), None)
    default_label = (
        f"the cluster's default ({default.name})" if default else "the cluster's default"
    )
    options: list[dict[str, Any]] = [{"value": "", "label": default_label}]
    warning = ""
    for p in partitions:
        outlook, blocked = partition_outlook(p, max(cpus, 1), boot_seconds, gpus)
        name = f"{p.name} (default)" if p.default else p.name
        options.append({"value": p.name, "label": f"{name}: {outlook}"})
        if blocked and (current == p.name or (not current and p.default)):
            warning = _partition_warning(p, outlook)
    if current and current not in {p.name for p in partitions}:
        options.append({"value": current, "label": current})
    return options, warning


def partitions_unread(exc: Exception, known: bool, retry: str) -> str:
    """What the form says when sinfo failed: the labels kept (`known`) or none, and when it
    tries again (`retry`: "every 90 s while this form is shown")."""
    kept = (
        "the labels show the last state read"
        if known
        else "the form still works with the partition you give"
    )
    return f"Could not read the partitions' state ({exc}); {kept}. Trying again {retry}."


def launch_blocker(errors: dict[str, str]) -> str:
    """Why Launch is disabled, naming the fields to fix; "" when it is not."""
    if not errors:
        return ""
    names = [_LABELS.get(name, name) for name in errors]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f"To launch, fix {listed} (see the message{'s' if len(names) > 1 else ''} above)."


def launcher_fields(
    values: dict[str, Any],
    errors: dict[str, str],
    partitions: list[Partition],
    *,
    locked: bool = False,
    bounds: Bounds = UNBOUNDED,
    boot_seconds: int = 60,
) -> list[dict[str, Any]]:
    """The form's fields with their current values, options (the partitions and what a desktop
    can expect on each, the engines and routes the site allows), errors and warnings; typed
    fields' hints say the site's bound (no typing hints on a locked form: nobody types there)."""
    partition_options, partition_warning = _partition_field(
        values["partition"], partitions, values, boot_seconds
    )
    warnings = {
        **fit_warnings(chosen_partition(values["partition"], partitions), values),
        "partition": partition_warning,
    }
    options = {
        "partition": partition_options,
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
            "warning": warnings.get(f.name, ""),
            "hint": "" if locked else _hint(f, bounds),
        }
        if f.kind == "select":
            field["options"] = options[f.name]
        result.append(field)
    return result
