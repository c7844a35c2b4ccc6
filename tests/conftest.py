"""Shared test set-up: markers by folder, and where tests leave screenshots and logs."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from dcv_widget.backends.slurm import parse_job_comment

ARTIFACTS = Path(
    os.environ.get("DCV_WIDGET_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts")
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = Path(str(item.fspath)).parent.name
        if tier in {"unit", "integration", "e2e"}:
            item.add_marker(getattr(pytest.mark, tier))


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
