"""The lifecycle beyond the happy path, on the real local Slurm: failures say why, a desktop
that never comes up is cancelled, a restarted kernel re-attaches, a scheduler outage is shown
and survived."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dcv_widget.api import DesktopFailed, DesktopHandle, end
from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import ENDING_ASKED, DesktopSession, SessionState
from dcv_widget.transport.base import CommandResult, TransportError
from dcv_widget.transport.local import LocalTransport

FAKES = Path(__file__).parents[1] / "fakes"
LOCAL_SLURM = "/usr/local/sbin/dcv-widget-local-slurm"


def is_ended(session: DesktopSession) -> bool:
    return session.state == SessionState.ENDED


def test_a_failing_job_says_why_with_its_log(
    manager: SessionManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sbatch hands the submitter's environment to the job: the node has no noVNC client there.
    monkeypatch.setenv("DCV_WIDGET_NOVNC_WEB", "/nonexistent/novnc")
    handle = DesktopHandle(manager, manager.launch(LaunchRequest(partition="dcv", time="5")).key)
    with pytest.raises(DesktopFailed, match="the noVNC web client is not in /nonexistent/novnc"):
        handle.wait_ready(timeout=120)
    session = handle.session
    assert session.outcome == "failed"
    assert "install novnc" in session.detail
    assert "ERROR: the noVNC web client" in session.log_tail
    # The job's last word was read, and stays for any other manager following the job (the
    # server's panel) until a sweep; its other files are gone.
    paths = manager.paths()
    assert Path(paths.end_file(session.job_id)).exists()
    assert not Path(paths.started_file(session.job_id)).exists()
    assert not Path(paths.session_file(session.job_id)).exists()


def test_a_desktop_that_never_starts_is_failed_and_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", f"{FAKES / 'hung'}:{Path('/usr/bin')}:{Path('/bin')}")
    manager = SessionManager(fast_poll=0.3, slow_poll=1.0, startup_timeout=4)
    session = manager.launch(LaunchRequest(partition="dcv", time="5"))
    session = manager.wait_for(session.key, is_ended, timeout=120)
    assert session.outcome == "failed"
    assert "did not start within" in session.detail
    assert "starting the desktop" in session.log_tail
    deadline = time.monotonic() + 60
    while subprocess.run(
        ["squeue", "--noheader", f"--jobs={session.job_id}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip():
        assert time.monotonic() < deadline, "the hung desktop's job was not cancelled"
        time.sleep(0.5)


def test_a_new_kernel_reattaches_to_live_desktops(manager: SessionManager) -> None:
    first = DesktopHandle(manager, manager.launch(LaunchRequest(partition="dcv", time="10")).key)
    first.wait_ready(timeout=120)
    url = first.connect_url()
    started = first.session

    restarted = SessionManager(fast_poll=0.3, slow_poll=1.0)  # what a kernel restart leaves
    adopted = restarted.rediscover()
    assert first.key in [s.key for s in adopted]
    again = DesktopHandle(restarted, first.key)
    again.wait_ready(timeout=30)
    assert again.job_id == first.job_id
    assert again.connect_url() == url
    # Running since the job started, as Slurm says, not since this kernel first saw it; the
    # same time left.
    assert started.started_at is not None and started.ends_at is not None
    assert again.session.since == started.since == started.started_at
    assert again.session.ends_at == started.ends_at == started.started_at + 10 * 60
    assert restarted.rediscover() == []  # nothing adopted twice
    again.end()
    assert again.session.outcome == "cancelled"


def test_ending_shows_at_once_and_several_end_side_by_side(manager: SessionManager) -> None:
    handles = [
        DesktopHandle(manager, manager.launch(LaunchRequest(partition="dcv", time="5")).key)
        for _ in range(2)
    ]
    for handle in handles:
        handle.wait_ready(timeout=120)
    events: list[tuple[str, str, str]] = []
    manager.subscribe(lambda s: events.append((s.key, s.display_state, s.detail)))

    end(*handles, timeout=120)

    assert [h.session.outcome for h in handles] == ["cancelled", "cancelled"]
    for handle in handles:
        # Ending from the call on, before scancel ran (its answer changes the words).
        told = [(state, detail) for key, state, detail in events if key == handle.key]
        told = [t for t in told if t[0] != "ready"]  # a route worked out meanwhile
        assert told[0] == ("ending", ENDING_ASKED)
        assert told[-1][0] == "ended"
    # Slurm took both cancels before either desktop was seen ended: side by side, not in turn.
    first_end = next(i for i, (_, state, _) in enumerate(events) if state == "ended")
    asked = {key for key, _, detail in events[:first_end] if detail.startswith("Slurm is")}
    assert asked == {h.key for h in handles}


@pytest.mark.skipif(not Path(LOCAL_SLURM).exists(), reason="needs scripts/test.sh's sudo rule")
def test_scheduler_outage_is_shown_then_survived(
    manager: SessionManager, jobs_of_launch: Callable[[str], list[str]]
) -> None:
    handle = DesktopHandle(manager, manager.launch(LaunchRequest(partition="dcv", time="10")).key)
    handle.wait_ready(timeout=120)
    subprocess.run(["sudo", "-n", LOCAL_SLURM, "stop-controller"], check=True)
    try:
        manager.poll_now()
        unreachable = manager.wait_for(handle.key, lambda s: s.unreachable, timeout=60)
        assert unreachable.state == SessionState.READY  # never "ended" because a query failed
    finally:
        subprocess.run(["sudo", "-n", LOCAL_SLURM, "start"], check=True)
    manager.poll_now()
    back = manager.wait_for(handle.key, lambda s: not s.unreachable, timeout=120)
    assert back.state == SessionState.READY
    assert jobs_of_launch(handle.key) == [handle.job_id]
    handle.end()


class LosesFirstSbatchAnswer(LocalTransport):
    """The real local transport, except that the first sbatch's answer is lost on the way
    back (as when a submission times out): the job exists, the caller does not know its id."""

    def __init__(self) -> None:
        self.lost = False

    def run(self, argv: list[str], **kwargs: Any) -> CommandResult:
        result = super().run(argv, **kwargs)
        if argv[0] == "sbatch" and not self.lost:
            self.lost = True
            raise TransportError("sbatch did not answer within 30 s")
        return result


def test_a_lost_sbatch_answer_does_not_submit_twice(
    jobs_of_launch: Callable[[str], list[str]],
) -> None:
    transport = LosesFirstSbatchAnswer()
    manager = SessionManager(transport, fast_poll=0.3, slow_poll=1.0)
    handle = DesktopHandle(manager, manager.launch(LaunchRequest(partition="dcv", time="5")).key)
    try:
        handle.wait_ready(timeout=120)
        assert transport.lost
        assert jobs_of_launch(handle.key) == [handle.job_id]
    finally:
        handle.end()


def test_a_rediscover_during_sbatch_keeps_the_launch_request(
    manager: SessionManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The notebook's `Desktop()` rediscovers while another cell's launch is inside sbatch: the
    # job is in the queue, its id not yet recorded. The launch keeps its own request (2 CPUs),
    # not the default one a job comment describes, and is followed once, not adopted.
    submit = manager.slurm.submit
    seen: list[list[DesktopSession]] = []

    def submit_then_rediscover(*args: Any, **kwargs: Any) -> str:
        job_id = submit(*args, **kwargs)
        seen.append(manager.rediscover())
        return job_id

    monkeypatch.setattr(manager.slurm, "submit", submit_then_rediscover)
    request = LaunchRequest(partition="dcv", time="5", cpus=2)
    handle = DesktopHandle(manager, manager.launch(request).key)
    handle.wait_ready(timeout=120)
    assert seen == [[]]
    assert handle.session.request == request
    assert [s.key for s in manager.sessions()] == [handle.key]
    handle.end()


def test_without_a_slurm_client_a_launch_fails_at_once_saying_how_to_reach_the_cluster(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """JupyterLab on a laptop: no Slurm command on PATH and no ssh_host. A missing command is
    not the controller being away: no retry (a retry marks the card unreachable first)."""
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no sbatch, squeue or sinfo
    manager = SessionManager(fast_poll=0.3, slow_poll=1.0)
    seen: list[DesktopSession] = []
    manager.subscribe(seen.append)
    session = manager.launch(LaunchRequest(partition="dcv", time="5"))
    session = manager.wait_for(session.key, is_ended, timeout=60)
    assert session.outcome == "failed to submit" and session.job_id == ""
    assert session.detail.startswith(
        "this machine has no Slurm client ('sbatch' is not on this machine's PATH)"
    )
    assert 'c.DesktopSettings.ssh_host = "<head node>" in jupyter_dcv_widget_config.py' in (
        session.detail
    )
    assert "try again later" not in session.detail
    assert not any(s.unreachable for s in seen)  # never retried
