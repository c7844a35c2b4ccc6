"""A requeued desktop job against the real local Slurm: `scontrol requeue` (which a user may run
on their own job), as a node failure with JobRequeue=1 (Slurm's default) also requeues it. The
job is COMPLETING while its clean-up runs, then PENDING (BeginTime), then runs again. Nobody
clicked End, so the card must not stay Ending. (On the cloud partition: its node is this
test's alone, while other tests keep the regular node busy.)"""

from __future__ import annotations

import time

from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import DesktopSession, SessionState
from dcv_widget.transport.local import LocalTransport


def is_ready_or_ended(session: DesktopSession) -> bool:
    return session.state in (SessionState.READY, SessionState.ENDED)


def test_a_requeued_desktop_shows_queued_not_ending() -> None:
    transport = LocalTransport()
    manager = SessionManager(transport, fast_poll=0.3, slow_poll=4.0)
    session = manager.launch(LaunchRequest(partition="dcv-cloud", time="5"))
    try:
        session = manager.wait_for(session.key, is_ready_or_ended, timeout=240)
        assert session.state == SessionState.READY, session.detail
        done = transport.run(["scontrol", "requeue", session.job_id])
        assert done.ok, done.stderr
        deadline = time.monotonic() + 60
        while True:
            state = transport.run(["squeue", "-h", "-j", session.job_id, "-o", "%T"])
            if state.stdout.strip() == "PENDING":
                break
            assert time.monotonic() < deadline, state.stdout
            time.sleep(0.5)
        # Slurm lists the job queued again: the card must follow within the waiting pace.
        session = manager.wait_for(
            session.key,
            lambda s: s.state == SessionState.QUEUED and s.display_state == "queued",
            timeout=15,
        )
    finally:
        current = manager.get(session.key)
        if current.job_id and current.state != SessionState.ENDED:
            manager.end(session.key).result(timeout=30)
            manager.wait_for(session.key, lambda s: s.state == SessionState.ENDED, timeout=90)
        manager.close()
