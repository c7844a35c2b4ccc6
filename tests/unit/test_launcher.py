"""The launcher form: fields from settings and sinfo, one edit validated by name; the partition
labels re-read while a view shows the form."""

from __future__ import annotations

import time
import types
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any, cast

import pytest

import dcv_widget.common.recent as recent_module
from dcv_widget.desktops.bounds import Bounds
from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import InvalidRequest, LaunchRequest
from dcv_widget.desktops.session import boot_words
from dcv_widget.desktops.slurm import Partition
from dcv_widget.desktops.slurm_options import SlurmChoices, parse_associations, parse_reservations
from dcv_widget.settings import DesktopSettings
from dcv_widget.transport.base import CommandResult, Transport
from dcv_widget.ui import desktop as desktop_module
from dcv_widget.ui.desktop import Desktop
from dcv_widget.ui.launcher import (
    combined_error,
    fit_warnings,
    launch_blocker,
    launcher_fields,
    parse_field,
    partition_outlook,
)

# pytest puts this folder on sys.path (no __init__.py); mypy knows it by its path.
if TYPE_CHECKING:
    from tests.unit.test_slurm_choices import ASSOCIATIONS, RESERVATION
else:
    from test_slurm_choices import ASSOCIATIONS, RESERVATION

VALUES = asdict(LaunchRequest(partition="dcv"))


def partition(name: str, state: str = "up", **counts: int) -> Partition:
    """A partition as parse_sinfo sums it: by default one idle 8-CPU node."""
    numbers: dict[str, Any] = {"cpus_idle": 8, "cpus_asleep": 0, "cpus_total": 8, "nodes_total": 1}
    numbers.update(counts)
    return Partition(
        name=name,
        state=state,
        default=name == "dcv",
        time_limit="infinite",
        nodes_unusable=numbers.pop("nodes_unusable", 0),
        **numbers,
    )


# The local Slurm: a shared node with 7 CPUs idle, a powered-down cloud node, a partition down.
PARTITIONS = [
    partition("dcv", cpus_idle=7),
    partition("dcv-cloud", cpus_idle=0, cpus_asleep=8),
    partition("dcv-maint", "down", cpus_idle=7),
]


def partition_field(values: dict[str, Any], partitions: list[Partition]) -> dict[str, Any]:
    return launcher_fields(values, {}, partitions, boot_seconds=30)[0]


def test_partition_labels_say_whether_a_desktop_starts_now() -> None:
    field = partition_field(VALUES, PARTITIONS)
    assert field["name"] == "partition" and field["value"] == "dcv"
    assert [o["label"] for o in field["options"]] == [
        "the cluster's default (dcv)",
        "dcv (default): starts now, 7 of 8 CPUs idle",
        "dcv-cloud: powered down, starts in ~30 s",
        "dcv-maint: down, desktops wait for an admin",
    ]
    assert field["warning"] == ""


def test_the_outlook_depends_on_the_cpus_asked_for() -> None:
    dcv, cloud, _ = PARTITIONS
    assert partition_outlook(dcv, 8, 30) == ("busy, 7 of 8 CPUs idle, desktops queue", False)
    # Idle CPUs first; a node boots only when they are not enough.
    mixed = partition("viz", cpus_idle=2, cpus_asleep=16, cpus_total=24, nodes_total=3)
    assert partition_outlook(mixed, 2, 30)[0] == "starts now, 2 of 24 CPUs idle"
    assert partition_outlook(mixed, 4, 30)[0] == "powered down, starts in ~30 s"
    assert partition_outlook(cloud, 9, 30)[0] == "busy, 0 of 8 CPUs idle, desktops queue"
    labels = [o["label"] for o in partition_field({**VALUES, "cpus": 8}, PARTITIONS)["options"]]
    assert labels[1] == "dcv (default): busy, 7 of 8 CPUs idle, desktops queue"
    # sinfo's counts say nothing of free GPUs: no promise then.
    labels = [o["label"] for o in partition_field({**VALUES, "gpus": 1}, PARTITIONS)["options"]]
    assert labels[1] == "dcv (default): 7 of 8 CPUs idle, free GPUs not known"


