"""The launcher form as data: which fields, their options, and validation of one edit.

The view renders these dicts and sends back raw values; the kernel parses and validates them
with the same rules as every other way in (LaunchRequest, then the site's Bounds), so an error
shows inline, named and explained, before anything is submitted; the selects offer only what the
site allows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..desktops.bounds import UNBOUNDED, Bounds
from ..desktops.request import (
    CONSTRAINT_EXAMPLES,
    MEMORY_EXAMPLES,
    OPTIONAL_TEXT,
    TIME_EXAMPLES,
    InvalidRequest,
    LaunchRequest,
    constraint_features,
    memory_kib,
)
from ..desktops.session import boot_words
from ..desktops.slurm import Partition
from ..desktops.slurm_options import Reservation, SlurmChoices

# The user's accounts, QOS and reservations change seldom: the launchers re-read them (sacctmgr,
# from slurmdbd, and one scontrol: one slurmctld RPC) at most this often (seconds).
CHOICES_REFRESH = 600.0
# Clicks closer together than this (seconds) are one launch: the widget's Launch with the same
# values, and Launch again of one desktop in the widget or the Desktops panel.
DOUBLE_CLICK = 2.0

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
    kind: str  # "select" | "text" | "number" | "checkbox"
    hint: str = ""
    group: str = ""  # "more": under the form's "More options" (rarely changed)


FIELDS = (
    _Field("partition", "Partition", "select"),
    _Field("time", "Time limit", "text", f"e.g. {TIME_EXAMPLES}"),
    _Field("cpus", "CPUs", "number"),
    _Field("gpus", "GPUs", "number"),
    _Field("gpu_type", "GPU type", "select"),
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
    # Slurm's own options, offered from what Slurm lists for this user (or typed where it cannot
    # say), each shown only where it has something to offer.
    _Field("account", "Account", "select", group="more"),
    _Field("qos", "QOS", "select", group="more"),
    _Field("reservation", "Reservation", "select", group="more"),
    _Field(
        "constraint",
        "Node features",
        "text",
        f"e.g. {CONSTRAINT_EXAMPLES} (& all, | any); empty: any node",
        group="more",
    ),
    _Field("exclusive", "Whole node", "checkbox", "no other job on the desktop's node", "more"),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)
# Errors in the form name a field as it is labelled there ("Time limit: …", not "time: …").
_LABELS = {f.name: f.label for f in FIELDS}
LABELS = _LABELS  # for the cards' and Launch again's words ("change CPUs: …")
_NUMBERS = {f.name for f in FIELDS if f.kind == "number"}
# Empty text means "the cluster's default" for these.
_OPTIONAL = set(OPTIONAL_TEXT)
_CHECKBOXES = {f.name for f in FIELDS if f.kind == "checkbox"}


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
    elif name in _CHECKBOXES:
        value = {"true": True, "false": False}.get(str(raw).lower(), raw)
        if not isinstance(value, bool):
            return raw, f"{_LABELS[name]}: {raw!r} is not valid; use true or false"
    elif name in _OPTIONAL:
        value = str(raw if raw is not None else "").strip() or None
    else:
        value = str(raw).strip()
    probe = {**values, name: value}
    if name == "gpu_type" and value:
        # Checked on its own here; whether GPUs are asked for is `combined_error`'s to say.
        probe["gpus"] = max(1, probe["gpus"] if isinstance(probe["gpus"], int) else 0)
    try:
        LaunchRequest(**probe)
    except InvalidRequest as exc:
        if exc.field == name:
            return value, exc.named(_LABELS[name])
    try:
        bounds.check_field(name, value)
    except InvalidRequest as exc:
        return value, exc.named(_LABELS[name])
    return value, ""


def combined_error(values: dict[str, Any]) -> dict[str, str]:
    """The error of options each valid alone but not together (a GPU type without GPUs), under
    the field it names; {} when they go together. For a form whose fields are all valid."""
    try:
        LaunchRequest(**values)
    except InvalidRequest as exc:
        return {exc.field: str(labelled(exc))}
    return {}


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
    gpu_type = values.get("gpu_type")
    if isinstance(gpu_type, str) and p.node_gpus and gpu_type not in p.gpu_types:
        has = f"it has {', '.join(p.gpu_types)}" if p.gpu_types else "its GPUs have no type"
        warnings["gpu_type"] = (
            f"No node of {p.name} has GPUs of type {gpu_type} ({has}): {never}. Choose one of "
            "its types, or another partition."
        )
    missing = _missing_features(values.get("constraint"), p)
    if missing:
        has = f"its nodes have {', '.join(p.features)}" if p.features else "it has none"
        warnings["constraint"] = (
            f"No node of {p.name} has the feature{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} ({has}): {never}. Choose features of its nodes, or another "
            "partition."
        )
    return warnings


def _missing_features(constraint: object, p: Partition) -> list[str]:
    """The features of a valid constraint that no node of `p` has: all those of an & alone;
    with an | (any of them), all of them only when none is there (parentheses aside)."""
    try:
        named = constraint_features(constraint) if isinstance(constraint, str) else ()
    except InvalidRequest:  # shown as the field's error
        return []
    missing = [f for f in named if f not in p.features]
    if "|" in str(constraint) and len(missing) < len(named):
        return []
    return missing


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


@dataclass(frozen=True)
class _Offer:
    """What the form offers for one of Slurm's options: a list to choose from (None: a text to
    type, where Slurm cannot list them), whether there is anything to offer (a field without
    is hidden unless it holds a value), names to suggest while typing, a warning."""

    options: list[dict[str, Any]] | None
    offered: bool
    suggestions: tuple[str, ...] = ()
    warning: str = ""


def _allowed(names: Iterable[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    """`names` Slurm lists, within the site's list (empty: all of them)."""
    return tuple(n for n in names if not allowed or n in allowed)


