"""Launch presets: named sets of launch options, the site's (`c.DesktopSettings.presets`) and a
user's own (preset_store.py). Pure: raw dicts in, checked `Preset`s out.

A preset's values are any `LaunchRequest` fields, on top of the site's defaults; each is checked
as a launch would be (the field's rules, then the site's bounds) through the `request` callable
the settings pass in, so a bad preset fails naming the preset and the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .request import InvalidRequest, LaunchRequest

# What a preset entry may hold besides launch options.
META = ("name", "description", "locked")
NAME_LENGTH = 40


@dataclass(frozen=True)
class Preset:
    """A named set of launch options. `values` holds only the fields the preset sets (the
    site's defaults fill the rest); `locked`: the form shows them read-only; `mine`: the user's
    own (which they may delete), not the site's."""

    name: str
    values: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    locked: bool = False
    mine: bool = False

    def request(self, build: Callable[..., LaunchRequest]) -> LaunchRequest:
        """The launch request this preset stands for, built by `build` (settings.request)."""
        return build(**self.values)


def launch_fields() -> tuple[str, ...]:
    """The names a preset may set: every LaunchRequest field."""
    return tuple(f.name for f in fields(LaunchRequest))


def check_name(name: object, where: str) -> str:
    """A preset's name, stripped; InvalidRequest (field "name") says what a name may be."""
    text = name.strip() if isinstance(name, str) else ""
    if not text or len(text) > NAME_LENGTH or not text.isprintable():
        raise InvalidRequest(
            "name",
            name,
            f"give a preset a name of 1 to {NAME_LENGTH} printable characters",
            label=f"{where}: name",
        )
    return text


def parse_preset(
    raw: object, where: str, build: Callable[..., LaunchRequest], *, mine: bool = False
) -> Preset:
    """One preset entry (`{"name": …, "cpus": 4, …}`) checked: its name, its meta fields and
    each launch option as a launch would check it (`build`: settings.request, the site's
    defaults and bounds). InvalidRequest names `where`, the preset and the field."""
    if not isinstance(raw, Mapping):
        raise InvalidRequest(
            "preset",
            raw,
            'write each preset as a dict such as {"name": "Small", "cpus": 1}',
            label=where,
        )
    name = check_name(raw.get("name"), where)
    label = f"{where}: preset {name!r}"
    options = launch_fields()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in META:
            continue
        if key not in options:
            raise InvalidRequest(
                key,
                value,
                f"not a launch option; use {', '.join(META)} or one of {', '.join(options)}",
                label=f"{label}: {key}",
            )
        values[key] = value
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise InvalidRequest(
            "description",
            description,
            "write the description as text",
            label=f"{label}: description",
        )
    locked = raw.get("locked", False)
    if not isinstance(locked, bool):
        raise InvalidRequest("locked", locked, "use true or false", label=f"{label}: locked")
    try:
        build(**values)
    except InvalidRequest as exc:
        raise InvalidRequest(
            exc.field, exc.value, exc.allowed, label=f"{label}: {exc.field}"
        ) from None
    return Preset(name, values, description.strip(), locked, mine)


def parse_presets(
    raw: object, where: str, build: Callable[..., LaunchRequest], *, mine: bool = False
) -> list[Preset]:
    """A list of preset entries checked one by one (see `parse_preset`), names unique (case
    aside: "GPU" and "gpu" would read as one on a button)."""
    if not isinstance(raw, list | tuple):
        raise InvalidRequest("presets", raw, "write the presets as a list of dicts", label=where)
    presets: list[Preset] = []
    for entry in raw:
        preset = parse_preset(entry, where, build, mine=mine)
        if find(presets, preset.name) is not None:
            raise InvalidRequest(
                "name",
                preset.name,
                "two presets have this name; give each its own",
                label=f"{where}: name",
            )
        presets.append(preset)
    return presets


def find(presets: list[Preset], name: str) -> Preset | None:
    """The preset called `name` (case aside), or None."""
    folded = name.strip().casefold()
    return next((p for p in presets if p.name.casefold() == folded), None)


def saved_values(request: LaunchRequest) -> dict[str, Any]:
    """What a user's preset saved from a form holds: every launch option as the form had it, so
    the preset means the same if the site's defaults change later (None where the cluster's
    default is meant)."""
    return {name: getattr(request, name) for name in launch_fields()}


def matches(preset: Preset, values: Mapping[str, Any], build: Callable[..., LaunchRequest]) -> bool:
    """Whether the form's `values` are still what the preset sets (else the form is Custom)."""
    try:
        wanted = preset.request(build)
    except InvalidRequest:
        return False
    return all(
        values.get(name) == getattr(wanted, name) for name in launch_fields() if name in values
    )
