"""The class overview on the real local Slurm, with desktops of several unprivileged users.

scripts/test.sh creates the students dcvstudent1 and dcvstudent2 and the Slurm operator
dcvoperator, and lets the test user run anything as them through sudo
(/etc/sudoers.d/dcv-widget-tests). The local Slurm keeps accounting in slurmdbd
(scripts/local-slurm.sh): the test user, an instructor, is no operator but coordinates the class
account class101, so Slurm lets it end the students' desktops charged to class101 and refuses it
their others (charged to their default account, dcv-users); dcvoperator's AdminLevel=Operator
lets it end every desktop. An overview "as" a student or the operator runs its Slurm commands as
that user (`AsUser`), as their own kernel would.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.slurm import JobTag, job_comment
from dcv_widget.transport.base import CommandResult
from dcv_widget.transport.local import LocalTransport
from dcv_widget.ui.class_overview import ClassOverview
from dcv_widget.ui.desktop_cards import EXPECTS

if TYPE_CHECKING:
    from tests.integration.counting import CountingTransport
else:
    from counting import CountingTransport

STUDENTS = ("dcvstudent1", "dcvstudent2")
# A stand-in desktop: what the overview reads of a job is its name, comment, state and user.
SCRIPT = "#!/bin/sh\nsleep 600\n"


def eventually(
    check: Callable[[], bool], timeout: float = 120, what: Callable[[], str] = lambda: ""
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in time {what()}")
        time.sleep(0.2)


def as_user(user: str | None, argv: list[str], stdin: str | None = None) -> str:
    """Run a Slurm command as `user` (through sudo, as scripts/test.sh allows) or as this one."""
    full = ["sudo", "-n", "-u", user, f"/usr/bin/{argv[0]}", *argv[1:]] if user else argv
    done = subprocess.run(
        full, input=stdin, capture_output=True, text=True, cwd="/tmp", check=False, timeout=30
    )
    assert done.returncode == 0, (
        f"{' '.join(full)} failed: {done.stderr.strip()} (run scripts/test.sh as root: it "
        "creates the students and the sudo rule)"
    )
    return done.stdout


def submit(user: str | None, minutes: int, cpus: int = 1, account: str = "") -> str:
    """A dcv_widget-style job on partition dcv, as `user` (None: the test user), charged to
    `account` (default: the user's default account)."""
    comment = job_comment(JobTag("novnc", uuid.uuid4().hex))
    out = as_user(
        user,
        [
            "sbatch",
            "--parsable",
            "--job-name=dcv-widget",
            f"--comment={comment}",
            "--output=/dev/null",
            "--chdir=/tmp",
            "--partition=dcv",
            f"--time={minutes}:00",
            f"--cpus-per-task={cpus}",
            *([f"--account={account}"] if account else []),
        ],
        stdin=SCRIPT,
    )
    return out.strip().split(";")[0]


def slurm_state(job_id: str) -> str:
    done = subprocess.run(
        ["squeue", "--noheader", f"--jobs={job_id}", "--states=all", "--format=%T"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


@pytest.fixture
def classroom() -> Iterator[dict[str, str]]:
    """Two students' desktops and one of the test user's (the instructor's), all running."""
    for student in STUDENTS:  # what an interrupted earlier run left behind
        as_user(student, ["scancel", f"--user={student}", "--name=dcv-widget"])
    jobs = {"dcvstudent1": submit("dcvstudent1", 20), "dcvstudent2": submit("dcvstudent2", 10)}
    jobs["dcvtest"] = submit(None, 5)
    try:
        # Other tests' desktops may fill the node for a while.
        eventually(
            lambda: all(slurm_state(j) == "RUNNING" for j in jobs.values()),
            timeout=300,
            what=lambda: str({j: slurm_state(j) for j in jobs.values()}),
        )
        yield jobs
    finally:
        for user, job_id in jobs.items():
            as_user(None if user == "dcvtest" else user, ["scancel", job_id])


def click(widget: ClassOverview, action: str, **extra: Any) -> None:
    widget._on_message(widget, {"action": action, **extra}, None)


def card(widget: ClassOverview, key: str) -> dict[str, Any]:
    return next(c for c in widget.cards if c["key"] == key)


def ours(widget: ClassOverview, jobs: dict[str, str]) -> list[str]:
    """The users of our jobs, in the order their cards are shown (other tests may add more)."""
    by_job = {job_id: user for user, job_id in jobs.items()}
    return [by_job[c["key"]] for c in widget.cards if c["key"] in by_job]


def test_an_instructor_sees_every_students_desktop_and_ends_only_what_slurm_allows(
    classroom: dict[str, str],
) -> None:
    transport = CountingTransport()
    widget = ClassOverview("dcv", manager=SessionManager(transport, fast_poll=0.3, slow_poll=1.0))
    try:
        eventually(lambda: len(ours(widget, classroom)) == 3, timeout=30)
        assert ours(widget, classroom) == ["dcvstudent1", "dcvstudent2", "dcvtest"]  # by user
        student = card(widget, classroom["dcvstudent1"])
        assert student["title"] == f"dcvstudent1 · job {classroom['dcvstudent1']}"
        assert student["state"] == "running" and student["node"] == "dcv-node-1"
        assert student["ends_at"] > time.time() + 15 * 60
        assert student["detail"] == "novnc · idle time unknown"
        assert student["actions"] == ["end"]
        assert widget.launcher["actions"] == []
        assert "desktops on dcv" in widget.launcher["message"]

        # One squeue per poll for the whole partition, every user.
        polls = transport.count("squeue")
        eventually(lambda: transport.count("squeue") >= polls + 2, timeout=30)
        assert set(transport.commands) == {"squeue", "scontrol", "sinfo"}

        click(widget, "set", field="sort", value="time_left")
        assert ours(widget, classroom) == ["dcvtest", "dcvstudent2", "dcvstudent1"]
        click(widget, "set", field="filter", value="dcvstudent")
        assert ours(widget, classroom) == ["dcvstudent2", "dcvstudent1"]
        assert all(c["title"].startswith("dcvstudent") for c in widget.cards)
        click(widget, "set", field="filter", value=classroom["dcvstudent2"])
        assert classroom["dcvstudent2"] in [c["key"] for c in widget.cards]
        assert classroom["dcvstudent1"] not in [c["key"] for c in widget.cards]
        click(widget, "set", field="filter", value="")

        # Another user's desktop: Slurm refuses a non-operator, the card says so in words.
        refused = classroom["dcvstudent1"]
        click(widget, "end", key=refused)
        eventually(lambda: card(widget, refused)["error"] != "", timeout=30)
        assert card(widget, refused)["error"] == (
            f"Slurm did not let you end dcvstudent1's desktop (job {refused}): only its owner, "
            "a Slurm operator or administrator, or a coordinator of its account may end it."
        )
        assert card(widget, refused)["actions"] == ["end"]
        time.sleep(1.5)  # a few polls later the job still runs, the refusal still shown
        assert slurm_state(refused) == "RUNNING"
        assert card(widget, refused)["error"].startswith("Slurm did not let you end")

        # The instructor's own desktop ends, and its card goes.
        own = classroom["dcvtest"]
        click(widget, "end", key=own)
        eventually(lambda: own not in [c["key"] for c in widget.cards], timeout=60)
        assert slurm_state(own) in ("", "CANCELLED", "COMPLETING")
        assert card(widget, refused)["state"] == "running"
    finally:
        widget.close()


def test_a_students_queued_desktop_shows_slurms_estimate_and_a_stuck_one_what_to_change(
    busy_node: str, job_state: Callable[[str], str]
) -> None:
    """Behind a busy node a student's desktop carries Slurm's estimate, as the student's own
    card does; one asking for more CPUs than any node has (PartitionConfig) has the stuck look
    and the words saying what to change, and no estimate."""
    # The whole node: it cannot start when some other test's job ends and frees a few CPUs.
    jobs = {
        "dcvstudent1": submit("dcvstudent1", 5, cpus=8),
        "dcvstudent2": submit("dcvstudent2", 5, cpus=64),
    }
    waiting, never = jobs["dcvstudent1"], jobs["dcvstudent2"]
    widget = ClassOverview("dcv", manager=SessionManager(fast_poll=0.3, slow_poll=4.0))

    def shown(key: str) -> dict[str, Any]:
        return next((c for c in widget.cards if c["key"] == key), {})

    try:
        # Backfill estimates starts every 30 s (bf_interval); the overview polls every 2 s
        # while a desktop is queued.
        eventually(
            lambda: shown(waiting).get("expected_start") is not None,
            timeout=150,
            what=lambda: str(shown(waiting)),
        )
        student = shown(waiting)
        assert student["state"] == "queued" and student["tone"] == ""
        assert student["detail"] in (
            "novnc · waiting for a free node",
            "novnc · waiting behind jobs with higher priority",  # another test's, queued too
        )
        assert student["expected_label"] == EXPECTS
        # Slurm's estimate as the monitor read it (on this machine's clock), after now; when,
        # depends on the filler and on other tests' desktops queued on the shared node too.
        listed = next(d.job for d in widget.desktops() if d.job.job_id == waiting)
        assert student["expected_start"] == listed.expected_start
        assert time.time() - 5 < student["expected_start"] < time.time() + 24 * 3600

        eventually(lambda: shown(never).get("tone") == "stuck", timeout=60)
        stuck = shown(never)
        assert stuck["title"] == f"dcvstudent2 · job {never}" and stuck["state"] == "queued"
        assert "can never start as asked: end it and launch with less" in stuck["detail"]
        assert "PartitionConfig" not in stuck["detail"]
        assert (stuck["expected_label"], stuck["expected_start"]) == ("", None)
        assert job_state(waiting) == job_state(never) == "PENDING"
    finally:
        widget.close()
        for user, job_id in jobs.items():
            as_user(user, ["scancel", job_id])


def test_what_this_kernel_launches_and_ends_shows_at_once() -> None:
    """The overview's own polls are two minutes apart here: a desktop this kernel's manager
    launches or ends (End on a Desktop widget, or in code) has the partition listed at once."""
    manager = SessionManager(fast_poll=120, slow_poll=120)
    widget = ClassOverview("dcv-maint", manager=manager)  # down: the desktop stays queued
    job = ""
    try:
        eventually(lambda: widget.monitor.listed, timeout=30)
        key = manager.launch(LaunchRequest(partition="dcv-maint", time="5")).key
        eventually(lambda: bool(manager.get(key).job_id), timeout=60)
        job = manager.get(key).job_id
        eventually(lambda: job in [c["key"] for c in widget.cards], timeout=10)
        manager.end(key)
        eventually(lambda: job not in [c["key"] for c in widget.cards], timeout=10)
    finally:
        widget.close()
        if job:
            subprocess.run(["scancel", job], check=False)


class AsUser(LocalTransport):
    """This machine's transport, every command run as `user` through sudo: that user's kernel."""

    def __init__(self, user: str) -> None:
        self.user = user

    def run(
        self,
        argv: list[str],
        *,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> CommandResult:
        # sudo drops the environment: the backend's (SLURM_TIME_FORMAT…) goes through env(1).
        settings = [f"{name}={value}" for name, value in (env or {}).items()]
        full = ["sudo", "-n", "-u", self.user, "--", "env", *settings, *argv]
        return super().run(full, stdin=stdin, timeout=timeout)


def ended_by(job_id: str) -> str:
    """Who ended the job, from slurmdbd: sacct's "CANCELLED by <uid>", as a user name."""

    def state() -> str:
        return subprocess.run(
            ["sacct", "--noheader", "--parsable2", "--allocations", f"--jobs={job_id}", "-oState"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    eventually(lambda: state().startswith("CANCELLED by "), timeout=30, what=state)
    uid = state().removeprefix("CANCELLED by ")
    return subprocess.run(
        ["id", "-nu", uid], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def class_desktops() -> Iterator[dict[str, str]]:
    """A student's desktop charged to the class account class101, another student's charged to
    their default account (dcv-users) and one of the test user's, all running; by what they are."""
    for student in STUDENTS:  # what an interrupted earlier run left behind
        as_user(student, ["scancel", f"--user={student}", "--name=dcv-widget"])
    jobs = {
        "class": submit("dcvstudent1", 20, account="class101"),
        "own account": submit("dcvstudent2", 10),
        "instructor's": submit(None, 5),
    }
    owners = {"class": "dcvstudent1", "own account": "dcvstudent2", "instructor's": None}
    try:
        eventually(
            lambda: all(slurm_state(j) == "RUNNING" for j in jobs.values()),
            timeout=300,
            what=lambda: str({j: slurm_state(j) for j in jobs.values()}),
        )
        yield jobs
    finally:
        for what, job_id in jobs.items():
            as_user(owners[what], ["scancel", job_id])


def overview_as(user: str | None) -> ClassOverview:
    """The overview of partition dcv in `user`'s kernel (None: the test user's)."""
    transport = AsUser(user) if user else LocalTransport()
    return ClassOverview("dcv", manager=SessionManager(transport, fast_poll=0.3, slow_poll=1.0))


def test_the_class_coordinator_ends_a_students_class_desktop(
    class_desktops: dict[str, str],
) -> None:
    """The instructor coordinates class101: Slurm lets them end a desktop charged to it (the
    refusal of one charged elsewhere is the test above)."""
    widget = overview_as(None)
    job = class_desktops["class"]
    try:
        eventually(lambda: job in [c["key"] for c in widget.cards], timeout=30)
        click(widget, "end", key=job)
        eventually(lambda: job not in [c["key"] for c in widget.cards], timeout=60)
        assert card(widget, class_desktops["own account"])["error"] == ""
    finally:
        widget.close()
    assert ended_by(job) == "dcvtest"


def test_a_user_who_coordinates_nothing_is_refused_a_class_desktop(
    class_desktops: dict[str, str],
) -> None:
    """Another student (in class101, coordinating nothing) sees the class desktop, and Slurm
    refuses them its End: the card says who may end it, the job runs on."""
    widget = overview_as("dcvstudent2")
    job = class_desktops["class"]
    try:
        eventually(lambda: job in [c["key"] for c in widget.cards], timeout=30)
        click(widget, "end", key=job)
        eventually(lambda: card(widget, job)["error"] != "", timeout=30)
        assert card(widget, job)["error"] == (
            f"Slurm did not let you end dcvstudent1's desktop (job {job}): only its owner, "
            "a Slurm operator or administrator, or a coordinator of its account may end it."
        )
        assert slurm_state(job) == "RUNNING"
    finally:
        widget.close()


def test_an_operator_sees_and_ends_every_desktop(class_desktops: dict[str, str]) -> None:
    """dcvoperator (AdminLevel=Operator, no unix privilege) ends a student's desktop charged to
    their own account and the instructor's: nothing a coordinator of class101 could."""
    widget = overview_as("dcvoperator")
    ended = [class_desktops["own account"], class_desktops["instructor's"]]
    try:
        eventually(
            lambda: set(class_desktops.values()) <= {c["key"] for c in widget.cards}, timeout=30
        )
        for job in ended:
            click(widget, "end", key=job)
        eventually(
            lambda: not set(ended) & {c["key"] for c in widget.cards},
            timeout=60,
            what=lambda: str([card(widget, job)["error"] for job in ended]),
        )
        assert card(widget, class_desktops["class"])["state"] == "running"
    finally:
        widget.close()
    assert [ended_by(job) for job in ended] == ["dcvoperator", "dcvoperator"]