def _choice(
    current: object, unset: str, names: tuple[str, ...], labels: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Options: "" (`unset` says what that means), then `names`; the current value stays one."""
    options = [{"value": "", "label": unset}]
    options += [{"value": n, "label": (labels or {}).get(n, n)} for n in names]
    if isinstance(current, str) and current and current not in names:
        options.append({"value": current, "label": current})
    return options


def _when(t: float) -> str:
    return time.strftime("%d %b %Y %H:%M", time.localtime(t))


def _reservation_label(r: Reservation, now: float) -> str:
    span = f"now, until {_when(r.end)}" if r.active(now) else f"{_when(r.start)} to {_when(r.end)}"
    accounts = f"; account {', '.join(r.accounts)}" if r.accounts else ""
    return f"{r.name}: {span}{accounts}"


def _reservation_warning(
    r: Reservation | None, account: str | None, cpus: object, now: float
) -> str:
    """What keeps the chosen reservation from taking the desktop as asked: an account it does
    not admit (Slurm refuses it), fewer CPUs than asked for (Slurm queues it for good, saying
    only "Resources"), or a start still to come (the desktop waits until then)."""
    if r is None:
        return ""
    if isinstance(cpus, int) and r.cpus is not None and cpus > r.cpus:
        return (
            f"{r.name} holds {r.cpus} CPU{'s' if r.cpus != 1 else ''}: a desktop asking for "
            f"{cpus} would never start in it. Ask for {r.cpus} or fewer."
        )
    if r.accounts and account not in r.accounts:
        them = ", ".join(r.accounts)
        return (
            f"{r.name} is for account {them} only: choose {them} under Account, or Slurm "
            "refuses the desktop."
        )
    if not r.active(now):
        return f"{r.name} starts {_when(r.start)}: the desktop waits in the queue until then."
    return ""


def _slurm_offers(
    values: dict[str, Any],
    partitions: list[Partition],
    choices: SlurmChoices | None,
    bounds: Bounds,
) -> dict[str, _Offer]:
    """What the form offers for the GPU type, node features, account, QOS, reservation and
    whole node, from sinfo (the chosen partition's nodes) and the user's associations and
    reservations (`choices`; None: not read yet, a part None: Slurm could not say, so typed)."""
    now = time.time()
    chosen = chosen_partition(values["partition"], partitions)
    nodes = [chosen] if chosen else partitions
    gpus = values["gpus"] if isinstance(values["gpus"], int) else 0
    types = _allowed(sorted({t for p in nodes for t in p.gpu_types}), bounds.allowed_gpu_types)
    features = _allowed(sorted({f for p in nodes for f in p.features}), bounds.allowed_features)
    offers = {
        "gpu_type": _Offer(_choice(values["gpu_type"], "any type", types), bool(gpus and types)),
        "constraint": _Offer(None, bool(features), suggestions=features),
        "exclusive": _Offer(None, bounds.allow_exclusive),
    }
    associations = choices.associations if choices else None
    account = values["account"] if isinstance(values["account"], str) else None
    if associations is not None:
        default = associations.default_account
        offers["account"] = _Offer(
            _choice(account, f"your default ({default})", associations.accounts),
            len(associations.accounts) > 1,
        )
        names = _allowed(associations.qos_of(account), bounds.allowed_qos)
        default_qos = associations.default_qos_of(account)
        unset = f"your default ({default_qos})" if default_qos else "your default"
        offers["qos"] = _Offer(
            _choice(values["qos"], unset, names), any(n != default_qos for n in names)
        )
    else:
        # Typed where the cluster keeps no accounting (or sacctmgr failed), unless the site lists
        # them; an account only where one was given: without accounting it means nothing. Not
        # read yet (choices None): hidden lists, so the form is not rebuilt once they come.
        listed = _choice(values["qos"], "your default", bounds.allowed_qos)
        typed = choices is not None and not bounds.allowed_qos
        offers["account"] = _Offer(None if choices else _choice(account, "", ()), False)
        offers["qos"] = _Offer(None if typed else listed, choices is not None)
    reservations = choices.reservations if choices else None
    if reservations is not None:
        names = _allowed((r.name for r in reservations), bounds.allowed_reservations)
        usable = [r for r in reservations if r.name in names]
        chosen_r = next((r for r in usable if r.name == values["reservation"]), None)
        default_account = associations.default_account if associations else None
        offers["reservation"] = _Offer(
            _choice(
                values["reservation"],
                "none",
                tuple(r.name for r in usable),
                {r.name: _reservation_label(r, now) for r in usable},
            ),
            bool(usable),
            warning=_reservation_warning(chosen_r, account or default_account, values["cpus"], now),
        )
    else:
        listed = _choice(values["reservation"], "none", bounds.allowed_reservations)
        typed = choices is not None and not bounds.allowed_reservations
        offers["reservation"] = _Offer(None if typed else listed, choices is not None)
    return offers


def launcher_fields(
    values: dict[str, Any],
    errors: dict[str, str],
    partitions: list[Partition],
    *,
    locked: bool = False,
    bounds: Bounds = UNBOUNDED,
    boot_seconds: int = 60,
    choices: SlurmChoices | None = None,
) -> list[dict[str, Any]]:
    """The form's fields with their current values, options (the partitions and what a desktop
    can expect on each, the engines and routes the site allows, Slurm's GPU types, accounts,
    QOS and reservations for this user), errors and warnings; typed fields' hints say the
    site's bound (no typing hints on a locked form: nobody types there). A field of Slurm's
    options with nothing to offer is `hidden` (unless it holds a value or an error); on a
    locked form, so is every unset one of "More options"."""
    partition_options, partition_warning = _partition_field(
        values["partition"], partitions, values, boot_seconds
    )
    offers = _slurm_offers(values, partitions, choices, bounds)
    warnings = {
        **fit_warnings(chosen_partition(values["partition"], partitions), values),
        "partition": partition_warning,
        "reservation": offers["reservation"].warning,
    }
    options = {
        "partition": partition_options,
        "engine": [{"value": e, "label": e} for e in bounds.engines],
        "access": [{"value": r, "label": _ROUTE_LABELS[r]} for r in bounds.routes],
    }
    result = []
    for f in FIELDS:
        value = values[f.name]
        kept = f.name in _NUMBERS | _CHECKBOXES and isinstance(value, int)
        shown = value if kept else value or ""
        offer = offers.get(f.name)
        field: dict[str, Any] = {
            "name": f.name,
            "label": f.label,
            "kind": f.kind,
            "value": shown,
            "error": errors.get(f.name, ""),
            "warning": warnings.get(f.name, ""),
            "hint": "" if locked else _hint(f, bounds),
            "group": f.group,
        }
        if offer is not None:
            if f.kind == "select" and offer.options is None:
                field["kind"] = "text"
            field["hidden"] = not (offer.offered or value or field["error"])
            field["suggestions"] = list(offer.suggestions)
        if locked and f.group and not value:
            field["hidden"] = True
        if field["kind"] == "select":
            field["options"] = options[f.name] if offer is None else offer.options
        result.append(field)
    return result