def test_partitions_that_will_not_start_a_desktop_by_themselves() -> None:
    drained = partition("gpu", nodes_unusable=1, cpus_idle=0)
    assert partition_outlook(drained, 1, 30) == ("no usable node (down or drained)", True)
    assert partition_outlook(partition("old", "inact"), 1, 30) == (
        "closed to new desktops (inact)",
        True,
    )
    assert partition_outlook(PARTITIONS[2], 1, 30) == ("down, desktops wait for an admin", True)


def test_choosing_a_down_partition_warns_under_it() -> None:
    warning = partition_field({**VALUES, "partition": "dcv-maint"}, PARTITIONS)["warning"]
    assert warning.startswith("dcv-maint is down: a desktop launched there waits in the queue")
    assert warning.endswith("Choose another partition, or ask your cluster admin.")
    drained = partition("gpu", nodes_unusable=1, cpus_idle=0)
    warning = partition_field({**VALUES, "partition": "gpu"}, [drained])["warning"]
    assert warning.startswith("gpu has no usable node (down or drained): a desktop")
    closed = partition_field({**VALUES, "partition": "old"}, [partition("old", "drain")])
    assert "Slurm would refuse the desktop" in closed["warning"]
    # The cluster's default warns when the default partition is the one that is down.
    down_default = [partition("dcv", "down")]
    assert partition_field({**VALUES, "partition": None}, down_default)["warning"].startswith(
        "dcv is down"
    )
    # Only the partition field warns.
    fields = launcher_fields({**VALUES, "partition": "dcv-maint"}, {}, PARTITIONS)
    assert all(f["warning"] == "" for f in fields[1:])


def test_boot_time_in_words() -> None:
    assert boot_words(30) == "in ~30 s"
    assert boot_words(60) == "in about a minute"
    assert boot_words(240) == "in ~4 min"
    assert boot_words(0) == "once a node has booted"


def test_a_partition_sinfo_does_not_list_keeps_its_name() -> None:
    labels = [o["label"] for o in partition_field({**VALUES, "partition": "x"}, [])["options"]]
    assert labels == ["the cluster's default", "x"]


def test_a_disabled_launch_names_the_fields_to_fix() -> None:
    assert launch_blocker({}) == ""
    assert launch_blocker({"time": "time: bad"}) == (
        "To launch, fix Time limit (see the message above)."
    )
    assert launch_blocker({"time": "t", "cpus": "c", "memory": "m"}) == (
        "To launch, fix Time limit, CPUs and Memory (see the messages above)."
    )


def test_a_bad_edit_is_kept_and_explained() -> None:
    value, error = parse_field("time", "1h", VALUES)
    assert value == "1h"
    assert error.startswith("Time limit: '1h' is not valid; use a Slurm time limit")


def test_numbers_are_parsed_and_bounded() -> None:
    assert parse_field("cpus", "4", VALUES) == (4, "")
    assert parse_field("cpus", "four", VALUES)[1] == "CPUs: 'four' is not valid; use a whole number"
    assert "whole number from 1" in parse_field("cpus", "0", VALUES)[1]


def test_empty_means_the_default() -> None:
    assert parse_field("partition", " ", VALUES) == (None, "")
    assert parse_field("memory", "", VALUES) == (None, "")


def test_hostile_text_is_refused_by_name() -> None:
    _, error = parse_field("partition", "dcv; rm -rf ~", VALUES)
    assert error.startswith("Partition: ")


def test_errors_show_on_their_field() -> None:
    fields = launcher_fields({**VALUES, "time": "1h"}, {"time": "time: bad"}, [])
    assert next(f for f in fields if f["name"] == "time")["error"] == "time: bad"
    assert all(f["error"] == "" for f in fields if f["name"] != "time")


def test_a_locked_form_has_no_typing_hints() -> None:
    assert all(f["hint"] == "" for f in launcher_fields(VALUES, {}, [], locked=True))


def test_an_unset_optional_field_stays_unset() -> None:
    assert parse_field("partition", None, VALUES) == (None, "")


# sinfo --noheader --exact --format=%P^_%a^_%l^_%t^_%D^_%C^_%c^_%m^_%G on the local Slurm
# (test_slurm_parsing.py).
SINFO = (
    "dcv*\x1fup\x1finfinite\x1fmix\x1f1\x1f1/7/0/8\x1f8\x1f8000\x1fgpu:t4:2\x1fx11,avx2\n"
    "dcv-maint\x1fdown\x1finfinite\x1fmix\x1f1\x1f1/7/0/8\x1f8\x1f8000\x1fgpu:t4:2\x1fx11,avx2\n"
    "dcv-cloud\x1fup\x1finfinite\x1fidle~\x1f1\x1f0/8/0/8\x1f8\x1f8000\x1fgpu:a10g:1\x1fcloud\n"
)


