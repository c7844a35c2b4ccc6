"""A desktop on a powered-down cloud node: the card walks through "node starting" (Slurm's
CONFIGURING while the ResumeProgram boots the node) to ready, as on AWS ParallelCluster."""

from __future__ import annotations

import subprocess
import time

import pytest

from dcv_widget.api import DesktopHandle
from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import DesktopSession, SessionState

CLOUD_NODE = "dcv-cloud-1"
LOCAL_SLURM = "/usr/local/sbin/dcv-widget-local-slurm"


def node_state() -> str:
    return subprocess.run(
        ["sinfo", "--noheader", "--Node", f"--nodes={CLOUD_NODE}", "--format=%t"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture
def powered_down_cloud_node() -> None:
    """The cloud node off, as a fresh cluster has it (an earlier run may have left it up)."""
    if not node_state().endswith("~"):
        subprocess.run(["sudo", "-n", LOCAL_SLURM, "power-save-now"], check=True)
    deadline = time.monotonic() + 120
    while not node_state().endswith("~"):
        assert time.monotonic() < deadline, f"{CLOUD_NODE} did not power down: {node_state()}"
        time.sleep(1)


@pytest.mark.usefixtures("powered_down_cloud_node")
def test_a_cloud_node_is_powered_up_for_a_desktop(manager: SessionManager) -> None:
    seen: list[DesktopSession] = []
    manager.subscribe(seen.append)
    handle = DesktopHandle(
        manager, manager.launch(LaunchRequest(partition="dcv-cloud", time="5")).key
    )
    try:
        handle.wait_ready(timeout=240)
        starting = [s for s in seen if s.key == handle.key and s.state == SessionState.STARTING]
        assert starting, [s.state.value for s in seen]
        assert starting[0].detail.startswith(f"powering up {CLOUD_NODE}")
        # No time left while the node boots (Slurm restarts the job's clock once it is up),
        # then the full limit from the job's start on the booted node, never moved.
        assert all(s.ends_at is None for s in starting)
        shown = {s.ends_at for s in seen if s.key == handle.key and s.ends_at is not None}
        started_at = handle.session.started_at
        assert started_at is not None and shown == {started_at + 5 * 60}
        assert handle.session.node == CLOUD_NODE
        assert handle.connect_url().startswith("https://127.0.0.1:")
    finally:
        handle.end()
    assert handle.session.outcome == "cancelled"
