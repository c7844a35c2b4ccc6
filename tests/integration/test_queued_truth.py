"""Queued cards tell the truth, on the real local Slurm (issue 15): Slurm's expected start of a
desktop queued behind a busy node, and a desktop that can never start stops the CLI's wait with
Slurm's reason in words."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from dcv_widget.api import DesktopHandle, DesktopStuck
from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import SessionState
from dcv_widget.ui.desktop import Desktop
from dcv_widget.ui.desktop_cards import EXPECTS, card_for, expected_words


def squeue(job_id: str, field: str) -> str:
    result = subprocess.run(
        ["squeue", "--noheader", f"--jobs={job_id}", f"--format={field}"],
        capture_output=True,
        text=True,
        check=False,
        env={"SLURM_TIME_FORMAT": "%s", "PATH": "/usr/bin:/bin"},
    )
    return result.stdout.strip()


def test_a_desktop_queued_behind_a_busy_node_carries_slurms_expected_start(
    manager: SessionManager, busy_node: str
) -> None:
    # The whole node: a few CPUs freed by another test's job ending would start a smaller one.
    handle = DesktopHandle(
        manager, manager.launch(LaunchRequest(partition="dcv", cpus=8, time="5")).key
    )
    try:
        # The backfill scheduler estimates starts every 30 s (bf_interval), `squeue --start`'s.
        session = manager.wait_for(handle.key, lambda s: s.expected_start is not None, 150)
        assert session.state == SessionState.QUEUED and not session.stuck
        assert session.expected_start is not None
        # Its estimate is on the kernel's clock, after now. How far: the filler holds the node
        # for 10 minutes at most, but other runs' jobs on the shared node, running or queued
        # ahead, may push it further (their end is no bound: one queued ahead starts first).
        assert time.time() - 5 < session.expected_start < time.time() + 24 * 3600
        assert squeue(session.job_id, "%S").isdigit()  # Slurm's own estimate, as squeue says
        card = card_for(session)
        assert card["expected_label"] == EXPECTS
        assert card["expected_start"] == session.expected_start
        words = expected_words(session)
        assert re.fullmatch(
            r"Slurm expects it to start (in about \d+ (min|h.*)|any moment now), at \d\d:\d\d.*",
            words,
        ), words
        assert squeue(session.job_id, "%T") == "PENDING"
    finally:
        handle.end()


def test_a_desktop_that_asks_for_more_cpus_than_any_node_has_is_stuck_with_words(
    manager: SessionManager,
) -> None:
    handle = DesktopHandle(
        manager, manager.launch(LaunchRequest(partition="dcv", cpus=64, time="5")).key
    )
    try:
        with pytest.raises(DesktopStuck) as stuck:
            handle.wait_ready(timeout=120)
        assert stuck.value.never
        session = handle.session
        # Slurm 22.05 accepts the job and keeps it pending for good with PartitionConfig.
        assert squeue(session.job_id, "%r") == "PartitionConfig"
        card = card_for(session)
        assert card["tone"] == "stuck"
        assert "can never start as asked" in card["detail"]
        assert card["detail"].endswith("(it asks for 64 CPUs for 5 min)")
        assert "PartitionConfig" not in card["detail"]
        assert card["expected_label"] == ""
    finally:
        handle.end()


def test_the_cli_stops_waiting_for_a_desktop_that_can_never_start() -> None:
    args = ["launch", "--partition", "dcv", "--cpus", "64", "--time", "5"]
    launched = subprocess.run(
        [sys.executable, "-m", "dcv_widget.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    err = launched.stderr
    assert launched.returncode == 1, (launched.stdout, err)
    # Warned before submitting (sinfo's biggest node), then Slurm's reason in words.
    assert "dcv-desktop: warning: No node of dcv has 64 CPUs (the most is 9)" in err
    found = re.search(r"dcv-desktop: desktop (\d+) will not start by itself: (.*)", err)
    assert found, err
    assert "can never start as asked: end it and launch with less" in found.group(2)
    assert found.group(2).endswith("Ended it (job " + found.group(1) + ")")
    assert "PartitionConfig" not in err
    # Ended: no job of it is left waiting in the queue.
    assert squeue(found.group(1), "%T") in ("", "CANCELLED")


def test_the_form_warns_under_cpus_gpus_and_memory_from_the_real_sinfo(
    manager: SessionManager,
) -> None:
    """The widget as the browser drives it: a warning under each field no node could satisfy,
    from the local Slurm's sinfo (dcv-node-1: 9 CPUs, one of them the class reservation's,
    8000 MB, two T4 GPUs); Launch stays on."""
    widget = Desktop(manager=manager, attach=False, partition="dcv", time="5")
    try:

        def warning(name: str) -> str:
            return str(next(f for f in widget.launcher["fields"] if f["name"] == name)["warning"])

        for name, value in (("cpus", "64"), ("gpus", "3"), ("memory", "16G")):
            widget._on_message(widget, {"action": "set", "field": name, "value": value}, None)
        deadline = time.monotonic() + 30  # the partitions come from sinfo, off this thread
        while not warning("cpus") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert warning("cpus").startswith("No node of dcv has 64 CPUs (the most is 9)")
        assert warning("gpus").startswith("No node of dcv has 3 GPUs (the most is 2)")
        assert warning("memory").startswith("No node of dcv has 16G of memory (the most is 8000")
        assert widget.launcher["can_launch"] is True
        widget._on_message(widget, {"action": "set", "field": "cpus", "value": "8"}, None)
        assert warning("cpus") == ""
    finally:
        widget.close()
