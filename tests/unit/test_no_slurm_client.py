"""JupyterLab where no Slurm command is installed (a laptop, ssh_host unset): a missing command
is said at once with the way to the cluster, never retried as if the controller were away."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.slurm import SlurmBackend, SlurmError, SlurmUnavailable
from dcv_widget.transport.base import CommandNotFound, CommandResult, TransportError
from dcv_widget.transport.local import LocalTransport


class FailingTransport(LocalTransport):
    """Every command fails to run with `error`."""

    def __init__(self, error: TransportError) -> None:
        self.error = error

    def run(
        self,
        argv: list[str],
        *,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> CommandResult:
        raise self.error


def test_a_command_missing_here_is_not_found_not_a_failure_to_retry() -> None:
    with pytest.raises(CommandNotFound, match=r"^'dcvw-no-such-command' is not on this machine's"):
        LocalTransport().run(["dcvw-no-such-command"])


CALLS: list[Callable[[SlurmBackend], Any]] = [
    lambda s: s.submit(LaunchRequest(), "#!/bin/sh\n", output="o", comment="c"),
    lambda s: s.jobs(),
    lambda s: s.partitions(),
    lambda s: s.cancel("42"),
]


@pytest.mark.parametrize("call", CALLS)
def test_no_slurm_client_says_so_and_how_to_point_at_the_cluster(
    call: Callable[[SlurmBackend], Any],
) -> None:
    missing = CommandNotFound("'sbatch' is not on this machine's PATH")
    slurm = SlurmBackend(FailingTransport(missing))
    with pytest.raises(SlurmError) as refused:
        call(slurm)
    assert not isinstance(refused.value, SlurmUnavailable)  # the manager retries only those
    message = str(refused.value)
    assert message.startswith("this machine has no Slurm client ('sbatch' is not on this")
    assert 'c.DesktopSettings.ssh_host = "<head node>" in jupyter_dcv_widget_config.py' in message
    assert "put Slurm's commands on PATH" in message and "try again" not in message


def test_a_command_that_does_not_answer_is_still_worth_a_retry() -> None:
    slurm = SlurmBackend(FailingTransport(TransportError("sbatch did not answer within 30 s")))
    with pytest.raises(SlurmUnavailable, match="did not answer"):
        slurm.jobs()
