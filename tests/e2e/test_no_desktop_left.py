"""The clean-up after each e2e test cancels only the desktops its own run launched: other
engineers' runs of the suite launch desktops as the same user at the same time."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from .conftest import cancel_left_behind, desktop_jobs


def _held_desktop_job(folder: Path) -> str:
    """A desktop job as a kernel in `folder` submits it, held so that it never runs."""
    done = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--hold",
            "--job-name=dcv-widget",
            "--comment=dcv-widget:novnc:leftover-test",
            "--time=1",
            "--output=/dev/null",
            "--wrap=sleep 60",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().split(";")[0]


def test_only_this_runs_new_desktops_are_cancelled(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    before = set(desktop_jobs())
    with tempfile.TemporaryDirectory(prefix="another-run-") as elsewhere:
        theirs = _held_desktop_job(Path(elsewhere))
        try:
            ours = _held_desktop_job(tmp_path)
            cancelled = cancel_left_behind(before, tmp_path_factory.getbasetemp())
            assert cancelled == [ours]
            assert theirs in desktop_jobs()
        finally:
            subprocess.run(["scancel", theirs], check=False)
