"""What Slurm offers a user besides partitions (reservations, accounts and QOS), parsed from the
local Slurm's real output (Debian 12, Slurm 22.05, with slurmdbd), and sbatch's refusals of
those options in words naming the option."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from dcv_widget.common.recent import Recent
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.slurm import SlurmBackend, SlurmUnavailable, sbatch_argv
from dcv_widget.desktops.slurm_options import (
    Reservation,
    parse_associations,
    parse_reservations,
    refusal_words,
)

# pytest puts this folder on sys.path (no __init__.py); mypy knows it by its path.
if TYPE_CHECKING:
    from tests.unit.test_slurm_parsing import RecordingTransport
else:
    from test_slurm_parsing import RecordingTransport

# Captured with: SLURM_TIME_FORMAT=%s scontrol show reservation --oneliner (the local Slurm: a
# class's reservation of one core of dcv-node-1, for four users of account class101).
RESERVATION = (
    "ReservationName=dcv-class StartTime=1795975547 EndTime=1827511547 Duration=365-00:00:00 "
    "Nodes=dcv-node-1 NodeCnt=1 CoreCnt=1 Features=(null) PartitionName=dcv Flags=SPEC_NODES   "
    "NodeName=dcv-node-1 CoreIDs=0 TRES=cpu=1 Users=dcvtest,dcvdemo,dcvstudent1,dcvstudent2 "
    "Groups=(null) Accounts=class101 Licenses=(null) State=ACTIVE BurstBuffer=(null) Watts=n/a "
    "MaxStartDelay=(null)\n"
)
NOW = 1795976000.0
# As scontrol(1) documents them: one for a group only, one that denies two users, one for any
# user of an account, one that has ended, one to come (ISO times: SLURM_TIME_FORMAT not set).
RESERVATIONS = (
    "ReservationName=grp StartTime=1795975547 EndTime=1827511547 Nodes=n1 Users=(null) "
    "Groups=staff Accounts=(null) State=ACTIVE\n"
    "ReservationName=not-bob StartTime=1795975547 EndTime=1827511547 Nodes=n1 Users=-bob,-eve "
    "Groups=(null) Accounts=(null) State=ACTIVE\n"
    "ReservationName=lab StartTime=1795975547 EndTime=1827511547 Nodes=n[1-2] Users=(null) "
    "Groups=(null) Accounts=lab1,lab2 State=ACTIVE Comment=the lab's weekly slot\n"
    "ReservationName=old StartTime=1795900000 EndTime=1795975000 Nodes=n1 Users=alice "
    "Groups=(null) Accounts=(null) State=INACTIVE\n"
    "ReservationName=later StartTime=2027-01-04T09:00:00 EndTime=2027-01-04T12:00:00 Nodes=n1 "
    "Users=alice,bob Groups=(null) Accounts=(null) State=INACTIVE\n"
)
# Captured with: sacctmgr --noheader --parsable2 show user withassoc where user=dcvtest
# format=defaultaccount,account,qos,defaultqos
ASSOCIATIONS = (
    "dcv-users|class101|class,desktop,normal|normal\ndcv-users|dcv-users|desktop,normal|normal\n"
)


def test_the_class_reservation_is_listed_for_its_users_with_its_account() -> None:
    (class_,) = parse_reservations(RESERVATION, "dcvtest", ("class101", "dcv-users"), NOW)
    assert class_ == Reservation(
        "dcv-class", 1795975547.0, 1827511547.0, "dcv-node-1", accounts=("class101",), cpus=1
    )
    assert class_.active(NOW)
    # Users and Accounts both given: a job must match both (scontrol(1)).
    assert parse_reservations(RESERVATION, "dcvoperator", ("class101",), NOW) == []
    assert parse_reservations(RESERVATION, "dcvtest", ("dcv-users",), NOW) == []
    # No accounting database: the accounts are not known, the user still is.
    (unknown,) = parse_reservations(RESERVATION, "dcvtest", None, NOW)
    assert unknown.accounts == ("class101",)


def test_reservations_a_user_may_use_and_that_have_not_ended() -> None:
    alice = parse_reservations(RESERVATIONS, "alice", ("lab2",), NOW)
    assert [r.name for r in alice] == ["lab", "not-bob", "later"]  # by start, then name
    assert alice[0].accounts == ("lab2",) and alice[0].nodes == "n[1-2]"
    assert not alice[2].active(NOW)
    bob = parse_reservations(RESERVATIONS, "bob", ("other",), NOW)
    assert [r.name for r in bob] == ["later"]


def test_associations_give_each_accounts_qos_and_the_default_account() -> None:
    associations = parse_associations(ASSOCIATIONS)
    assert associations.default_account == "dcv-users"
    assert associations.accounts == ("class101", "dcv-users")
    assert associations.qos_of(None) == ("desktop", "normal")
    assert associations.qos_of("class101") == ("class", "desktop", "normal")
    assert associations.default_qos_of("class101") == "normal"
    assert parse_associations("").accounts == ()


def test_the_choices_are_an_sacctmgr_and_an_scontrol_call_with_explicit_fields() -> None:
    transport = RecordingTransport("dcvtest\n")
    backend = SlurmBackend(transport)
    assert backend.user() == "dcvtest"
    transport.stdout = ASSOCIATIONS
    associations = backend.associations()
    assert associations is not None and associations.default_account == "dcv-users"
    transport.stdout = RESERVATION
    assert [r.name for r in backend.reservations(associations.accounts)] == ["dcv-class"]
    assert transport.calls == [
        ["id", "-un"],
        [
            "sacctmgr",
            "--noheader",
            "--parsable2",
            "show",
            "user",
            "withassoc",
            "where",
            "user=dcvtest",
            "format=defaultaccount,account,qos,defaultqos",
        ],
        ["scontrol", "show", "reservation", "--oneliner"],
    ]
    assert transport.envs[-1] == {"SLURM_TIME_FORMAT": "%s"}


def test_without_an_accounting_database_qos_and_accounts_are_not_known() -> None:
    transport = RecordingTransport(
        "", 1, "You are not running a supported accounting_storage plugin\n"
    )
    backend = SlurmBackend(transport)
    backend._user = "dcvtest"
    assert backend.associations() is None
    choices = backend.choices()  # scontrol fails the same way here: neither is known
    assert (choices.associations, choices.reservations) == (None, None)


def test_slurm_options_reach_sbatch_as_one_option_item_each() -> None:
    request = LaunchRequest(
        gpus=1,
        gpu_type="t4",
        qos="desktop",
        reservation="dcv-class",
        constraint="(avx2|x11)&cloud",
        exclusive=True,
    )
    argv = sbatch_argv(request, output="o", comment="c")
    for item in (
        "--gpus=t4:1",
        "--qos=desktop",
        "--reservation=dcv-class",
        "--constraint=(avx2|x11)&cloud",
        "--exclusive",
    ):
        assert item in argv
    assert not any(item.startswith("--nodelist") for item in argv)
    plain = sbatch_argv(LaunchRequest(), output="o", comment="c")
    assert not any(
        item.startswith(("--qos", "--reservation", "--constraint", "--exclusive")) for item in plain
    )


# sbatch's own words, captured from the local Slurm as the test user.
FAILED = "sbatch: error: Batch job submission failed: "


@pytest.mark.parametrize(
    ("error", "request_", "words"),
    [
        (
            "Invalid qos specification",
            LaunchRequest(qos="priority"),
            "QOS 'priority' is not one you may use",
        ),
        (
            "Requested reservation is invalid",
            LaunchRequest(reservation="nosuch"),
            "reservation 'nosuch' does not exist",
        ),
        (
            "Access denied to requested reservation",
            LaunchRequest(reservation="dcv-class"),
            "reservation 'dcv-class' is not open to you (or to the account you chose)",
        ),
        (
            "Invalid feature specification",
            LaunchRequest(constraint="nosuch"),
            "no node of the partition has the node features 'nosuch'",
        ),
        (
            "Invalid generic resource (gres) specification",
            LaunchRequest(gpus=1, gpu_type="v100"),
            "no node of the partition has GPUs of type 'v100'",
        ),
        (
            "Requested node configuration is not available",
            LaunchRequest(gpus=1, gpu_type="v100"),
            "no node of the partition has everything asked for together (1 GPU(s) of type "
            "'v100', 1 CPU(s))",
        ),
        (
            "Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)",
            LaunchRequest(qos="desktop", time="5:00:00"),
            "a limit of your account or QOS 'desktop' refuses it",
        ),
    ],
)
def test_sbatch_refusals_name_the_option_and_what_to_do(
    error: str, request_: LaunchRequest, words: str
) -> None:
    assert refusal_words(FAILED + error, request_).startswith(words)


def test_other_refusals_keep_slurms_words() -> None:
    assert refusal_words(FAILED + "Invalid qos specification", LaunchRequest()) == ""
    assert refusal_words(FAILED + "Invalid account or account/partition", LaunchRequest()) == ""


def test_a_refused_submit_says_the_option_and_slurms_words() -> None:
    transport = RecordingTransport("", 1, FAILED + "Invalid qos specification\n")
    with pytest.raises(Exception, match=r"QOS 'priority' is not one you may use") as caught:
        SlurmBackend(transport).submit(
            LaunchRequest(qos="priority"), "script", output="o", comment="c"
        )
    assert "(Slurm said: sbatch: error: Batch job submission failed: Invalid qos" in str(
        caught.value
    )


def test_a_slurm_that_does_not_answer_is_not_kept_as_knowing_nothing() -> None:
    transport = RecordingTransport("", 1, "scontrol: error: Unable to contact slurm controller")
    backend = SlurmBackend(transport)
    backend._user = "dcvtest"
    transport.stdout = ""
    with pytest.raises(SlurmUnavailable):
        backend.reservations(None)
    recent = Recent(backend.choices)
    transport.stderr = "sacctmgr: error: Problem talking to the database: Connection refused"
    with pytest.raises(SlurmUnavailable):
        recent.get(max_age=600)
    transport.returncode, transport.stderr, transport.stdout = 0, "", ASSOCIATIONS
    assert recent.get(max_age=600).associations is not None  # asked again, not kept
