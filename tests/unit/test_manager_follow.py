"""The manager's following (job files fast, squeue slow) against a scripted Slurm and a real
sessions folder, with the poll rounds driven by the test on a fake clock: races with the kernel's
thread, confirmation streaks, and what several managers of one user do to each other's files."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import dcv_widget.desktops.manager as manager_module
from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.session import DesktopSession, SessionState
from dcv_widget.desktops.session_file import SessionPaths
from dcv_widget.desktops.slurm import ClusterClock, JobStatus, JobTag, job_comment
from dcv_widget.transport.local import LocalTransport


class Clock:
    """The manager's `time` module, moved on by the test."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class ScriptedSlurm:
    """squeue, sacct and scancel as the test says; counts the squeue calls."""

    def __init__(self) -> None:
        self.queue: dict[str, JobStatus] = {}
        self.accounted: dict[str, JobStatus] = {}
        self.squeues = 0
        self.clock = ClusterClock()
        self.on_cancel: Callable[[str], None] = lambda job_id: None

    def jobs(self) -> dict[str, JobStatus]:
        self.squeues += 1
        return dict(self.queue)

    def accounting(self, job_ids: list[str]) -> dict[str, JobStatus] | None:
        return {j: self.accounted[j] for j in job_ids if j in self.accounted}

    def cancel(self, job_id: str) -> None:
        self.on_cancel(job_id)

    def node_address(self, node: str) -> str:
        return "127.0.0.1"


def job(job_id: str, launch: str, state: str, nodes: str = "") -> JobStatus:
    comment = job_comment(JobTag("novnc", launch))
    return JobStatus(job_id, state, "None", nodes, "", "dcv", comment)


class Transport(LocalTransport):
    """The local transport on a test's home folder, with hooks into listing and reading."""

    def __init__(self, home: Path) -> None:
        super().__init__()
        self._home = str(home)
        self.on_list: Callable[[], None] = lambda: None
        self.on_read: Callable[[str], None] = lambda path: None

    def home(self) -> str:
        return self._home

    def list_files(self, folder: str) -> dict[str, float]:
        files = super().list_files(folder)
        self.on_list()
        return files

    def read_text(self, path: str) -> str | None:
        self.on_read(path)
        return super().read_text(path)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(manager_module, "time", clock)
    return clock


def make_manager(home: Path, slurm: ScriptedSlurm) -> tuple[SessionManager, Transport]:
    transport = Transport(home)
    manager = SessionManager(transport, fast_poll=1.0, slow_poll=60.0)
    manager.slurm = slurm  # type: ignore[assignment]
    # The test drives the rounds itself: no poll thread.
    manager._ensure_polling = lambda: None  # type: ignore[method-assign]
    paths = SessionPaths(str(home))
    Path(paths.sessions).mkdir(parents=True, exist_ok=True)
    return manager, transport


def write(home: Path, name: str, data: dict[str, object]) -> None:
    (Path(SessionPaths(str(home)).sessions) / name).write_text(json.dumps(data))


def ready_file(home: Path, job_id: str, launch: str) -> None:
    write(
        home,
        f"{job_id}.json",
        {"engine": "novnc", "host": "127.0.0.1", "port": 5901, "launch": launch, "secret": "s"},
    )


def by_key(manager: SessionManager, key: str) -> DesktopSession:
    return {s.key: s for s in manager.sessions()}[key]


def ended_awaiting_word(manager: SessionManager, slurm: ScriptedSlurm, *keys: str) -> None:
    """Adopt a running desktop per key, then let each job leave the queue without its last
    word yet: ended, its word awaited."""
    for n, key in enumerate(keys):
        slurm.queue[str(100 + n)] = job(str(100 + n), key, "RUNNING", "dcv-node-1")
    manager.rediscover()
    for n, key in enumerate(keys):
        del slurm.queue[str(100 + n)]
        slurm.accounted[str(100 + n)] = job(str(100 + n), key, "CANCELLED", "dcv-node-1")
    manager.poll_once()
    for key in keys:
        assert by_key(manager, key).state == SessionState.ENDED
    assert set(manager._awaiting_word) == set(keys)


def test_a_card_dismissed_during_the_listing_does_not_fail_the_round(
    tmp_path: Path, clock: Clock
) -> None:
    # The kernel's thread forgets an ended desktop (Dismiss) while the poll thread lists the
    # folder for the last words it still awaits.
    slurm = ScriptedSlurm()
    manager, transport = make_manager(tmp_path, slurm)
    ended_awaiting_word(manager, slurm, "k1")
    transport.on_list = lambda: manager.forget("k1")
    clock.now += 5
    manager._poll_round()  # was: KeyError, the round failed and polling paused 30 s
    assert manager._awaiting_word == {}


