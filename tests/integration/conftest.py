"""Integration tier: the real local Slurm (scripts/local-slurm.sh), jobs run as this user."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.session import SessionState

# pytest puts this folder on sys.path (it has no __init__.py), so the sshd helper is `sshd` at
# run time; mypy knows it by its path from the repository root.
if TYPE_CHECKING:
    from tests.integration.sshd import SSHServer, running_sshd
else:
    from sshd import SSHServer, running_sshd


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


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """A real sshd on 127.0.0.1 logging in this (unprivileged) user; see sshd.py."""
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server
