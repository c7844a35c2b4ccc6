"""The launcher warns under CPUs, GPUs and Memory when no node of the chosen partition could hold
the desktop (sinfo's biggest node), before anything is submitted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.slurm import Partition
from dcv_widget.ui.launcher import chosen_partition, fit_warnings, launcher_fields


def partition(name: str, *, cpus: int | None = 8, gpus: int | None = 0) -> Partition:
    """One idle node of `cpus` CPUs, 8000 MB and `gpus` GPUs (None: sinfo did not say)."""
    return Partition(
        name=name,
        state="up",
        default=name == "dcv",
        time_limit="infinite",
        cpus_idle=8,
        cpus_asleep=0,
        cpus_total=8,
        nodes_total=1,
        nodes_unusable=0,
        node_cpus=cpus,
        node_memory_mb=8000 if cpus else None,
        node_gpus=gpus,
    )


PARTITIONS = [partition("dcv"), partition("gpu", cpus=32, gpus=4)]


def values(**changes: Any) -> dict[str, Any]:
    return {**asdict(LaunchRequest(partition="dcv")), **changes}


def warnings_of(v: dict[str, Any]) -> dict[str, str]:
    fields = launcher_fields(v, {}, PARTITIONS)
    return {f["name"]: f["warning"] for f in fields if f["warning"]}


def test_a_desktop_that_fits_gets_no_warning() -> None:
    assert warnings_of(values(cpus=8, memory="8000M")) == {}
    assert warnings_of(values(partition="gpu", cpus=32, gpus=4, memory="7G")) == {}


def test_more_than_any_node_has_is_said_under_its_field() -> None:
    found = warnings_of(values(cpus=64, gpus=1, memory="16G"))
    assert found["cpus"] == (
        "No node of dcv has 64 CPUs (the most is 8): a desktop asking for that would never "
        "start there. Ask for 8 or fewer, or choose another partition."
    )
    assert found["gpus"].startswith("No node of dcv has 1 GPU (it has none)")
    assert found["memory"].startswith("No node of dcv has 16G of memory (the most is 8000 MB)")
    assert set(found) == {"cpus", "gpus", "memory"}
    # The same request on the GPU partition asks too much only memory.
    assert set(warnings_of(values(partition="gpu", cpus=64, gpus=1, memory="16G"))) == {
        "cpus",
        "memory",
    }


def test_the_default_partition_is_checked_when_none_is_chosen() -> None:
    assert chosen_partition(None, PARTITIONS) == PARTITIONS[0]
    assert "cpus" in warnings_of(values(partition=None, cpus=9))


def test_what_sinfo_did_not_say_is_not_guessed() -> None:
    unknown = partition("dcv", cpus=None, gpus=None)
    assert fit_warnings(unknown, values(cpus=512, gpus=8, memory="1T")) == {}
    assert fit_warnings(None, values(cpus=512)) == {}
    # An invalid value is the field's error, not a warning.
    assert fit_warnings(PARTITIONS[0], values(cpus="many", memory="lots")) == {}


def test_a_warning_does_not_disable_launch() -> None:
    fields = launcher_fields(values(cpus=64), {}, PARTITIONS)
    assert next(f for f in fields if f["name"] == "cpus")["error"] == ""
