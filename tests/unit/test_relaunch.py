"""*Launch again*: an end that says what was wrong with the request maps to the field to change
and words saying how; any other end relaunches as it was."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dcv_widget.desktops.relaunch import Change, change_for
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import DesktopSession, SessionState, observe
from dcv_widget.desktops.slurm import JobStatus, Partition

DCV = Partition(
    "dcv", "up", True, "4:00:00", 8, 0, 8, 1, 0, node_cpus=8, node_memory_mb=8000, node_gpus=0
)
OPEN = replace(DCV, name="open", default=False, time_limit="infinite")


def ended(
    request: LaunchRequest, outcome: str, detail: str = "", never: str = ""
) -> DesktopSession:
    return DesktopSession(
        request=request,
        key="k",
        job_id="7",
        state=SessionState.ENDED,
        outcome=outcome,
        detail=detail or outcome,
        never_reason=never,
    )


REFUSED = (
    "Slurm refused the desktop job: sbatch: error: Batch job submission failed: {}. Check the "
    "partition, time limit and resources, or ask your cluster admin."
)


def test_sbatch_s_time_limit_refusal_asks_for_at_most_the_partition_s_max_time() -> None:
    session = ended(
        LaunchRequest(time="8:00:00"),
        "failed to submit",
        REFUSED.format("Requested time limit is invalid (missing or exceeds some limit)"),
    )
    assert change_for(session, [DCV]) == Change(
        "time", "dcv allows at most 4:00:00: ask for at most 4:00:00, or choose another partition."
    )
    # Without sinfo's word, the words still say what to change.
    assert change_for(session).field == "time"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("request_", "field", "words"),
    [
        (LaunchRequest(cpus=64), "cpus", "no node of dcv has 64 CPUs: ask for at most 8"),
        (LaunchRequest(gpus=1), "gpus", "no node of dcv has 1 GPUs: it has none: ask for 0"),
        (LaunchRequest(memory="64G"), "memory", "no node of dcv has 64G: ask for at most 8000M"),
        (LaunchRequest(time="1-00:00:00"), "time", "dcv allows at most 4:00:00"),
    ],
)
def test_a_never_start_queue_names_the_resource_no_node_has(
    request_: LaunchRequest, field: str, words: str
) -> None:
    session = ended(request_, "cancelled", never="PartitionConfig")
    change = change_for(session, [DCV, OPEN])
    assert change is not None and change.field == field and change.hint.startswith(words)


def test_what_no_limit_explains_falls_back_to_the_partition() -> None:
    session = ended(LaunchRequest(partition="open"), "cancelled", never="PartitionConfig")
    change = change_for(session, [DCV, OPEN])
    assert change is not None and change.field == "partition"
    assert change.hint.startswith("open cannot hold what it asked for (1 CPU for 1 h)")


@pytest.mark.parametrize(
    ("request_", "sbatch", "field", "words"),
    [
        (LaunchRequest(qos="gold"), "Invalid qos specification", "qos", "QOS 'gold' is not one"),
        (
            LaunchRequest(gpus=1, gpu_type="a100"),
            "Invalid generic resource (gres) specification",
            "gpu_type",
            "no node of the partition has GPUs of type 'a100'",
        ),
        (
            LaunchRequest(gpus=1),
            "Invalid generic resource (gres) specification",
            "gpus",
            "the default partition has no GPUs as asked",
        ),
        (
            LaunchRequest(),
            "Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)",
            "time",
            "a limit of your account or your QOS refuses it",
        ),
        (
            LaunchRequest(reservation="dcv-class"),
            "Access denied to requested reservation",
            "reservation",
            "reservation 'dcv-class' is not open to you",
        ),
    ],
)
def test_the_slurm_options_refusals_name_their_field_in_their_words(
    request_: LaunchRequest, sbatch: str, field: str, words: str
) -> None:
    """The card's detail as slurm.py words it (slurm_options.py's words, then Slurm's)."""
    detail = f"Slurm refused the desktop job: (Slurm said: sbatch: error: {sbatch})."
    change = change_for(ended(request_, "failed to submit", detail), [OPEN])
    assert change is not None and change.field == field and change.hint.startswith(words)


@pytest.mark.parametrize(
    ("never", "field"),
    [
        ("PartitionTimeLimit", "time"),
        ("MaxMemPerLimit", "memory"),
        ("InvalidAccount", "account"),
        ("QOSMaxCpuPerJobLimit", "cpus"),
        ("AssocMaxWallDurationPerJobLimit", "time"),
        ("QOSMaxGRESPerJob", "gpus"),
    ],
)
def test_reason_codes_name_their_field(never: str, field: str) -> None:
    change = change_for(ended(LaunchRequest(account="x"), "cancelled", never=never), [OPEN])
    assert change is not None and change.field == field


@pytest.mark.parametrize(
    "session",
    [
        ended(LaunchRequest(), "time limit reached"),
        ended(LaunchRequest(), "failed", "the desktop did not start"),
        ended(LaunchRequest(), "failed to submit", "you already have 2 desktops running"),
        ended(LaunchRequest(), "cancelled", never="Dependency"),
    ],
)
def test_other_ends_relaunch_as_they_were(session: DesktopSession) -> None:
    assert change_for(session, [DCV]) is None


def test_the_never_reason_outlives_the_end() -> None:
    """Slurm's reason while queued is kept once the job is cancelled (the card's Launch again)."""
    job = JobStatus("7", "PENDING", "PartitionConfig", "", "", "dcv", "")
    queued = observe(DesktopSession(LaunchRequest(cpus=64), "k", job_id="7"), job, False)
    assert queued.never_reason == "PartitionConfig" and queued.stuck
    gone = observe(queued, replace(job, state="CANCELLED", reason="None"), False)
    assert gone.state == SessionState.ENDED and gone.never_reason == "PartitionConfig"
    running = observe(queued, replace(job, state="PENDING", reason="Resources"), False)
    assert running.never_reason == ""
