"""The lifecycle state machine: what a person reads for each thing Slurm says."""

from __future__ import annotations

from dataclasses import replace

from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import (
    DesktopSession,
    SessionState,
    observe,
    vanished,
    with_last_word,
)
from dcv_widget.desktops.session_file import LastWord
from dcv_widget.desktops.slurm import JobStatus


def job(state: str, reason: str = "None", nodes: str = "", **times: float) -> JobStatus:
    return JobStatus("42", state, reason, nodes, "59:00", "dcv", "dcv-widget:novnc:k", **times)


def submitted() -> DesktopSession:
    return DesktopSession(request=LaunchRequest(), key="k", job_id="42", state=SessionState.QUEUED)


def test_pending_reasons_are_plain_words() -> None:
    session = observe(submitted(), job("PENDING", "Resources"), desktop_ready=False)
    assert session.state == SessionState.QUEUED
    assert session.detail == "waiting for a free node"
    down = observe(submitted(), job("PENDING", "PartitionDown"), desktop_ready=False)
    assert "partition is down, so this desktop will not start by itself" in down.detail


def test_unknown_reason_is_shown_as_slurm_says_it() -> None:
    session = observe(submitted(), job("PENDING", "SomeNewReason"), desktop_ready=False)
    assert session.detail == "waiting (SomeNewReason)"


def test_configuring_node_is_starting() -> None:
    session = observe(submitted(), job("CONFIGURING", nodes="dcv-dy-1"), desktop_ready=False)
    assert session.state == SessionState.STARTING
    assert session.detail == "powering up dcv-dy-1"  # how long: the site's, on the card


def test_waiting_for_resources_says_gpu_when_gpus_were_asked_for() -> None:
    gpu = replace(submitted(), request=LaunchRequest(gpus=1))
    assert observe(gpu, job("PENDING", "Resources"), False).detail == "waiting for a free GPU node"


def test_running_without_session_file_is_launching_then_ready() -> None:
    launching = observe(submitted(), job("RUNNING", nodes="n1"), desktop_ready=False)
    assert launching.state == SessionState.LAUNCHING
    assert launching.node == "n1"
    ready = observe(launching, job("RUNNING", nodes="n1"), desktop_ready=True)
    assert ready.state == SessionState.READY
    assert not ready.active


def test_step_time_resets_only_on_a_new_state() -> None:
    first = observe(submitted(), job("PENDING", "Priority"), desktop_ready=False)
    again = observe(first, job("PENDING", "Resources"), desktop_ready=False)
    assert again.since == first.since
    assert again.detail == "waiting for a free node"


def test_final_states_end_the_session_with_an_outcome() -> None:
    cases = {
        "CANCELLED": "cancelled",
        "TIMEOUT": "time limit reached",
        "COMPLETED": "completed",
        "NODE_FAIL": "failed: the node failed",
        # Not produced by the local Slurm (no memory enforcement there: docs/development.md).
        "OUT_OF_MEMORY": "failed: out of memory",
    }
    for state, outcome in cases.items():
        ended = observe(submitted(), job(state), desktop_ready=False)
        assert ended.state == SessionState.ENDED
        assert ended.outcome == ended.detail == outcome


def test_completing_keeps_the_step_and_polls_fast() -> None:
    ready = replace(submitted(), state=SessionState.READY)
    completing = observe(ready, job("COMPLETING", end_time=T0 + 60), desktop_ready=False)
    assert completing.state == SessionState.READY
    assert completing.ending and completing.active
    assert completing.display_state == "ending"
    assert completing.since == T0 + 60  # ending since Slurm ended the job
    assert completing.ends_at is None  # a completing job's EndTime is its end, not its limit


T0 = 1_700_000_000.0  # a Slurm time (epoch seconds, in the past)