class SinfoTransport:
    """Answers sinfo with the local Slurm's partitions and counts the calls; the user's QOS and
    reservations are not known (sacctmgr and scontrol fail), and nothing else runs."""

    def __init__(self) -> None:
        self.sinfo_calls = 0
        self.choices_calls = 0

    def run(self, argv: list[str], **_kwargs: object) -> CommandResult:
        if argv[0] in ("id", "sacctmgr", "scontrol"):
            self.choices_calls += argv[0] == "id"
            return CommandResult(tuple(argv), 1, "", f"{argv[0]}: not here")
        assert argv[0] == "sinfo", argv
        self.sinfo_calls += 1
        return CommandResult(tuple(argv), 0, SINFO, "")


def eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_the_form_rereads_the_partitions_only_while_a_view_shows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(desktop_module, "PARTITIONS_REFRESH", 0.1)
    monkeypatch.setattr(desktop_module, "SHOWN_LEASE", 1.0)
    transport = SinfoTransport()
    manager = SessionManager(cast(Transport, transport))
    widget = Desktop(manager=manager, attach=False, settings=DesktopSettings(), partition="dcv")
    eventually(lambda: len(widget.launcher["fields"][0]["options"]) > 2)
    labels = [o["label"] for o in widget.launcher["fields"][0]["options"]]
    assert "dcv-cloud: powered down, starts in about a minute" in labels
    assert transport.sinfo_calls == 1
    time.sleep(0.5)
    assert transport.sinfo_calls == 1  # no view said it shows the form: no refresh

    # What a view on screen sends (js/src/launcher.ts); without it, the refresh stops.
    widget._on_message(widget, {"action": "shown"}, None)
    eventually(lambda: transport.sinfo_calls >= 3)
    eventually(lambda: not widget._partitions_loop.running)
    stopped = transport.sinfo_calls
    time.sleep(0.5)
    assert transport.sinfo_calls == stopped
    widget.close()


def test_a_launcher_rereading_after_its_interval_gets_a_new_sinfo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The widget notes its read's time just before the manager's; one interval later its
    # round must get a new answer, not the one it caused itself (the label never changed).
    transport = SinfoTransport()
    manager = SessionManager(cast(Transport, transport))
    now = [1000.0]
    clock = types.SimpleNamespace(monotonic=lambda: now[0], time=lambda: now[0])
    monkeypatch.setattr(recent_module, "time", clock)
    widget_read = now[0]
    now[0] += 0.2  # the widget's bookkeeping, then the manager's sinfo
    manager.partitions(max_age=90)
    now[0] = widget_read + 90  # the widget's next round
    manager.partitions(max_age=90)
    assert transport.sinfo_calls == 2
    now[0] += 10  # another launcher of the kernel soon after: the same answer
    manager.partitions(max_age=90)
    assert transport.sinfo_calls == 2


def test_every_launcher_of_a_kernel_shares_one_sinfo() -> None:
    transport = SinfoTransport()
    manager = SessionManager(cast(Transport, transport))
    widgets = [
        Desktop(manager=manager, attach=False, settings=DesktopSettings(), partition="dcv")
        for _ in range(3)
    ]
    eventually(lambda: all(len(w.launcher["fields"][0]["options"]) > 1 for w in widgets))
    assert transport.sinfo_calls == 1
    for widget in widgets:
        widget.close()


def test_the_widget_warns_about_a_down_partition_and_says_why_launch_is_disabled() -> None:
    manager = SessionManager(cast(Transport, SinfoTransport()))
    widget = Desktop(manager=manager, attach=False, settings=DesktopSettings(), partition="dcv")
    eventually(lambda: len(widget.launcher["fields"][0]["options"]) > 1)
    assert widget.launcher["launch_blocker"] == ""
    widget._on_message(widget, {"action": "set", "field": "partition", "value": "dcv-maint"}, None)
    assert widget.launcher["fields"][0]["warning"].startswith("dcv-maint is down")
    assert widget.launcher["can_launch"] is True  # a warning: the desktop would queue
    widget._on_message(widget, {"action": "set", "field": "cpus", "value": "two"}, None)
    assert widget.launcher["can_launch"] is False
    assert widget.launcher["launch_blocker"] == "To launch, fix CPUs (see the message above)."
    widget.close()