def test_a_card_dismissed_during_a_poll_does_not_fail_it(tmp_path: Path, clock: Clock) -> None:
    # Two ended desktops await their last words; one is dismissed while the poll reads the
    # other's.
    slurm = ScriptedSlurm()
    manager, transport = make_manager(tmp_path, slurm)
    ended_awaiting_word(manager, slurm, "k1", "k2")
    forgotten: list[str] = []

    def dismiss_the_other(path: str) -> None:
        if path.endswith(".end.json") and not forgotten:
            other = "k2" if path.endswith("100.end.json") else "k1"
            forgotten.append(other)
            manager.forget(other)

    transport.on_read = dismiss_the_other
    clock.now += 5
    manager.poll_once()  # was: KeyError out of the poll
    assert forgotten
    assert forgotten[0] not in manager._awaiting_word


def run_rounds(
    manager: SessionManager, clock: Clock, seconds: float, until: Callable[[], bool]
) -> float:
    """Poll rounds as the poll thread runs them, on the fake clock; the seconds it took."""
    start = clock.now
    while clock.now - start < seconds:
        if until():
            return clock.now - start
        wait = manager._poll_round()
        clock.now += max(wait, 0.01)
    return clock.now - start


def test_an_end_is_confirmed_fast_while_another_desktop_stays_unconfirmed(
    tmp_path: Path, clock: Clock
) -> None:
    # Desktop A waits in the queue while its folder holds a started marker (left by an earlier
    # job with the same id, or by its own run before a requeue): files and squeue disagree for
    # as long as it waits, and each squeue lengthens the retry gap. Desktop B is ready; End on B
    # must be confirmed after the usual short gaps, not after the long streak A built up.
    slurm = ScriptedSlurm()
    manager, _ = make_manager(tmp_path, slurm)
    slurm.queue["201"] = job("201", "ka", "PENDING")
    slurm.queue["202"] = job("202", "kb", "RUNNING", "dcv-node-1")
    write(tmp_path, "201.started.json", {"job_id": "201", "launch": "earlier", "node": "n"})
    write(tmp_path, "202.started.json", {"job_id": "202", "launch": "kb", "node": "n"})
    ready_file(tmp_path, "202", "kb")
    manager.rediscover()
    assert by_key(manager, "kb").state == SessionState.READY
    run_rounds(manager, clock, 600, until=lambda: False)  # ten minutes of A waiting

    cancelled_at: list[float] = []

    def cancel(job_id: str) -> None:
        slurm.queue[job_id] = job(job_id, "kb", "COMPLETING", "dcv-node-1")
        cancelled_at.append(clock.now)

    slurm.on_cancel = cancel
    manager.end("kb").result(timeout=10)
    # The job cleans up on its node for 3 s, then Slurm lists it cancelled.
    ended = threading.Event()

    def until() -> bool:
        if clock.now - cancelled_at[0] >= 3:
            slurm.queue["202"] = job("202", "kb", "CANCELLED", "dcv-node-1")
        if by_key(manager, "kb").state == SessionState.ENDED:
            ended.set()
        return ended.is_set()

    took = run_rounds(manager, clock, 120, until=until)
    assert ended.is_set()
    assert took <= 5, f"End shown {took:.1f} s after the click (the job was gone after 3 s)"


def test_two_managers_of_one_user_both_get_the_jobs_last_word(tmp_path: Path, clock: Clock) -> None:
    # The Jupyter server's panel adopts the desktops a notebook launched, so two managers follow
    # one job. Whichever concludes first removes the job's files; the other must still tell
    # why the desktop failed.
    slurm = ScriptedSlurm()
    kernel, _ = make_manager(tmp_path, slurm)
    panel, _ = make_manager(tmp_path, slurm)
    slurm.queue["301"] = job("301", "k3", "RUNNING", "dcv-node-1")
    kernel.rediscover()
    panel.rediscover()
    write(
        tmp_path,
        "301.end.json",
        {"job_id": "301", "launch": "k3", "cause": "failed", "reason": "Xvnc is missing"},
    )
    slurm.queue["301"] = job("301", "k3", "FAILED", "dcv-node-1")
    panel.poll_once()
    kernel.poll_once()
    clock.now += 120  # past the wait for a last word
    kernel.poll_once()
    assert by_key(panel, "k3").detail == "Xvnc is missing"
    assert by_key(kernel, "k3").detail == "Xvnc is missing", by_key(kernel, "k3").detail


