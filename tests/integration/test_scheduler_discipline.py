"""The manager's load on the shared slurmctld, against the real local Slurm.

The job's files carry a desktop's start, readiness and end to the kernel; squeue confirms and
runs at a slow pace otherwise. Counts here are of squeue calls (each a few slurmctld RPCs); the
RPCs per minute themselves are measured by benchmarks/scheduler_load.py.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import DesktopSession, SessionState

if TYPE_CHECKING:
    from tests.integration.counting import CountingTransport
else:
    from counting import CountingTransport


def is_ended(session: DesktopSession) -> bool:
    return session.state == SessionState.ENDED


def is_ready_or_ended(session: DesktopSession) -> bool:
    return session.state in (SessionState.READY, SessionState.ENDED)


class SilentFiles(CountingTransport):
    """A file channel that never shows a job's files in listings, as a network file system
    with cached listings can (reading a file by its name still works, later, as there)."""

    def list_files(self, folder: str) -> dict[str, float]:
        return {}


def launch_ready(manager: SessionManager) -> DesktopSession:
    """A desktop on dcv, launched and followed to READY."""
    session = manager.launch(LaunchRequest(partition="dcv", time="5"))
    session = manager.wait_for(session.key, is_ready_or_ended, timeout=120)
    assert session.state == SessionState.READY, session.detail
    return session


def end_all(manager: SessionManager) -> None:
    for session in manager.sessions():
        if session.state != SessionState.ENDED:
            manager.end(session.key).result(timeout=30)
    for session in manager.sessions():
        manager.wait_for(session.key, is_ended, timeout=90)


def test_a_queued_desktop_is_asked_about_at_the_waiting_pace_only() -> None:
    # dcv-maint is down: the job stays queued. The old loop asked every fast poll (here 0.2 s).
    transport = CountingTransport()
    manager = SessionManager(transport, fast_poll=0.2, slow_poll=8.0)
    try:
        session = manager.launch(LaunchRequest(partition="dcv-maint", time="5"))
        session = manager.wait_for(
            session.key,
            lambda s: s.state == SessionState.QUEUED and s.detail != "submitted",
            timeout=30,
        )
        assert session.state == SessionState.QUEUED and session.stuck, session.detail
        before = transport.count("squeue")
        time.sleep(10)  # 50 fast polls; the queue's words at 5 and 15 s and the 8 s pace: <= 3
        assert transport.count("squeue") - before <= 3
    finally:
        end_all(manager)


def test_start_and_readiness_come_from_the_job_files_with_a_few_squeues() -> None:
    # With squeue's regular pace at twenty minutes, only the files' news moves the desktop on.
    transport = CountingTransport()
    manager = SessionManager(transport, fast_poll=0.3, slow_poll=1200.0)
    try:
        session = launch_ready(manager)
        # One after the submit, one to confirm the start marker (and perhaps one more while
        # Slurm catches up with the file): not one per fast poll.
        assert transport.count("squeue") <= 4
        before = transport.count("squeue")
        time.sleep(3)  # a ready desktop: only listings, no squeue
        assert transport.count("squeue") == before

        ended = manager.end(session.key)
        ended.result(timeout=30)
        session = manager.wait_for(session.key, is_ended, timeout=60)
        assert session.outcome == "cancelled"
        # The End's own confirmation and a few while the job cleans up on its node.
        assert transport.count("squeue") - before <= 8
    finally:
        end_all(manager)


def test_a_silent_file_channel_leaves_squeue_to_carry_the_lifecycle() -> None:
    transport = SilentFiles()
    manager = SessionManager(transport, fast_poll=0.3, slow_poll=3.0)
    try:
        session = launch_ready(manager)
        manager.end(session.key).result(timeout=30)
        session = manager.wait_for(session.key, is_ended, timeout=60)
        assert session.outcome == "cancelled"
        assert session.detail  # the job's last word, read by its name
    finally:
        end_all(manager)


def test_a_job_gone_without_a_word_is_noticed_at_the_slow_pace() -> None:
    # A node failure or a SIGKILL: no last word, no file; only squeue can tell.
    transport = CountingTransport()
    manager = SessionManager(transport, fast_poll=0.3, slow_poll=4.0)
    try:
        session = launch_ready(manager)
        done = transport.run(["scancel", "--signal=KILL", "--full", session.job_id])
        assert done.ok, done.stderr
        session = manager.wait_for(session.key, is_ended, timeout=60)
        assert session.outcome in ("cancelled", "failed", "ended"), session.outcome
    finally:
        end_all(manager)
