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


def job(state: str, reason: str = "None", nodes: str = "") -> JobStatus:
    return JobStatus("42", state, reason, nodes, "59:00", "dcv", "dcv-widget:novnc:k")


def submitted() -> DesktopSession:
    return DesktopSession(request=LaunchRequest(), key="k", job_id="42", state=SessionState.QUEUED)


def test_pending_reasons_are_plain_words() -> None:
    session = observe(submitted(), job("PENDING", "Resources"), desktop_ready=False)
    assert session.state == SessionState.QUEUED
    assert session.detail == "waiting for a free node"
    down = observe(submitted(), job("PENDING", "PartitionDown"), desktop_ready=False)
    assert "partition is down" in down.detail


def test_unknown_reason_is_shown_as_slurm_says_it() -> None:
    session = observe(submitted(), job("PENDING", "SomeNewReason"), desktop_ready=False)
    assert session.detail == "waiting (SomeNewReason)"


def test_configuring_node_is_starting() -> None:
    session = observe(submitted(), job("CONFIGURING", nodes="dcv-dy-1"), desktop_ready=False)
    assert session.state == SessionState.STARTING
    assert session.detail.startswith("powering up dcv-dy-1 (a cloud node usually takes")


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
    }
    for state, outcome in cases.items():
        ended = observe(submitted(), job(state), desktop_ready=False)
        assert ended.state == SessionState.ENDED
        assert ended.outcome == ended.detail == outcome


def test_completing_keeps_the_step_and_polls_fast() -> None:
    ready = replace(submitted(), state=SessionState.READY)
    completing = observe(ready, job("COMPLETING"), desktop_ready=False)
    assert completing.state == SessionState.READY
    assert completing.ending and completing.active


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
