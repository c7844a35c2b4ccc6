"""Shared test set-up: markers by folder, and where tests leave screenshots and logs."""

from __future__ import annotations

import os
import subprocess
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
