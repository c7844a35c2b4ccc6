"""The Desktops panel's form rules (dcv_widget/server/panel.py): the widget's checks, named by
label, with the site's defaults underneath and its locks."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from traitlets import TraitError

from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import DesktopSession, SessionState
from dcv_widget.server.panel import Desktops, checked_form
from dcv_widget.settings import DesktopSettings
from dcv_widget.transport.base import CommandResult, Transport


def test_defaults_fill_what_the_form_leaves_out() -> None:
    settings = DesktopSettings(partition="dcv", time="2:00:00", access="jupyter")
    values, errors = checked_form({"cpus": "2"}, settings)
    assert errors == {}
    assert (values["partition"], values["time"], values["cpus"]) == ("dcv", "2:00:00", 2)


def test_each_bad_field_is_named_by_its_label_one_does_not_hide_another() -> None:
    settings = DesktopSettings(max_cpus=4, access="direct")
    _, errors = checked_form({"cpus": 8, "time": "soon", "gpus": "x"}, settings)
    assert set(errors) == {"cpus", "time", "gpus"}
    assert errors["cpus"].startswith("CPUs: 8 is not valid; the site allows at most 4")
    assert errors["time"].startswith("Time limit: 'soon' is not valid")
    assert errors["gpus"].startswith("GPUs: 'x' is not valid; use a whole number")


def test_a_locked_panel_takes_the_sites_values_only() -> None:
    settings = DesktopSettings(partition="dcv", time="1:00:00", panel_locked=True, access="direct")
    _, errors = checked_form({"partition": "dcv", "time": "1:00:00"}, settings)
    assert errors == {}
    _, errors = checked_form({"time": "4:00:00"}, settings)
    assert errors == {
        "time": "Time limit: '4:00:00' cannot be chosen; the site fixed it to '1:00:00' "
        "(c.DesktopSettings.panel_locked)"
    }


def test_the_launcher_tile_setting_takes_launch_or_form() -> None:
    assert DesktopSettings().launcher_tile == "launch"
    assert DesktopSettings(launcher_tile="form").launcher_tile == "form"
    with pytest.raises(TraitError):
        DesktopSettings(launcher_tile="open")


PRESETS = [
    {"name": "GPU", "gpus": 1, "time": "4:00:00"},
    {"name": "Class", "partition": "dcv", "time": "2:00:00", "locked": True},
]


def test_a_preset_is_what_the_form_sits_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path))
    settings = DesktopSettings(presets=PRESETS, access="direct")
    values, errors = checked_form({"preset": "GPU", "cpus": 2}, settings)
    assert errors == {} and (values["gpus"], values["time"], values["cpus"]) == (1, "4:00:00", 2)
    _, errors = checked_form({"preset": "Nope"}, settings)
    assert errors["preset"].startswith("preset: 'Nope' is not valid; choose one of the presets")


def test_a_locked_preset_takes_its_own_values_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path))
    settings = DesktopSettings(presets=PRESETS, access="direct")
    assert checked_form({"preset": "Class", "time": "2:00:00"}, settings)[1] == {}
    _, errors = checked_form({"preset": "Class", "time": "3:00:00"}, settings)
    assert errors == {
        "time": "Time limit: '3:00:00' cannot be chosen; the site fixed it to '2:00:00' "
        "(the preset 'Class' is locked)"
    }


def test_a_locked_panel_takes_no_other_preset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A user's own preset (their file, written by hand or saved elsewhere) would otherwise be
    # the baseline the lock compares with, and a locked panel would launch its values.
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path))
    (tmp_path / "dcv_widget").mkdir()
    (tmp_path / "dcv_widget" / "presets.json").write_text(
        '{"presets": [{"name": "Mine", "cpus": 4, "time": "4:00:00"}]}'
    )
    settings = DesktopSettings(
        partition="dcv", time="1:00:00", panel_locked=True, presets=PRESETS, access="direct"
    )
    _, errors = checked_form({"preset": "Mine", "cpus": 4, "time": "4:00:00"}, settings)
    assert errors["preset"] == (
        "Preset: 'Mine' cannot be chosen; the site fixed the form (c.DesktopSettings.panel_locked)"
    )
    assert errors["time"].startswith("Time limit: '4:00:00' cannot be chosen")


class NoSlurm:
    """sinfo answers nothing; sbatch is never waited for (the launch runs on a thread)."""

    def run(self, argv: list[str], **_kwargs: object) -> CommandResult:
        return CommandResult(tuple(argv), 0, "", "")


def test_a_double_click_on_launch_again_is_one_launch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ended card still offers Launch again after its first click: each POST launched one.
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path))
    manager = SessionManager(cast(Transport, NoSlurm()))
    settings = DesktopSettings(access="direct")
    desktops = Desktops(lambda: settings, lambda _settings: manager)
    request = LaunchRequest(partition="dcv", time="0:05:00", access="direct")
    ended = DesktopSession(request=request, key="a1", job_id="41", state=SessionState.ENDED)
    manager._sessions[ended.key] = ended
    first = desktops.relaunch("a1")
    assert "card" in first
    assert desktops.relaunch("a1") == first
    assert len(manager.sessions()) == 2  # the ended desktop and one new


def test_a_double_click_on_launch_is_one_launch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two POSTs of the same form within the double-click window: one desktop, the same card; a
    # different form is a second desktop.
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path))
    manager = SessionManager(cast(Transport, NoSlurm()))
    settings = DesktopSettings(access="direct", partition="dcv")
    desktops = Desktops(lambda: settings, lambda _settings: manager)
    first = desktops.launch({"time": "5"})
    assert desktops.launch({"time": "5"}) == first
    assert len(manager.sessions()) == 1
    assert desktops.launch({"time": "6"})["key"] != first["key"]
    assert len(manager.sessions()) == 2