def test_launch_from_code_names_a_bad_field_as_the_form_labels_it() -> None:
    manager = SessionManager(cast(Transport, SinfoTransport()))
    widget = Desktop(manager=manager, attach=False, settings=DesktopSettings(), partition="dcv")
    widget._on_message(widget, {"action": "set", "field": "cpus", "value": "two"}, None)
    with pytest.raises(InvalidRequest) as refused:
        widget.launch()
    assert str(refused.value).startswith("CPUs: 'two' is not valid; use a whole number")
    cpus = next(f for f in widget.launcher["fields"] if f["name"] == "cpus")
    assert cpus["error"] == str(refused.value)  # the form says the same
    assert manager.sessions() == []
    widget.close()


# The local Slurm's typed GPUs and node features (tests/unit/test_slurm_parsing.py's format),
# and dcvtest's associations and reservation (tests/unit/test_slurm_options.py).
SLURM_PARTITIONS = [
    replace(PARTITIONS[0], node_gpus=2, gpu_types=("t4",), features=("avx2", "x11")),
    replace(PARTITIONS[1], node_gpus=1, gpu_types=("a10g",), features=("cloud",)),
    PARTITIONS[2],
]
CHOICES = SlurmChoices(
    parse_associations(ASSOCIATIONS), tuple(parse_reservations(RESERVATION, "dcvtest", None, 0))
)


def fields_by_name(values: dict[str, Any], **kwargs: Any) -> dict[str, dict[str, Any]]:
    listed = launcher_fields(values, {}, SLURM_PARTITIONS, **kwargs)
    return {f["name"]: f for f in listed}


def test_slurms_options_are_offered_from_what_slurm_lists() -> None:
    form = fields_by_name({**VALUES, "gpus": 1}, choices=CHOICES)
    gpu_type = form["gpu_type"]
    assert (gpu_type["kind"], gpu_type["hidden"]) == ("select", False)
    assert [o["value"] for o in gpu_type["options"]] == ["", "t4"]  # dcv's; any type first
    assert form["constraint"]["suggestions"] == ["avx2", "x11"]
    assert form["constraint"]["group"] == "more" and not form["constraint"]["hidden"]
    # dcvtest's accounts (default dcv-users) and the default account's QOS.
    assert [o["label"] for o in form["account"]["options"]] == [
        "your default (dcv-users)",
        "class101",
        "dcv-users",
    ]
    assert [o["label"] for o in form["qos"]["options"]] == [
        "your default (normal)",
        "desktop",
        "normal",
    ]
    labels = [o["label"] for o in form["reservation"]["options"]]
    assert labels[0] == "none" and labels[1].startswith("dcv-class: now, until ")
    assert labels[1].endswith("; account class101")
    assert form["exclusive"]["hidden"]  # the site does not allow whole nodes
    assert not fields_by_name(VALUES, bounds=Bounds(allow_exclusive=True))["exclusive"]["hidden"]


def test_a_choice_follows_the_partition_and_the_account() -> None:
    cloud = fields_by_name({**VALUES, "partition": "dcv-cloud", "gpus": 1}, choices=CHOICES)
    assert [o["value"] for o in cloud["gpu_type"]["options"]] == ["", "a10g"]
    assert cloud["constraint"]["suggestions"] == ["cloud"]
    class101 = fields_by_name({**VALUES, "account": "class101"}, choices=CHOICES)
    assert [o["value"] for o in class101["qos"]["options"]] == ["", "class", "desktop", "normal"]
    assert class101["reservation"]["warning"] == ""


def test_a_choice_with_nothing_to_offer_is_hidden() -> None:
    form = fields_by_name(VALUES, choices=SlurmChoices(parse_associations(ASSOCIATIONS), ()))
    assert form["gpu_type"]["hidden"]  # no GPUs asked for
    assert form["reservation"]["hidden"]  # none for this user
    lone = "u|u|normal|normal\n"
    assert fields_by_name(VALUES, choices=SlurmChoices(parse_associations(lone), ()))["qos"][
        "hidden"
    ]
    # Not read yet: nothing shown that could turn into something else a moment later.
    unread = fields_by_name(VALUES)
    assert unread["qos"]["hidden"] and unread["reservation"]["hidden"]
    assert {unread[n]["kind"] for n in ("account", "qos", "reservation")} == {"select"}
    # A value is shown even where nothing else is offered.
    assert not fields_by_name({**VALUES, "reservation": "old"}, choices=CHOICES)["reservation"][
        "hidden"
    ]


