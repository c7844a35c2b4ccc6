"""Accounting on the local Slurm's real slurmdbd (scripts/local-slurm.sh, docs/development.md):
how jobs ended as sacct tells it once they have left squeue, and what QOS and their limits do.

The local Slurm keeps a finished job in squeue for MinJobAge (300 s, as most clusters), so a
followed desktop's end state normally comes from squeue; these tests take the sacct path on real
finished jobs: the backend's call itself, and a manager whose squeue no longer lists the job.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.reasons import reason
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import FINAL_STATES, DesktopSession, SessionState, observe
from dcv_widget.desktops.slurm import JobStatus, SlurmBackend
from dcv_widget.transport.local import LocalTransport
from dcv_widget.ui.desktop_cards import card_for

if TYPE_CHECKING:
    from tests.integration.counting import CountingTransport
else:
    from counting import CountingTransport


def eventually(check: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in time: {what()}")
        time.sleep(0.5)


def sbatch(*options: str, script: str) -> subprocess.CompletedProcess[str]:
    """A plain job of the test user on partition dcv (sbatch's answer, refusals included)."""
    return subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--partition=dcv",
            "--output=/dev/null",
            "--chdir=/tmp",
            *options,
            f"--wrap={script}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def submitted(*options: str, script: str) -> str:
    done = sbatch(*options, script=script)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split(";")[0]


def sacct_lines(job_ids: list[str]) -> dict[str, str]:
    """sacct's state of each job's allocation (not its steps), as it prints it."""
    out = subprocess.run(
        [
            "sacct",
            "--noheader",
            "--parsable2",
            "--allocations",
            "--format=JobIDRaw,State",
            f"--jobs={','.join(job_ids)}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split("|", 1) for line in out.splitlines() if "|" in line)


def squeue_state(job_id: str) -> str:
    return subprocess.run(
        ["squeue", "--noheader", f"--jobs={job_id}", "--states=all", "--format=%T"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()


@pytest.fixture(scope="module", autouse=True)
def ending_jobs() -> Iterator[dict[str, str]]:
    """Real jobs of the test user, each ending its own way, by the state sacct will give.
    Started before the module's other tests: the time limit's takes longest and runs out
    meanwhile. Its owner moves its end to now (`scontrol update EndTime=now`, as a user may),
    and Slurm's next time-limit check (every 30 s) ends it: a minute-long limit, Slurm's
    least, would take 60-90 s."""
    jobs = {
        "TIMEOUT": submitted("--time=5", script="sleep 300"),
        "COMPLETED": submitted("--time=5", script="true"),
        "FAILED": submitted("--time=5", script="exit 3"),
        "CANCELLED": submitted("--time=5", script="sleep 300"),
        # Never gets a node: it asks for more CPUs than any node has (PartitionConfig).
        "CANCELLED before it started": submitted("--time=5", "--cpus-per-task=64", script="true"),
    }
    try:
        running = (jobs["TIMEOUT"], jobs["CANCELLED"])
        eventually(
            lambda: all(squeue_state(job) == "RUNNING" for job in running),
            timeout=300,  # other tests' desktops may fill the node for a while
            what=lambda: str([squeue_state(job) for job in running]),
        )
        subprocess.run(
            ["scontrol", "update", f"jobid={jobs['TIMEOUT']}", "EndTime=now"], check=True
        )
        subprocess.run(["scancel", jobs["CANCELLED"], jobs["CANCELLED before it started"]])
        yield jobs
    finally:
        subprocess.run(["scancel", *jobs.values()], check=False)


def test_a_desktop_whose_job_left_the_queue_ends_as_sacct_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A followed desktop whose job someone else cancelled, and which squeue no longer lists
    by the next poll (its MinJobAge passed while the kernel was away, say): the manager asks
    sacct, once, and the card says it was cancelled."""
    transport = CountingTransport()
    manager = SessionManager(transport, fast_poll=0.3, slow_poll=1.0)
    key = manager.launch(LaunchRequest(partition="dcv", time="5")).key
    try:
        eventually(
            lambda: manager.get(key).state == SessionState.READY,
            timeout=300,
            what=lambda: str(manager.get(key)),
        )
        job = manager.get(key).job_id
        # squeue as it is once MinJobAge has passed: an ended job is no longer listed.
        listed = manager.slurm.jobs

        def live_jobs() -> dict[str, JobStatus]:
            return {i: j for i, j in listed().items() if j.state not in FINAL_STATES}

        monkeypatch.setattr(manager.slurm, "jobs", live_jobs)
        subprocess.run(["scancel", job], check=True)
        eventually(
            lambda: manager.get(key).state == SessionState.ENDED,
            timeout=120,
            what=lambda: str(manager.get(key)),
        )
        session = manager.get(key)
        assert session.outcome == "cancelled", session
        assert card_for(session)["outcome"] == "Ended: cancelled"
        assert transport.count("sacct") >= 1
    finally:
        manager.end(key).result()


def test_a_qos_the_user_may_not_use_is_refused_by_slurm() -> None:
    # `priority` exists, but no association of the local Slurm may use it.
    refused = sbatch("--time=5", "--qos=priority", script="true")
    assert refused.returncode != 0
    assert "Invalid qos specification" in refused.stderr
    # `class` belongs to the class101 account only: not with the test user's default account.
    assert "Invalid qos specification" in sbatch("--time=5", "--qos=class", script="true").stderr
    job = submitted("--time=5", "--account=class101", "--qos=class", script="true")
    subprocess.run(["scancel", job], check=False)


def test_a_time_above_the_qos_maxwall_keeps_the_desktop_queued_with_words(
    manager: SessionManager,
) -> None:
    """The `desktop` QOS allows 4 hours a job: a 5-hour desktop pends for good with
    QOSMaxWallDurationPerJobLimit, and the card says what to change."""
    request = LaunchRequest(partition="dcv", time="5:00:00", qos="desktop")
    key = manager.launch(request).key
    eventually(
        lambda: manager.get(key).stuck,
        timeout=60,
        what=lambda: str(manager.get(key)),
    )
    session = manager.get(key)
    assert squeue_state(session.job_id) == "PENDING"
    assert session.never_reason == "QOSMaxWallDurationPerJobLimit"
    # The words reasons.py has for the code (its unit tests pin them), and what it asked for.
    words = reason("QOSMaxWallDurationPerJobLimit").words
    assert words.startswith("it asks for more wall time than your QOS allows per job")
    assert session.detail == f"{words} (it asks for 1 CPU for 5 h)"
    assert card_for(session)["tone"] == "stuck"


def test_sacct_says_how_each_job_ended_and_the_card_says_it_in_words(
    ending_jobs: dict[str, str],
) -> None:
    """Last in the module: the time limit ran out while the other tests ran."""
    ended_jobs = ending_jobs

    def all_ended() -> bool:
        states = sacct_lines(list(ended_jobs.values()))
        return len(states) == len(ended_jobs) and all(
            state.split()[0] in FINAL_STATES for state in states.values()
        )

    eventually(all_ended, timeout=120, what=lambda: str(sacct_lines(list(ended_jobs.values()))))
    raw = sacct_lines(list(ended_jobs.values()))
    # sacct as it really prints them: who cancelled (a uid) after the state.
    uid = subprocess.run(["id", "-u"], capture_output=True, text=True, check=True).stdout.strip()
    assert raw[ended_jobs["CANCELLED"]] == f"CANCELLED by {uid}"
    assert raw[ended_jobs["TIMEOUT"]] == "TIMEOUT"

    accounted = SlurmBackend(LocalTransport()).accounting(list(ended_jobs.values()))
    assert accounted is not None, "sacct said the cluster keeps no accounting"
    assert {how: accounted[job].state for how, job in ended_jobs.items()} == {
        "TIMEOUT": "TIMEOUT",
        "COMPLETED": "COMPLETED",
        "FAILED": "FAILED",
        "CANCELLED": "CANCELLED",
        "CANCELLED before it started": "CANCELLED",
    }
    assert accounted[ended_jobs["FAILED"]].nodes == "dcv-node-1"
    assert accounted[ended_jobs["CANCELLED before it started"]].nodes == ""

    def card(job: JobStatus) -> dict[str, object]:
        running = DesktopSession(
            request=LaunchRequest(partition="dcv", time="5"),
            key="k",
            job_id=job.job_id,
            state=SessionState.READY,
            furthest=SessionState.READY,
        )
        return card_for(observe(running, job=job, desktop_ready=False))

    outcomes = {how: card(accounted[job])["outcome"] for how, job in ended_jobs.items()}
    assert outcomes == {
        "TIMEOUT": "Ended: time limit reached",
        "COMPLETED": "Ended: completed",
        "FAILED": "Ended: failed",
        "CANCELLED": "Ended: cancelled",
        "CANCELLED before it started": "Ended: cancelled",
    }
    timeout = card(accounted[ended_jobs["TIMEOUT"]])
    assert timeout["advice"] == "Launch again with a longer time limit if you need more."
    assert timeout["tone"] == "ended"
    assert card(accounted[ended_jobs["FAILED"]])["tone"] == "failed"