def test_times_are_slurms_so_a_reattached_desktop_shows_its_true_age() -> None:
    # A new manager adopts a desktop queued and started long before it (since: now).
    adopted = submitted()
    queued = observe(adopted, job("PENDING", submitted_at=T0), desktop_ready=False)
    assert queued.since == T0
    running = job("RUNNING", nodes="n1", submitted_at=T0, started_at=T0 + 5, end_time=T0 + 905)
    ready = observe(adopted, running, desktop_ready=True)
    assert (ready.state, ready.since) == (SessionState.READY, T0 + 5)
    assert (ready.started_at, ready.ends_at) == (T0 + 5, T0 + 905)
    launching = observe(adopted, running, desktop_ready=False)
    assert launching.since == T0 + 5
    assert observe(launching, running, desktop_ready=True).since == T0 + 5


def test_no_time_left_while_a_cloud_node_boots_then_slurms_end_time() -> None:
    # Slurm restarts the job's clock once the node is up: a time left shown before would jump.
    booting = job("CONFIGURING", nodes="c1", started_at=T0, end_time=T0 + 900)
    starting = observe(submitted(), booting, desktop_ready=False)
    assert (starting.state, starting.since, starting.ends_at) == (SessionState.STARTING, T0, None)
    up = job("RUNNING", nodes="c1", started_at=T0 + 30, end_time=T0 + 930)
    launching = observe(starting, up, desktop_ready=False)
    assert (launching.since, launching.ends_at) == (T0 + 30, T0 + 930)
    # An administrator extends the limit: the time left follows.
    extended = replace(up, end_time=T0 + 1830)
    assert observe(launching, extended, desktop_ready=False).ends_at == T0 + 1830


def test_an_ending_desktop_stays_ending_since_end_whatever_the_job_does_meanwhile() -> None:
    running = job("RUNNING", nodes="n1", started_at=T0, end_time=T0 + 900)
    ready = observe(submitted(), running, desktop_ready=True)
    ending = ready.start_ending()
    assert ending.ending and ending.display_state == "ending" and ending.since > T0
    assert ending.start_ending() is ending
    asked = ending.ending_asked()
    assert "cleans up on its node" in asked.detail
    # scancel sent, the job still reported running, then completing: still Ending, same time.
    for state in ("RUNNING", "COMPLETING"):
        seen = observe(asked, replace(running, state=state), desktop_ready=True)
        assert (seen.state, seen.ending, seen.detail, seen.since) == (
            SessionState.READY,
            True,
            asked.detail,
            asked.since,
        )
    ended = observe(asked, replace(running, state="CANCELLED"), desktop_ready=False)
    assert ended.state == SessionState.ENDED and ended.display_state == "ended"
    queued_end = submitted().start_ending().ending_asked()
    assert queued_end.detail == "Slurm is taking the job out of the queue"


def test_end_clicked_while_sbatch_ran_stays_ending() -> None:
    clicked = DesktopSession(request=LaunchRequest(), key="k").start_ending()
    queued = clicked.submitted("42")
    assert (queued.state, queued.job_id, queued.ending) == (SessionState.QUEUED, "42", True)
    assert (queued.detail, queued.since) == (clicked.detail, clicked.since)
    assert queued.furthest == SessionState.QUEUED
    plain = DesktopSession(request=LaunchRequest(), key="k").submitted("42")
    assert (plain.state, plain.detail, plain.ending) == (SessionState.QUEUED, "submitted", False)


def test_a_job_that_failed_on_its_node_got_there_even_if_last_seen_queued() -> None:
    failed = observe(submitted(), job("FAILED", nodes="n1"), desktop_ready=False)
    assert failed.furthest == SessionState.LAUNCHING
    boot = observe(submitted(), job("BOOT_FAIL", nodes="c1"), desktop_ready=False)
    assert boot.furthest == SessionState.STARTING
    # A cancel says nothing of how far it got; a job without a node never left the queue.
    for gone in (job("CANCELLED", nodes="n1"), job("FAILED")):
        assert observe(submitted(), gone, desktop_ready=False).furthest == submitted().furthest
    # Only the job script on the node writes a last word.
    vanished_one = vanished(submitted())
    word = LastWord("failed", "Xvnc did not start", "k")
    assert with_last_word(vanished_one, word, "").furthest == SessionState.LAUNCHING


