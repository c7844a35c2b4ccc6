"""Parsing of sbatch, squeue and sinfo output captured from Slurm 22.05 (Debian 12)."""

from __future__ import annotations

import pytest

from dcv_widget.backends.slurm import (
    JobStatus,
    JobTag,
    SlurmError,
    job_comment,
    parse_job_comment,
    parse_sacct,
    parse_sbatch,
    parse_sinfo,
    parse_squeue,
    sbatch_argv,
)
from dcv_widget.request import LaunchRequest

# Captured with: squeue --me --states=all --noheader --format=%i^_%T^_%r^_%N^_%L^_%P^_%k
SQUEUE = (
    "2\x1fCANCELLED\x1fNone\x1fdcv-node-1\x1f9:59\x1fdcv\x1fdcv-widget:novnc:ab12\n"
    "3\x1fCOMPLETED\x1fNone\x1fdcv-node-1\x1fUNLIMITED\x1fdcv\x1f(null)\n"
    "7\x1fPENDING\x1fResources\x1f\x1f1:00:00\x1fviz\x1fnote\x1fwith a separator\n"
)
# As documented for sacct --noheader --parsable2 --format=JobIDRaw,State,NodeList
SACCT = (
    "41\x1fCOMPLETED\x1fdcv-node-1\n"
    "41.batch\x1fCOMPLETED\x1fdcv-node-1\n"
    "42\x1fCANCELLED by 1001\x1fdcv-node-1\n"
    "43\x1fTIMEOUT\x1fdcv-node-2\n"
)
# Captured with: sinfo --noheader --format=%P^_%a^_%l^_%F
SINFO = "dcv*\x1fup\x1finfinite\x1f0/1/0/1\nviz\x1fdown\x1f12:00:00\x1f2/0/1/3\n"


def test_sbatch_parsable_plain_and_with_cluster() -> None:
    assert parse_sbatch("123\n") == "123"
    assert parse_sbatch("456;cluster-a\n") == "456"


def test_sbatch_garbage_is_an_error() -> None:
    with pytest.raises(SlurmError, match="instead of a job id"):
        parse_sbatch("sbatch: error: something\n")


def test_squeue_lines_become_job_statuses() -> None:
    jobs = parse_squeue(SQUEUE)
    assert jobs["2"] == JobStatus(
        "2", "CANCELLED", "None", "dcv-node-1", "9:59", "dcv", "dcv-widget:novnc:ab12"
    )
    assert jobs["7"].partition == "viz"
    assert jobs["3"].time_left == "UNLIMITED"
    # Free text comes last, so a stray separator in it cannot shift the other fields.
    assert jobs["7"].comment == "note\x1fwith a separator"
    assert jobs["7"].nodes == ""
    assert jobs["7"].reason == "Resources"


def test_squeue_empty_output_means_no_jobs() -> None:
    assert parse_squeue("") == {}


def test_squeue_short_line_is_an_error() -> None:
    with pytest.raises(SlurmError, match="unexpected squeue line"):
        parse_squeue("12\x1fRUNNING\n")


def test_sacct_keeps_allocations_and_the_first_word_of_their_state() -> None:
    jobs = parse_sacct(SACCT)
    assert sorted(jobs) == ["41", "42", "43"]
    assert jobs["42"].state == "CANCELLED"
    assert jobs["43"].nodes == "dcv-node-2"


def test_job_comment_round_trip_and_strangers() -> None:
    for tag in (
        JobTag("dcv", "ab12"),
        JobTag("novnc", "ab12", "c0ffee"),
        JobTag("dcv", "ab12", "", "ssm"),
        JobTag("dcv", "ab12", "c0ffee", "tunnel"),
    ):
        assert parse_job_comment(job_comment(tag)) == tag
    assert job_comment(JobTag("dcv", "ab12")) == "dcv-widget:dcv:ab12"
    assert job_comment(JobTag("dcv", "ab12", "", "ssh")) == "dcv-widget:dcv:ab12::ssh"
    assert parse_job_comment("dcv-widget:dcv:ab12:c0ffee:") is None
    assert parse_job_comment("(null)") is None
    assert parse_job_comment("dcv-widget:novnc") is None
    assert parse_job_comment("dcv-widget:novnc::") is None
    assert parse_job_comment("someone-else:dcv:ab12") is None


def test_sinfo_partitions_with_default_and_free_nodes() -> None:
    dcv, viz = parse_sinfo(SINFO)
    assert (dcv.name, dcv.default, dcv.available, dcv.nodes_idle, dcv.nodes_total) == (
        "dcv",
        True,
        True,
        1,
        1,
    )
    assert (viz.name, viz.default, viz.available, viz.time_limit) == (
        "viz",
        False,
        False,
        "12:00:00",
    )
    assert viz.nodes_idle == 0 and viz.nodes_total == 3


def test_sbatch_argv_passes_every_value_as_one_option_item() -> None:
    request = LaunchRequest(
        partition="dcv", time="2:00:00", cpus=4, memory="8G", gpus=1, account="lab"
    )
    argv = sbatch_argv(
        request, output="/home/u/.dcv-widget/logs/desktop-%j.out", comment="dcv-widget:novnc"
    )
    assert argv[:2] == ["sbatch", "--parsable"]
    assert "--partition=dcv" in argv
    assert "--time=2:00:00" in argv
    assert "--cpus-per-task=4" in argv
    assert "--mem=8G" in argv
    assert "--gpus=1" in argv
    assert "--account=lab" in argv
    assert all(item.startswith("--") for item in argv[1:])


def test_sbatch_argv_leaves_defaults_to_the_cluster() -> None:
    argv = sbatch_argv(LaunchRequest(), output="o", comment="c")
    assert not any(
        item.startswith(("--partition", "--mem", "--gpus", "--account")) for item in argv
    )
