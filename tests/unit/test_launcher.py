"""The launcher form: fields from settings and sinfo, one edit validated by name."""

from __future__ import annotations

from dataclasses import asdict

from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.slurm import Partition
from dcv_widget.ui.launcher import launcher_fields, parse_field

VALUES = asdict(LaunchRequest(partition="dcv"))
PARTITIONS = [
    Partition("dcv", True, True, "infinite", 1, 2),
    Partition("viz", False, False, "1:00:00", 0, 4),
]


def test_partitions_come_with_their_state_and_free_nodes() -> None:
    partition = launcher_fields(VALUES, {}, PARTITIONS)[0]
    assert partition["name"] == "partition" and partition["value"] == "dcv"
    labels = [o["label"] for o in partition["options"]]
    assert labels == [
        "the cluster's default",
        "dcv (up, default, 1 of 2 nodes free)",
        "viz (down, 0 of 4 nodes free)",
    ]


def test_a_bad_edit_is_kept_and_explained() -> None:
    value, error = parse_field("time", "1h", VALUES)
    assert value == "1h"
    assert error.startswith("time: '1h' is not valid; use a Slurm time limit")


def test_numbers_are_parsed_and_bounded() -> None:
    assert parse_field("cpus", "4", VALUES) == (4, "")
    assert parse_field("cpus", "four", VALUES)[1] == "cpus: 'four' is not valid; use a whole number"
    assert "whole number from 1" in parse_field("cpus", "0", VALUES)[1]


def test_empty_means_the_default() -> None:
    assert parse_field("partition", " ", VALUES) == (None, "")
    assert parse_field("memory", "", VALUES) == (None, "")


def test_hostile_text_is_refused_by_name() -> None:
    _, error = parse_field("partition", "dcv; rm -rf ~", VALUES)
    assert error.startswith("partition: ")


def test_errors_show_on_their_field() -> None:
    fields = launcher_fields({**VALUES, "time": "1h"}, {"time": "time: bad"}, [])
    assert next(f for f in fields if f["name"] == "time")["error"] == "time: bad"
    assert all(f["error"] == "" for f in fields if f["name"] != "time")


def test_a_locked_form_has_no_typing_hints() -> None:
    assert all(f["hint"] == "" for f in launcher_fields(VALUES, {}, [], locked=True))


def test_an_unset_optional_field_stays_unset() -> None:
    assert parse_field("partition", None, VALUES) == (None, "")
