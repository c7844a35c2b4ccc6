"""The widget's preset chooser: choosing fills the form, editing turns it to Custom, a locked
preset shows its values read-only, the user's own are saved and deleted through the kernel."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from dcv_widget.desktops.manager import SessionManager
from dcv_widget.settings import DesktopSettings
from dcv_widget.transport.base import CommandResult, Transport
from dcv_widget.ui.desktop import Desktop

PRESETS = [
    {"name": "Small", "description": "1 CPU, 1 h", "cpus": 1, "time": "1:00:00"},
    {"name": "Big", "cpus": 4, "time": "4:00:00"},
    {"name": "Class", "partition": "dcv", "time": "2:00:00", "locked": True},
]


class NoSlurm:
    """sinfo answers nothing; nothing else runs."""

    def run(self, argv: list[str], **_kwargs: object) -> CommandResult:
        return CommandResult(tuple(argv), 0, "", "")


def widget(**options: Any) -> Desktop:
    manager = SessionManager(cast(Transport, NoSlurm()))
    settings = DesktopSettings(presets=PRESETS, access="direct")
    return Desktop(manager=manager, attach=False, settings=settings, **options)


def say(w: Desktop, **content: Any) -> None:
    w._on_message(w, content, None)


def value(w: Desktop, name: str) -> Any:
    return next(f["value"] for f in w.launcher["fields"] if f["name"] == name)


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path))
    return tmp_path


def test_choosing_a_preset_fills_the_form_and_an_edit_makes_it_custom() -> None:
    w = widget()
    chooser = w.launcher["presets"]
    assert [o["name"] for o in chooser["options"]] == ["Small", "Big", "Class"]
    assert chooser["options"][1]["description"] == "4 CPUs for 4 h" and chooser["chosen"] == ""
    say(w, action="preset", name="Big")
    assert (value(w, "cpus"), value(w, "time"), w.launcher["presets"]["chosen"]) == (
        4,
        "4:00:00",
        "Big",
    )
    say(w, action="set", field="cpus", value=2)
    assert value(w, "cpus") == 2 and w.launcher["presets"]["chosen"] == ""


def test_a_locked_preset_is_read_only_until_another_is_chosen() -> None:
    w = widget(preset="Class")
    assert w.launcher["locked"] and w.launcher["presets"]["chosen"] == "Class"
    say(w, action="set", field="time", value="8:00:00")
    assert value(w, "time") == "2:00:00"
    say(w, action="preset", name="")
    assert not w.launcher["locked"] and value(w, "time") == "2:00:00"


def test_a_locked_widget_shows_no_chooser() -> None:
    assert widget(locked=True).launcher["presets"] is None


def test_saving_and_deleting_the_users_own(data_dir: Path) -> None:
    w = widget(cpus=3)
    say(w, action="save_preset", name="Mine")
    chooser = w.launcher["presets"]
    assert chooser["chosen"] == "Mine" and chooser["note"] == "Saved your preset 'Mine'."
    assert chooser["options"][-1] == {
        "name": "Mine",
        "description": "3 CPUs for 1 h",
        "summary": "3 CPUs for 1 h",
        "mine": True,
        "locked": False,
    }
    assert (data_dir / "dcv_widget" / "presets.json").exists()
    assert widget().launcher["presets"]["options"][-1]["name"] == "Mine"  # another kernel's
    say(w, action="save_preset", name="small")
    assert w.launcher["presets"]["note"].startswith(
        "Not saved: Preset name: 'small' is not valid; the site has a preset called 'Small'"
    )
    say(w, action="delete_preset", name="Mine")
    chooser = w.launcher["presets"]
    assert [o["name"] for o in chooser["options"]] == ["Small", "Big", "Class"]
    assert chooser["chosen"] == "" and chooser["note"] == "Deleted your preset 'Mine'."
