"""The Desktop widget driven as the browser would, through its messages, on the real Slurm."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from dcv_widget.manager import SessionManager
from dcv_widget.widget import Desktop


class RecordingDesktop(Desktop):
    """The real widget; custom messages to the browser are recorded instead of sent."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: list[dict[str, Any]] = []

    def send(self, content: dict[str, Any], buffers: Any = None) -> None:
        self.sent.append(content)


def eventually(check: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


def click(widget: Desktop, action: str, **extra: str) -> None:
    widget._on_message(widget, {"action": action, **extra}, None)


def test_widget_follows_a_desktop_and_never_syncs_its_secret(manager: SessionManager) -> None:
    widget = RecordingDesktop(manager=manager, attach=False, partition="dcv", time="5")
    assert widget.actions == ["launch"]

    # A Connect the kernel cannot honour is answered, so the browser closes the tab it opened.
    click(widget, "connect", request="early")
    eventually(lambda: bool(widget.sent))
    assert widget.sent[-1] == {"event": "open-failed", "request": "early"}
    assert "not ready" in widget.error

    click(widget, "launch")
    assert widget.actions == ["end"]
    eventually(lambda: widget.state == "ready")
    assert widget.actions == ["connect", "end"]
    assert widget.job_id.isdigit() and widget.node == "dcv-node-1"
    with pytest.raises(RuntimeError, match="already follows desktop"):
        widget.launch()

    click(widget, "connect", request="r1")
    eventually(lambda: widget.sent[-1].get("event") == "open")
    answer = widget.sent[-1]
    assert answer["request"] == "r1"
    secret = answer["url"].split("password=", 1)[1]
    # Everything synced to the browser (and saved into the .ipynb) is free of the secret.
    assert secret not in json.dumps(widget.get_state(), default=str)

    click(widget, "end")
    eventually(lambda: widget.state == "ended", timeout=60)
    assert widget.outcome == "cancelled"
    assert widget.actions == ["launch"]
    widget.close()


def test_actions_the_kernel_did_not_offer_are_ignored(manager: SessionManager) -> None:
    widget = RecordingDesktop(manager=manager, attach=False, partition="dcv", time="5")
    widget.actions = ["launch", "connect", "end"]  # as a tampering browser could set it
    click(widget, "end")
    click(widget, "connect", request="x")
    eventually(lambda: bool(widget.sent))
    assert widget.sent == [{"event": "open-failed", "request": "x"}]
    assert manager.sessions() == []
    widget.close()


def test_end_while_submitting_cancels_the_job(manager: SessionManager) -> None:
    widget = RecordingDesktop(manager=manager, attach=False, partition="dcv", time="5")
    click(widget, "launch")
    click(widget, "end")  # before sbatch has answered, most likely
    eventually(lambda: widget.state == "ended", timeout=60)
    assert widget.outcome == "cancelled"
    widget.close()
