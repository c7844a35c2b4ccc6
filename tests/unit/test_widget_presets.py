"""The widget's preset chooser: choosing fills the form, editing turns it to Custom, a locked
preset shows its values read-only, the user's own are saved and deleted through the kernel."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import DesktopSession, SessionState
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


def ended(w: Desktop, **changes: Any) -> str:
    """An ended desktop in the widget's manager (as a poll would leave it); its key."""
    session = DesktopSession(
        request=LaunchRequest(partition="dcv", cpus=64, time="0:05:00", access="direct"),
        key="k1",
        job_id="41",
        state=SessionState.ENDED,
        outcome="cancelled",
        **changes,
    )
    w._manager._sessions[session.key] = session
    return session.key


def test_launch_again_opens_the_form_marked_when_the_end_says_what_to_change() -> None:
    w = widget()
    key = ended(w, never_reason="PartitionConfig")
    assert w.relaunch(key) is None
    partition = next(f for f in w.launcher["fields"] if f["name"] == "partition")
    assert partition["error"].startswith("Partition: dcv cannot hold what it asked for (64 CPUs")
    assert value(w, "cpus") == 64 and not w.launcher["can_launch"]
    assert w.launcher["focus"] == "partition#1"
    say(w, action="set", field="partition", value="")  # an edit clears the mark
    assert w.launcher["can_launch"]


def test_launch_again_of_an_adopted_desktop_says_what_is_not_known() -> None:
    w = widget()
    key = ended(w, request_known=False)
    assert w.relaunch(key) is None
    assert w.launcher["presets"]["note"].startswith(
        "Desktop 41 was launched elsewhere: its job names only its partition, engine and access"
    )
    assert value(w, "partition") == "dcv" and value(w, "time") == "1:00:00"  # the site's


def test_launch_again_launches_the_same_options_at_once() -> None:
    w = widget()
    key = ended(w)
    again = w.relaunch(key)
    assert again is not None and again.key != key
    assert again.request == w._manager.get(key).request


def test_a_double_click_on_launch_again_is_one_launch() -> None:
    # The ended card still offers Launch again after its first click, as Launch stays offered.
    w = widget()
    key = ended(w)
    w._refresh_cards()
    assert "relaunch" in w._allowed(key)
    say(w, action="relaunch", key=key)
    say(w, action="relaunch", key=key)
    assert len(w._manager.sessions()) == 2  # the ended desktop and one new
