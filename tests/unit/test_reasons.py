"""Every job reason code Slurm documents reads as words, and those that never let a desktop start
by itself say so (the list and its sources: slurm_reason_codes.txt beside this file)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

from dcv_widget.desktops.reasons import Outlook, reason

_LISTED = [
    line.strip()
    for line in (Path(__file__).parent / "slurm_reason_codes.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
FAMILIES = [code for code in _LISTED if "*" in code]
CODES = sorted({code for code in _LISTED if "*" not in code})

# Decided from the manual: the request itself can never run (launch again, differently) ...
NEVER = {
    "PartitionConfig",
    "PartitionTimeLimit",
    "BadConstraints",
    "MaxMemPerLimit",
    "InvalidAccount",
    "AccountNotAllowed",
    "InvalidQOS",
    "QOSNotAllowed",
    "DependencyNeverSatisfied",
    "ReservationDeleted",
    "DeadLine",
}
# ... or only a person can let it start (an admin, a hold's owner, an allowance reset).
BLOCKED = {
    "PartitionDown",
    "PartitionInactive",
    "PartitionNodeLimit",
    "FrontEndDown",
    "SystemFailure",
    "JobHeldAdmin",
    "JobHeldUser",
    "JobHoldMaxRequeue",
    "JobLaunchFailure",
    "BurstBufferOperation",
    "AssociationTimeLimit",
    "QOSTimeLimit",
}


def test_the_list_is_whole() -> None:
    assert len(CODES) > 190 and {"PartitionConfig", "QOSMaxGRESPerUser", "None"} <= set(CODES)
    assert {"AssocGrp*Limit", "AssocMax*Limit", "QOSGrp*Limit", "QOSMax*Limit"} <= set(FAMILIES)


@pytest.mark.parametrize("code", CODES)
def test_every_documented_code_reads_as_words(code: str) -> None:
    found = reason(code)
    assert found.words and code not in found.words, found.words
    assert not found.words.startswith("waiting (")
    if found.outlook != Outlook.WAITS:
        assert "will not start by itself" in found.words or "can never start" in found.words


def test_every_family_of_the_manual_has_its_codes_in_words() -> None:
    for family in FAMILIES:
        members = fnmatch.filter(CODES, family) or fnmatch.filter(
            CODES, family.replace("Limit", "")
        )
        assert members, family
        assert all(not reason(m).words.startswith("waiting (") for m in members)


@pytest.mark.parametrize("code", CODES)
def test_never_start_codes_are_classified_from_the_manual(code: str) -> None:
    outlook = reason(code).outlook
    expected = Outlook.NEVER if code in NEVER else Outlook.BLOCKED if code in BLOCKED else None
    if expected is not None:
        assert outlook == expected
    elif code.startswith(("QOSMin", "AssocMin")) or (
        code.startswith(("QOSMax", "AssocMax")) and ("PerJob" in code or "PerNode" in code)
    ):
        assert outlook == Outlook.NEVER  # the request itself is over a per-job limit
    elif code.startswith(("QOSGrp", "AssocGrp")) and code.endswith(("Minutes", "MinutesLimit")):
        # An allowance of past, present and future use: used up until reset; running use frees.
        assert outlook == (Outlook.WAITS if "RunMinutes" in code else Outlook.BLOCKED)
    else:
        assert outlook == Outlook.WAITS, code


def test_limit_families_read_by_their_parts() -> None:
    assert reason("QOSMaxGRESPerUser").words == (
        "your QOS limits the GPUs (generic resources) your jobs may use at once, and all of it "
        "is in use: one of your jobs must end first"
    )
    assert reason("QOSMaxJobsPerUserLimit").words == (
        "you have as many running jobs as your QOS allows per user: one of your jobs must end first"
    )
    assert reason("AssocGrpCpuLimit").words.startswith(
        "your account limits the CPUs all its users' jobs may use at once"
    )
    per_job = reason("AssocMaxCpuPerJobLimit")
    assert per_job.outlook == Outlook.NEVER
    assert per_job.words.endswith("can never start as asked: end it and launch with fewer CPUs")
    assert "shorter time limit" in reason("QOSMaxWallDurationPerJobLimit").words
    # The local Slurm's QOS desktop (MaxWall 4:00:00) with a 5-hour desktop says this:
    assert reason("QOSMaxWallDurationPerJobLimit").words == (
        "it asks for more wall time than your QOS allows per job, so this desktop can never "
        "start as asked: end it and launch with a shorter time limit, or with another QOS"
    )
    assert "another QOS" not in reason("AssocMaxCpuPerJobLimit").words
    assert "fewer CPUs or a shorter time limit" in reason("QOSMaxCpuMinutesPerJobLimit").words
    assert "raise or reset it" in reason("QOSGrpCPUMinutesLimit").words
    assert (
        "shorter time limit may let it start sooner" in reason("AssocGrpCPURunMinutesLimit").words
    )
    # Newer Slurm's per-account and per-user running minutes (not in 22.05): the same pattern.
    assert reason("MaxCpuRunMinsPerUser").outlook == Outlook.WAITS
    assert "per account" in reason("MaxSubmitJobsPerAccount").words


def test_nodes_appended_by_slurm_and_unknown_codes() -> None:
    assert reason("ReqNodeNotAvail, UnavailableNodes:dcv-node-1").words.startswith(
        "the nodes it needs are not available"
    )
    unknown = reason("SomeNewReason")
    assert (unknown.words, unknown.outlook) == ("waiting (SomeNewReason)", Outlook.WAITS)
    # A family's look without a known resource is no family.
    assert reason("QOSMaxFooPerJob").words == "waiting (QOSMaxFooPerJob)"
