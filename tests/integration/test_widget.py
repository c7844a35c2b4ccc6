"""The Desktop widget driven as the browser would, through its messages, on the real Slurm."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from dcv_widget.desktops.manager import SessionManager
from dcv_widget.ui.desktop import Desktop


class RecordingDesktop(Desktop):
    """The real widget; custom messages to the browser are recorded instead of sent."""

    def __init__(self, **kwargs: Any) -> None:
        self.sent: list[dict[str, Any]] = []
        super().__init__(**kwargs)

    def send(self, content: dict[str, Any], buffers: Any = None) -> None:
        self.sent.append(content)


def eventually(check: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


def click(widget: Desktop, action: str, **extra: Any) -> None:
    widget._on_message(widget, {"action": action, **extra}, None)


def field(widget: Desktop, name: str) -> dict[str, Any]:
    return next(f for f in widget.launcher["fields"] if f["name"] == name)


def card(widget: Desktop) -> dict[str, Any]:
    assert widget.cards, "no card yet"
    return widget.cards[0]


def test_form_validates_inline_before_anything_is_submitted(manager: SessionManager) -> None:
    widget = RecordingDesktop(manager=manager, attach=False, partition="dcv", time="5")
    # The partitions come from sinfo, off the kernel's thread.
    eventually(lambda: "CPUs idle" in json.dumps(field(widget, "partition")), timeout=30)
    labels = [o["label"] for o in field(widget, "partition")["options"]]
    assert any(label.startswith("dcv (default): ") for label in labels), labels
    assert "dcv-maint: down, desktops wait for an admin" in labels

    click(widget, "set", field="time", value="1h")
    assert field(widget, "time")["error"].startswith("Time limit: '1h' is not valid")
    assert widget.launcher["can_launch"] is False
    click(widget, "launch")
    assert manager.sessions() == []  # refused before Slurm saw it

    click(widget, "set", field="time", value="10")
    assert field(widget, "time")["error"] == ""
    assert widget.launcher["can_launch"] is True
    widget.close()


def test_a_desktop_from_launch_to_dismiss_never_syncs_its_secret(manager: SessionManager) -> None:
    widget = RecordingDesktop(manager=manager, attach=False, partition="dcv", time="5")
    click(widget, "set", field="cpus", value=2)
    click(widget, "launch")
    eventually(lambda: bool(widget.cards) and card(widget)["state"] == "ready")
    ready = card(widget)
    assert ready["actions"] == ["connect", "end"]
    assert [s["status"] for s in ready["steps"]] == ["done"] * 5  # nothing left in progress
    assert ready["node"] == "dcv-node-1" and ready["ends_at"] > time.time()
    assert manager.get(ready["key"]).request.cpus == 2

    click(widget, "connect", key=ready["key"], request="r1")
    eventually(lambda: any(m.get("event") == "open" for m in widget.sent))
    answer = next(m for m in widget.sent if m.get("event") == "open")
    assert answer["request"] == "r1"
    secret = answer["url"].split("password=", 1)[1]
    # Everything synced to the browser (and saved into the .ipynb) is free of the secret.
    assert secret not in json.dumps(widget.get_state(), default=str)
    # The browser's display choice comes with a Connect, lands in noVNC's fragment beside the
    # password, and stays out of the synced state; one that is not noVNC's is refused by name.
    chosen = {"resize": "scale", "quality": 2, "compression": 8}
    click(widget, "connect", key=ready["key"], request="r2", display=chosen)
    eventually(lambda: any(m.get("request") == "r2" for m in widget.sent))
    fragment = next(m for m in widget.sent if m.get("request") == "r2")["url"].split("#", 1)[1]
    assert {"resize=scale", "quality=2", "compression=8"} <= set(fragment.split("&"))
    assert "compression" not in json.dumps(widget.get_state(), default=str)
    click(widget, "connect", key=ready["key"], request="r3", display={**chosen, "quality": 12})
    assert {"event": "open-failed", "request": "r3"} in widget.sent
    assert card(widget)["error"].startswith("Connect failed: display quality: 12 is not valid")

    click(widget, "end", key=ready["key"])
    # Ending at once, from the click itself (before scancel has run), with its own step.
    ending = card(widget)
    assert ending["state"] == "ending" and ending["actions"] == []
    assert ending["steps"][-1] == {"id": "ending", "label": "Ending", "status": "current"}
    eventually(lambda: card(widget)["state"] == "ended", timeout=60)
    assert card(widget)["outcome"] == "Ended: cancelled"
    assert card(widget)["actions"] == ["relaunch", "dismiss"]
    click(widget, "dismiss", key=ready["key"])
    assert widget.cards == []
    widget.close()


def test_actions_the_kernel_did_not_offer_are_ignored(manager: SessionManager) -> None:
    widget = RecordingDesktop(manager=manager, attach=False, partition="dcv", time="5")
    click(widget, "end", key="no-such-desktop")
    click(widget, "connect", key="no-such-desktop", request="x")
    assert widget.sent == [{"event": "open-failed", "request": "x"}]
    assert manager.sessions() == []
    widget.close()


def test_a_locked_launcher_ignores_edits(manager: SessionManager) -> None:
    widget = RecordingDesktop(
        manager=manager, attach=False, locked=True, partition="dcv", time="1:00:00"
    )
    assert widget.launcher["locked"] is True
    click(widget, "set", field="time", value="99:00:00")
    assert field(widget, "time")["value"] == "1:00:00"
    widget.close()


def test_from_config_is_the_site_defaults_locked(manager: SessionManager) -> None:
    widget = RecordingDesktop.from_config(manager=manager, attach=False)
    assert widget.launcher["locked"] is True
    assert field(widget, "time")["value"] == "1:00:00"  # DesktopSettings' default
    widget.close()


def test_end_while_submitting_cancels_the_job(manager: SessionManager) -> None:
    widget = RecordingDesktop(manager=manager, attach=False, partition="dcv", time="5")
    click(widget, "launch")
    click(widget, "end", key=card(widget)["key"])  # before sbatch has answered, most likely
    eventually(lambda: card(widget)["state"] == "ended", timeout=60)
    assert card(widget)["outcome"] == "Ended: cancelled"
    widget.close()


def test_every_bad_field_shows_its_error_at_once(manager: SessionManager) -> None:
    widget = RecordingDesktop(manager=manager, attach=False, partition="dcv", time="5")
    click(widget, "set", field="cpus", value="")
    click(widget, "set", field="memory", value="8 G")
    assert field(widget, "cpus")["error"].startswith("CPUs: ")
    assert field(widget, "memory")["error"].startswith("Memory: ")
    click(widget, "set", field="cpus", value=2)
    assert field(widget, "cpus")["error"] == ""
    assert field(widget, "memory")["error"].startswith("Memory: ")  # still shown
    assert widget.launcher["can_launch"] is False
    widget.close()


def test_a_dismissed_card_is_gone_from_every_widget(manager: SessionManager) -> None:
    first = RecordingDesktop(manager=manager, attach=False, partition="dcv", time="5")
    second = RecordingDesktop(manager=manager, attach=False, partition="dcv-maint", time="5")
    click(second, "launch")
    key = card(second)["key"]
    eventually(lambda: card(first)["state"] == "queued", timeout=30)
    click(first, "end", key=key)
    eventually(lambda: card(second)["state"] == "ended", timeout=60)
    click(second, "dismiss", key=key)
    assert first.cards == [] and second.cards == []
    first.close()
    second.close()


def test_a_double_click_is_one_launch_but_new_values_are_another(manager: SessionManager) -> None:
    widget = RecordingDesktop(manager=manager, attach=False, partition="dcv-maint", time="5")
    click(widget, "launch")
    click(widget, "launch")
    assert len(manager.sessions()) == 1
    click(widget, "set", field="time", value="6")
    click(widget, "launch")
    assert len(manager.sessions()) == 2
    for session in manager.sessions():
        manager.end(session.key)
    widget.close()


def test_a_failed_action_shows_on_its_card_until_the_state_changes(
    manager: SessionManager,
) -> None:
    widget = RecordingDesktop(manager=manager, attach=False, partition="dcv-maint", time="5")
    click(widget, "launch")
    eventually(lambda: card(widget)["state"] == "queued", timeout=30)
    click(widget, "connect", key=card(widget)["key"], request="early")
    assert widget.sent[-1] == {"event": "open-failed", "request": "early"}
    assert card(widget)["error"] == "Connect failed: this desktop is not ready to connect"
    assert widget.launcher["message"] == ""
    click(widget, "end", key=card(widget)["key"])
    eventually(lambda: card(widget)["state"] == "ended", timeout=60)
    assert card(widget)["error"] == ""
    widget.close()