def test_vanished_job_is_not_called_completed() -> None:
    ended = vanished(submitted())
    assert ended.state == SessionState.ENDED
    assert ended.outcome == "ended"
    assert "completed" not in ended.detail


def test_last_word_tells_how_a_vanished_job_ended() -> None:
    word = LastWord("signal", "stopped by Slurm (End, scancel or the time limit)", "k")
    told = with_last_word(vanished(submitted()), word, log_tail="")
    assert (told.outcome, told.detail) == ("stopped", word.reason)


def test_last_word_turns_a_plain_end_into_an_idle_stop() -> None:
    ended = observe(submitted(), job("COMPLETED"), desktop_ready=False)
    word = LastWord("idle", "idle: no connection for 30 minutes", "k")
    told = with_last_word(ended, word, log_tail="ignored")
    assert (told.outcome, told.detail, told.log_tail) == ("idle stop", word.reason, "")


def test_a_failure_keeps_the_log_tail() -> None:
    ended = observe(submitted(), job("FAILED"), desktop_ready=False)
    word = LastWord("failed", "Xvnc did not start", "k")
    told = with_last_word(ended, word, log_tail="line 1\nline 2")
    assert (told.outcome, told.detail, told.log_tail) == (
        "failed",
        "Xvnc did not start",
        "line 1\nline 2",
    )


def test_last_word_of_another_launch_is_ignored() -> None:
    ended = observe(submitted(), job("CANCELLED"), desktop_ready=False)
    told = with_last_word(ended, LastWord("idle", "idle", "another"), log_tail="")
    assert told.outcome == "cancelled"


def test_ended_is_final() -> None:
    ended = observe(submitted(), job("CANCELLED"), desktop_ready=False)
    assert observe(ended, job("RUNNING"), desktop_ready=True) is ended


def test_a_desktop_that_never_starts_by_itself_is_stuck_and_says_what_it_asks_for() -> None:
    big = replace(submitted(), request=LaunchRequest(cpus=64, gpus=1, memory="16G"))
    config = observe(big, job("PENDING", "PartitionConfig"), desktop_ready=False)
    assert config.stuck and config.state == SessionState.QUEUED
    assert config.detail.endswith("(it asks for 64 CPUs, 1 GPU, 16G for 1 h)")
    typed = replace(big, request=LaunchRequest(cpus=2, gpus=2, gpu_type="a10g"))
    assert observe(typed, job("PENDING", "PartitionConfig"), False).detail.endswith(
        "(it asks for 2 CPUs, 2 a10g GPUs for 1 h)"
    )
    assert observe(submitted(), job("PENDING", "JobHeldUser"), False).stuck
    assert not observe(submitted(), job("PENDING", "QOSMaxCpuPerUserLimit"), False).stuck
    # Once the reason lifts, it is no longer stuck; once End is asked for, neither.
    assert not observe(config, job("PENDING", "Resources"), False).stuck
    assert not config.start_ending().stuck


def test_a_queued_desktop_carries_slurms_expected_start_until_it_starts() -> None:
    queued = observe(submitted(), job("PENDING", "Resources", expected_start=1795964840.0), False)
    assert queued.expected_start == 1795964840.0
    moved = observe(queued, job("PENDING", "Resources", expected_start=1795965000.0), False)
    assert moved.expected_start == 1795965000.0  # each squeue's own estimate
    assert observe(moved, job("PENDING", "Priority"), False).expected_start is None
    running = observe(moved, job("RUNNING", nodes="n1", started_at=1795964900.0), False)
    assert running.expected_start is None
