"""Integration tier: the real local Slurm (scripts/local-slurm.sh), jobs run as this user."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from dcv_widget.manager import SessionManager
from dcv_widget.session import SessionState


@pytest.fixture(scope="session", autouse=True)
def slurm_is_up() -> None:
    if shutil.which("sbatch") is None:
        pytest.skip("Slurm's client commands are not installed (run scripts/setup-system.sh)")
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, check=False)
    assert "UP" in ping.stdout, (
        f"slurmctld is not answering; run scripts/local-slurm.sh start\n{ping.stdout}"
    )


@pytest.fixture
def manager() -> Iterator[SessionManager]:
    """A manager polling fast; whatever a test leaves running is cancelled afterwards."""
    manager = SessionManager(fast_poll=0.3, slow_poll=1.0)
    yield manager
    for session in manager.sessions():
        if session.job_id and session.state != SessionState.ENDED:
            manager.end(session.key).result()
