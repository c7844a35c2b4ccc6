"""What fills the launcher form besides typing: a preset chosen above the fields, or *Launch
again* on an ended card. Pure data for the widget (desktop.py) and the Desktops panel
(server/panel.py), which show the same chooser and open the same prefilled form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from ..desktops.presets import Preset, find, matches, saved_values
from ..desktops.relaunch import Change, change_for
from ..desktops.request import InvalidRequest, LaunchRequest
from ..desktops.session import DesktopSession, asked
from ..desktops.slurm import Partition
from ..settings import DesktopSettings

# What a desktop adopted from the queue is known to have asked for (its job comment's).
KNOWN_WHEN_ADOPTED = ("partition", "engine", "access")


def all_presets(settings: DesktopSettings) -> tuple[list[Preset], list[str]]:
    """The site's presets, then the user's own, and what is wrong with the user's file."""
    mine, problems = settings.preset_store().load()
    return [*settings.site_presets(), *mine], problems


def preset_values(settings: DesktopSettings, preset: Preset) -> dict[str, Any]:
    """Every launch option as the preset sets it on top of the site's defaults."""
    return saved_values(preset.request(settings.base_request))


def still_chosen(
    settings: DesktopSettings, presets: list[Preset], chosen: str, values: dict[str, Any]
) -> str:
    """The chosen preset's name while the form's values are still its own, else "" (Custom)."""
    preset = find(presets, chosen) if chosen else None
    if preset is None or not matches(preset, values, settings.base_request):
        return ""
    return preset.name


def chooser(
    settings: DesktopSettings, presets: list[Preset], problems: list[str], chosen: str
) -> dict[str, Any]:
    """The chooser above the fields: each preset with its words (its description, else what it
    asks for), which one the form holds ("": Custom), and what is wrong with the user's file."""
    options = []
    for preset in presets:
        try:
            summary = asked(preset.request(settings.base_request))
        except InvalidRequest:  # a user preset refused since it was read: shown as is
            summary = ""
        options.append(
            {
                "name": preset.name,
                "description": preset.description or summary,
                "summary": summary,
                "mine": preset.mine,
                "locked": preset.locked,
            }
        )
    return {"options": options, "chosen": chosen, "message": " ".join(problems)}


def locked_preset(presets: list[Preset], chosen: str) -> bool:
    """Whether the chosen preset shows its values read-only."""
    preset = find(presets, chosen) if chosen else None
    return preset is not None and preset.locked


def relaunch_change(
    settings: DesktopSettings, session: DesktopSession, partitions: Sequence[Partition]
) -> tuple[bool, Change | None]:
    """Whether *Launch again* launches at once (the same options, still within the site's
    bounds), else the change to mark in the form it opens (None: nothing to mark, the options
    are only not all known)."""
    change = change_for(session, partitions)
    if change is not None or not session.request_known:
        return False, change
    try:
        settings.bounds().check(session.request)  # the site's bounds may have changed
    except InvalidRequest as exc:
        return False, Change(exc.field, exc.allowed)
    return True, None


def relaunch_form(
    settings: DesktopSettings,
    session: DesktopSession,
    change: Change | None,
    labels: dict[str, str],
) -> tuple[dict[str, Any], dict[str, str], str]:
    """The form *Launch again* opens instead of relaunching: the desktop's launch options (for
    one adopted from the queue, those its job comment names, on top of the site's defaults),
    the field to change marked with what to change (`labels`: how the form names fields), and
    a note for the form."""
    if session.request_known:
        values = {f.name: getattr(session.request, f.name) for f in fields(LaunchRequest)}
        note = ""
    else:
        values = saved_values(settings.request())
        values.update({name: getattr(session.request, name) for name in KNOWN_WHEN_ADOPTED})
        note = (
            f"Desktop {session.job_id} was launched elsewhere: its job names only its "
            "partition, engine and access, so the rest shows the site's defaults. Check them, "
            "then launch."
        )
    errors = {}
    if change is not None:
        errors[change.field] = f"{labels.get(change.field, change.field)}: {change.hint}"
    return values, errors, note