def test_a_requeued_desktop_is_not_left_ending(tmp_path: Path, clock: Clock) -> None:
    # `scontrol requeue`, or a node failure with JobRequeue=1 (Slurm's default): the job is
    # COMPLETING for a few seconds (its clean-up), then PENDING (BeginTime), then runs again.
    # Nobody clicked End.
    slurm = ScriptedSlurm()
    manager, _ = make_manager(tmp_path, slurm)
    slurm.queue["401"] = job("401", "k4", "RUNNING", "dcv-node-1")
    ready_file(tmp_path, "401", "k4")
    manager.rediscover()
    assert by_key(manager, "k4").state == SessionState.READY
    slurm.queue["401"] = job("401", "k4", "COMPLETING", "dcv-node-1")
    manager.poll_once()
    assert by_key(manager, "k4").display_state == "ending"  # right: it is stopping
    slurm.queue["401"] = job("401", "k4", "PENDING")
    clock.now += 10
    manager.poll_once()
    session = by_key(manager, "k4")
    assert (session.display_state, session.state) == ("queued", SessionState.QUEUED), session


def test_news_is_confirmed_even_when_a_rediscover_runs_meanwhile(
    tmp_path: Path, clock: Clock
) -> None:
    # A queued desktop's start marker appears: the listing asks squeue to confirm it now. Just
    # then another widget (or the panel's adoption round) runs rediscover, whose squeue finds
    # nothing to adopt and judges no followed desktop.
    slurm = ScriptedSlurm()
    manager, _ = make_manager(tmp_path, slurm)
    slurm.queue["501"] = job("501", "k5", "PENDING")
    manager.rediscover()
    run_rounds(manager, clock, 40, until=lambda: False)
    assert by_key(manager, "k5").state == SessionState.QUEUED
    slurm.queue["501"] = job("501", "k5", "RUNNING", "dcv-node-1")
    write(tmp_path, "501.started.json", {"job_id": "501", "launch": "k5", "node": "n"})
    manager._watch_files()  # the poll thread's listing: news, squeue asked for
    manager.rediscover()  # on an action thread, before the poll thread's squeue
    took = run_rounds(
        manager, clock, 60, until=lambda: by_key(manager, "k5").state == SessionState.LAUNCHING
    )
    assert took <= 2, f"the start was shown {took:.1f} s after its marker"


def test_last_words_nobody_followed_do_not_pile_up_in_the_listed_folder(
    tmp_path: Path, clock: Clock
) -> None:
    # The test user's folder on the local cluster held 78 such files during this review.
    slurm = ScriptedSlurm()
    manager, _ = make_manager(tmp_path, slurm)
    for n in range(50):  # desktops that ended while their kernel was gone, an hour ago
        write(tmp_path, f"{700 + n}.end.json", {"job_id": str(700 + n), "cause": "signal"})
        said = clock.now - 3600
        os.utime(Path(manager.paths().end_file(str(700 + n))), (said, said))
    write(tmp_path, "799.end.json", {"job_id": "799", "cause": "signal"})  # a minute ago
    os.utime(Path(manager.paths().end_file("799")), (clock.now - 60, clock.now - 60))
    slurm.queue["601"] = job("601", "k6", "RUNNING", "dcv-node-1")
    ready_file(tmp_path, "601", "k6")
    manager.rediscover()

    def left() -> list[str]:
        return [n.name for n in Path(manager.paths().sessions).iterdir() if n.name[0] == "7"]

    run_rounds(manager, clock, 400, until=lambda: False)  # minutes of following a desktop
    # The recent one stays a while for any other manager following its job; then it goes too.
    assert left() == ["799.end.json"], f"{len(left())} stale last words listed every second"
    run_rounds(manager, clock, 600, until=lambda: False)
    assert left() == []


def test_the_idle_word_reaches_the_session_on_our_clock_without_asking_the_scheduler(
    tmp_path: Path, clock: Clock
) -> None:
    # A ready dcv desktop nobody is connected to: its job writes the idle word (cluster clock,
    # here 7 s ahead of ours) and removes it when someone connects; the listing follows both.
    slurm = ScriptedSlurm()
    manager, _ = make_manager(tmp_path, slurm)
    slurm.queue["100"] = job("100", "k1", "RUNNING", "dcv-node-1")
    ready_file(tmp_path, "100", "k1")
    manager.rediscover()
    assert by_key(manager, "k1").state == SessionState.READY
    slurm.clock.offset = 7.0
    squeues = slurm.squeues
    idle = {"launch": "k1", "since": clock.now + 7, "ends_at": clock.now + 7 + 300}
    write(tmp_path, "100.idle.json", idle)
    manager._watch_files()
    session = by_key(manager, "k1")
    assert (session.idle_since, session.idle_ends_at) == (clock.now, clock.now + 300)
    (Path(SessionPaths(str(tmp_path)).sessions) / "100.idle.json").unlink()
    manager._watch_files()
    session = by_key(manager, "k1")
    assert (session.idle_since, session.idle_ends_at) == (None, None)
    # Another launch's word (an earlier job with this id) is not this desktop's.
    write(tmp_path, "100.idle.json", {**idle, "launch": "other"})
    manager._watch_files()
    assert by_key(manager, "k1").idle_ends_at is None
    assert slurm.squeues == squeues
