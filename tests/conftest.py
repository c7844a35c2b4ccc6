"""Shared test set-up: markers by folder, and where tests leave screenshots and logs."""

from __future__ import annotations

import itertools
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dcv_widget.desktops.slurm import parse_job_comment

# pytest puts this folder on sys.path (no __init__.py); mypy knows it by its path.
if TYPE_CHECKING:
    from tests.aws_server import FAKE_CREDENTIALS, NO_REAL_AWS, reset, running_moto
else:
    from aws_server import FAKE_CREDENTIALS, NO_REAL_AWS, reset, running_moto

ARTIFACTS = Path(
    os.environ.get("DCV_WIDGET_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts")
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = Path(str(item.fspath)).parent.name
        if tier in {"unit", "integration", "e2e"}:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing reaches AWS: no credentials, profiles or instance metadata of the machine
    running the tests; tests that need AWS point boto3 at the moto server (aws_server.py)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in NO_REAL_AWS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The moto server on 127.0.0.1, for the whole run; see aws_server.py."""
    with running_moto(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.fixture
def aws_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty AWS account behind the moto server, and boto3 pointed at it with fake
    credentials (no region: each test says where it comes from)."""
    reset(moto_server)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return moto_server


def _in_live_queue(job_id: str) -> bool:
    """Whether squeue (default states: pending, running, completing) still lists the job."""
    listed = subprocess.run(
        ["squeue", "--noheader", f"--jobs={job_id}"], capture_output=True, text=True, check=False
    )
    return bool(listed.stdout.strip())


@pytest.fixture(scope="session")
def in_live_queue() -> Callable[[str], bool]:
    return _in_live_queue


def _jobs_of_launch(key: str) -> list[str]:
    """Job ids in the whole queue (all states) that carry this launch's comment."""
    listed = subprocess.run(
        ["squeue", "--me", "--states=all", "--noheader", "--format=%i %k"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = []
    for line in listed.splitlines():
        job_id, _, comment = line.partition(" ")
        tag = parse_job_comment(comment)
        if tag and tag.launch_id == key:
            found.append(job_id)
    return found


@pytest.fixture(scope="session")
def jobs_of_launch() -> Callable[[str], list[str]]:
    """How many jobs one launch produced: a duplicate submission shows here."""
    return _jobs_of_launch


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """A folder for screenshots and logs a person should look at after the run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


NODE = "dcv-node-1"


def _idle_cpus(node: str) -> int:
    """The node's CPUs idle now that any job may take: sinfo's idle (of allocated/idle/other/
    total) less the cores active reservations hold, which sinfo counts idle but only their own
    jobs may use (the local Slurm's class reservation holds one core of dcv-node-1's 9)."""
    counts = subprocess.run(
        ["sinfo", "--noheader", f"--nodes={node}", "--format=%C"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    _allocated, idle, _other, total = (int(n) for n in counts.split("/"))
    return max(0, idle - _reserved_cpus(node, total))


def _reserved_cpus(node: str, node_cpus: int) -> int:
    """CPUs of the node that active reservations hold (used by their jobs or not: counted
    whole, so a filler leaves a CPU idle rather than wait for one)."""
    text = subprocess.run(
        ["scontrol", "--oneliner", "show", "reservation"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    held = 0
    for line in text.splitlines():
        words = line.split()
        if "State=ACTIVE" not in words:
            continue
        cores = [w for prev, w in itertools.pairwise(words) if prev == f"NodeName={node}"]
        if cores:  # a core reservation: "NodeName=dcv-node-1 CoreIDs=0-1,3"
            held += sum(_range_count(r) for r in cores[0].removeprefix("CoreIDs=").split(","))
        elif f"Nodes={node}" in words:  # the whole node
            held += node_cpus
    return min(held, node_cpus)


def _range_count(text: str) -> int:
    """How many ids "3" or "0-2" names."""
    first, _, last = text.partition("-")
    return int(last or first) - int(first) + 1


def _completing_on(node: str) -> bool:
    """Whether a job is completing on the node."""
    return bool(
        subprocess.run(
            ["squeue", "--noheader", "--all", f"--nodelist={node}", "--states=COMPLETING"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    )


def _job_state(job_id: str) -> str:
    """The job's state as squeue says it (PENDING, RUNNING…; "" once it left the queue)."""
    return subprocess.run(
        ["squeue", "--noheader", f"--jobs={job_id}", "--format=%T"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()


@pytest.fixture(scope="session")
def job_state() -> Callable[[str], str]:
    return _job_state


@pytest.fixture
def busy_node() -> Iterator[str]:
    """dcv-node-1 with no idle CPU for the next minutes, so that a desktop asking for the whole
    node (8 CPUs: a smaller one would start as soon as another test's job ends) queues on
    partition dcv and backfill estimates its start. A plain job of the test user takes the CPUs
    other jobs (other tests', a benchmark's, a demo's) leave idle, for up to 10 minutes; its id
    once it runs, or "" when others' running jobs keep every CPU busy already (for 10 s, none
    of them completing). (A filler asking for all 8
    would wait behind the longest of those jobs, holding back every other test's desktop
    meanwhile.) The filler is cancelled whatever happens."""
    job_id = ""
    try:
        deadline = time.monotonic() + 120
        full_since: float | None = None
        while True:
            assert time.monotonic() < deadline, "the node never stayed busy"
            idle = _idle_cpus(NODE)
            if not idle:
                # Full, but of jobs that stay? A job completing (a test's just cancelled, the
                # last filler too) still counts as allocated for a few seconds.
                if _completing_on(NODE):
                    full_since = None
                elif full_since is None:
                    full_since = time.monotonic()
                elif time.monotonic() - full_since >= 10:
                    break
                time.sleep(1)
                continue
            full_since = None
            job_id = _submit_filler(idle)
            started = time.monotonic()
            while (state := _job_state(job_id)) == "PENDING" and time.monotonic() < started + 15:
                time.sleep(1)
            if state == "RUNNING":
                break
            # Another job took CPUs between sinfo and sbatch: ask again for what is left idle.
            subprocess.run(["scancel", job_id], check=False)
            job_id = ""
        yield job_id
    finally:
        if job_id:
            subprocess.run(["scancel", job_id], check=False)


def _submit_filler(cpus: int) -> str:
    return subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--job-name=dcv-test-filler",
            "--partition=dcv",
            f"--nodelist={NODE}",
            "--time=10:00",
            f"--cpus-per-task={cpus}",
            "--output=/dev/null",
            "--wrap=sleep 600",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd="/tmp",
    ).stdout.strip()
