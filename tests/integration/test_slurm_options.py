"""Slurm's own launch options on the real local Slurm (scripts/local-slurm.sh: node features
x11,avx2 on dcv-node-1 and cloud on dcv-cloud-1, GRES gpu:t4:2 and gpu:a10g:1, the reservation
dcv-class for the test users of account class101, QOS desktop, class and priority, accounting
enforced): a desktop with them runs and Slurm's job shows them; a whole node on the cloud
partition; Slurm's refusals named by option; the launcher's choices as listed from Slurm."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import DesktopSession, SessionState
from dcv_widget.desktops.slurm import SlurmBackend
from dcv_widget.server.panel import Desktops
from dcv_widget.settings import DesktopSettings
from dcv_widget.transport.local import LocalTransport


def is_ready_or_ended(session: DesktopSession) -> bool:
    return session.state in (SessionState.READY, SessionState.ENDED)


def job_fields(job_id: str) -> dict[str, str]:
    """`scontrol show job -o`'s Key=Value fields."""
    shown = subprocess.run(
        ["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=True
    ).stdout
    return dict(word.split("=", 1) for word in shown.split() if "=" in word)


def launch_until(manager: SessionManager, request: LaunchRequest, timeout: float) -> DesktopSession:
    session = manager.launch(request)
    return manager.wait_for(session.key, is_ready_or_ended, timeout=timeout)


def test_a_desktop_with_qos_reservation_features_and_a_typed_gpu_runs_with_them(
    manager: SessionManager, in_live_queue: Callable[[str], bool]
) -> None:
    request = LaunchRequest(
        partition="dcv",
        time="10",
        account="class101",  # dcv-class admits the class's account only
        qos="desktop",
        reservation="dcv-class",
        constraint="avx2",
        gpus=1,
        gpu_type="t4",
    )
    # The reservation holds one core: another run's class desktop may hold it a while.
    session = launch_until(manager, request, timeout=600)
    assert session.state == SessionState.READY, session.detail
    job = job_fields(session.job_id)
    assert (job["QOS"], job["Reservation"], job["Features"], job["Account"]) == (
        "desktop",
        "dcv-class",
        "avx2",
        "class101",
    )
    assert job["TresPerJob"] == "gres:gpu:t4:1"
    assert job["NodeList"] == "dcv-node-1"
    manager.end(session.key).result(timeout=60)
    manager.wait_for(session.key, lambda s: s.state == SessionState.ENDED, timeout=120)
    assert not in_live_queue(session.job_id)


def test_a_whole_node_on_the_cloud_partition(manager: SessionManager) -> None:
    # dcv-node-1 is shared by every run's desktops: only the cloud node is asked for whole.
    session = launch_until(
        manager, LaunchRequest(partition="dcv-cloud", time="10", exclusive=True), timeout=600
    )
    assert session.state == SessionState.READY, session.detail
    job = job_fields(session.job_id)
    assert (job["NodeList"], job["OverSubscribe"], job["NumCPUs"]) == ("dcv-cloud-1", "NO", "8")
    manager.end(session.key).result(timeout=60)


def test_slurms_refusals_name_the_option(manager: SessionManager) -> None:
    cases = (
        (LaunchRequest(partition="dcv", time="5", qos="priority"), "QOS 'priority' is not one"),
        (
            LaunchRequest(partition="dcv", time="5", constraint="nosuch"),
            "no node of the partition has the node features 'nosuch'",
        ),
        (
            LaunchRequest(partition="dcv", time="5", gpus=1, gpu_type="v100"),
            "no node of the partition has everything asked for together (1 GPU(s) of type 'v100'",
        ),
        (
            LaunchRequest(partition="dcv", time="5", reservation="dcv-class"),
            "reservation 'dcv-class' is not open to you (or to the account you chose)",
        ),
    )
    for request, words in cases:
        session = launch_until(manager, request, timeout=60)
        assert (session.state, session.outcome) == (SessionState.ENDED, "failed to submit")
        assert session.detail.startswith(f"Slurm refused the desktop job: {words}"), session.detail
        assert "(Slurm said: sbatch: error: Batch job submission failed: " in session.detail


def test_the_launchers_choices_as_slurm_lists_them() -> None:
    slurm = SlurmBackend(LocalTransport())
    partitions = {p.name: p for p in slurm.partitions()}
    assert (partitions["dcv"].features, partitions["dcv"].gpu_types) == (("avx2", "x11"), ("t4",))
    cloud = partitions["dcv-cloud"]
    assert (cloud.features, cloud.gpu_types) == (("cloud",), ("a10g",))
    choices = slurm.choices()
    associations = choices.associations
    assert associations is not None and associations.default_account == "dcv-users"
    assert associations.qos_of("class101") == ("class", "desktop", "normal")
    assert "priority" not in associations.qos_of(None)
    assert choices.reservations is not None
    (reservation,) = [r for r in choices.reservations if r.name == "dcv-class"]
    assert reservation.accounts == ("class101",) and reservation.nodes == "dcv-node-1"

    # The Desktops panel's form (the REST API's) offers them, as the widget's does.
    desktops = Desktops(load=lambda: DesktopSettings(allow_exclusive=True))
    fields = {f["name"]: f for f in desktops.form({"partition": "dcv", "gpus": 1})["fields"]}
    assert [o["value"] for o in fields["gpu_type"]["options"]] == ["", "t4"]
    assert "dcv-class" in [o["value"] for o in fields["reservation"]["options"]]
    assert fields["constraint"]["suggestions"] == ["avx2", "x11"]
    assert not fields["exclusive"]["hidden"]
    refused = desktops.form({"partition": "dcv", "gpus": 0, "gpu_type": "t4"})
    assert refused["launch_blocker"] == "To launch, fix GPU type (see the message above)."


def test_the_command_line_takes_them_and_refuses_by_name() -> None:
    def dcv_desktop(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dcv_widget.cli", "launch", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    no_gpus = dcv_desktop("--gpu-type", "t4")
    assert no_gpus.returncode == 2
    assert "gpu_type: 't4' is not valid; a GPU type needs GPUs" in no_gpus.stderr
    whole = dcv_desktop("--exclusive")
    assert whole.returncode == 2 and "(c.DesktopSettings.allow_exclusive)" in whole.stderr
    shell = dcv_desktop("--constraint", "avx2;reboot")
    assert shell.returncode == 2 and "constraint: 'avx2;reboot' is not valid" in shell.stderr
    unfit = dcv_desktop("--partition", "dcv", "--gpus", "1", "--gpu-type", "a10g", "--no-wait")
    assert "warning: No node of dcv has GPUs of type a10g (it has t4)" in unfit.stderr
    assert "Slurm refused the desktop job: no node of the partition has" in unfit.stdout


def test_a_desktop_longer_than_its_qos_allows_says_so_while_queued(
    manager: SessionManager,
) -> None:
    # QOS desktop allows 4 hours a job: Slurm takes a 5-hour desktop and keeps it queued.
    session = manager.launch(LaunchRequest(partition="dcv", time="5:00:00", qos="desktop"))
    session = manager.wait_for(session.key, lambda s: s.stuck or not s.active, timeout=120)
    assert session.never_reason == "QOSMaxWallDurationPerJobLimit", session.detail
    assert "more wall time than your QOS allows per job" in session.detail
    assert "a shorter time limit, or with another QOS" in session.detail
    manager.end(session.key).result(timeout=60)