def test_without_accounting_qos_and_reservation_are_typed() -> None:
    form = fields_by_name(VALUES, choices=SlurmChoices(None, None))
    assert (form["qos"]["kind"], form["qos"]["hidden"]) == ("text", False)
    assert (form["reservation"]["kind"], form["reservation"]["hidden"]) == ("text", False)
    assert form["account"]["hidden"]  # meaningless without accounting
    listed = fields_by_name(
        VALUES, choices=SlurmChoices(None, None), bounds=Bounds(allowed_qos=("desktop",))
    )
    assert [o["value"] for o in listed["qos"]["options"]] == ["", "desktop"]


def test_the_site_bounds_what_is_offered() -> None:
    bounds = Bounds(allowed_qos=("desktop",), allowed_reservations=("other",))
    form = fields_by_name({**VALUES, "gpus": 1}, choices=CHOICES, bounds=bounds)
    assert [o["value"] for o in form["qos"]["options"]] == ["", "desktop"]
    assert form["reservation"]["hidden"]
    assert fields_by_name({**VALUES, "gpus": 1}, bounds=Bounds(allowed_gpu_types=("a100",)))[
        "gpu_type"
    ]["hidden"]


def test_a_reservation_for_another_account_warns_under_it() -> None:
    form = fields_by_name({**VALUES, "reservation": "dcv-class"}, choices=CHOICES)
    assert form["reservation"]["warning"] == (
        "dcv-class is for account class101 only: choose class101 under Account, or Slurm "
        "refuses the desktop."
    )


def test_a_reservation_too_small_for_the_desktop_warns_under_it() -> None:
    values = {**VALUES, "reservation": "dcv-class", "account": "class101", "cpus": 2}
    assert fields_by_name(values, choices=CHOICES)["reservation"]["warning"] == (
        "dcv-class holds 1 CPU: a desktop asking for 2 would never start in it. Ask for 1 or fewer."
    )


def test_what_no_node_of_the_partition_has_warns_under_its_field() -> None:
    warnings = fit_warnings(
        SLURM_PARTITIONS[0], {**VALUES, "gpus": 1, "gpu_type": "a10g", "constraint": "avx2&cloud"}
    )
    assert warnings["gpu_type"].startswith("No node of dcv has GPUs of type a10g (it has t4)")
    assert warnings["constraint"].startswith(
        "No node of dcv has the feature cloud (its nodes have avx2, x11)"
    )
    # Any of them: one there is enough.
    assert "constraint" not in fit_warnings(
        SLURM_PARTITIONS[0], {**VALUES, "constraint": "cloud|x11"}
    )


def test_a_gpu_type_is_checked_alone_then_with_the_gpus() -> None:
    values = {**VALUES, "gpus": 0}
    assert parse_field("gpu_type", "t4", values) == ("t4", "")
    assert parse_field("gpu_type", "t4;x", values)[1].startswith("GPU type: 't4;x' is not valid")
    assert combined_error({**values, "gpu_type": "t4"}) == {
        "gpu_type": "GPU type: 't4' is not valid; a GPU type needs GPUs: ask for 1 GPU or more, "
        "or leave the GPU type empty"
    }
    assert combined_error({**values, "gpus": 1, "gpu_type": "t4"}) == {}


def test_whole_node_is_a_checkbox() -> None:
    assert parse_field("exclusive", True, VALUES, Bounds(allow_exclusive=True)) == (True, "")
    assert parse_field("exclusive", "false", VALUES) == (False, "")
    assert parse_field("exclusive", True, VALUES)[1].startswith("Whole node: True is not valid")
    assert parse_field("exclusive", "maybe", VALUES)[1] == (
        "Whole node: 'maybe' is not valid; use true or false"
    )


def test_a_locked_form_shows_only_the_more_options_it_sets() -> None:
    form = launcher_fields({**VALUES, "qos": "desktop"}, {}, SLURM_PARTITIONS, locked=True)
    shown = [f["name"] for f in form if not f.get("hidden")]
    assert "qos" in shown and "reservation" not in shown and "constraint" not in shown
