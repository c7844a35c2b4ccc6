"""Validation of launch options: clear errors naming the field, nothing odd gets through."""

from __future__ import annotations

import pytest

from dcv_widget.desktops.request import (
    MEMORY_EXAMPLES,
    TIME_EXAMPLES,
    InvalidRequest,
    LaunchRequest,
    constraint_features,
    memory_kib,
    time_limit_seconds,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 1800),
        ("30:15", 1815),
        ("1:00:00", 3600),
        ("2-0", 172800),
        ("1-12", 129600),
        ("1-2:30", 95400),
        ("1-2:30:05", 95405),
    ],
)
def test_slurm_time_formats(text: str, seconds: int) -> None:
    assert time_limit_seconds(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "0", "1h", "1:00:00:00", "-1", "1-", "1:2:3; rm -rf ~", "10\n"]
)
def test_bad_time_limits_name_the_field(text: str) -> None:
    with pytest.raises(InvalidRequest, match=r"^time: ") as info:
        LaunchRequest(time=text)
    assert info.value.field == "time"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("partition", "dcv queue"),
        ("partition", "-oProxyCommand=touch /tmp/x"),
        ("partition", "dcv;id"),
        ("partition", "dcv\nid"),
        ("partition", "$(id)"),
        ("account", "`id`"),
        ("account", ".hidden"),
        ("memory", "8 G"),
        ("memory", "-1"),
        ("geometry", "1600x900 -rfbport 5900"),
        ("engine", "xdg-open"),
    ],
)
def test_hostile_values_are_rejected_with_their_field(field: str, value: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        LaunchRequest(**{field: value})  # type: ignore[arg-type]
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("field", "value"), [("cpus", 0), ("cpus", "4"), ("cpus", True), ("gpus", -1)]
)
def test_counts_must_be_whole_numbers_in_range(field: str, value: object) -> None:
    with pytest.raises(InvalidRequest, match=f"^{field}: .*whole number"):
        LaunchRequest(**{field: value})  # type: ignore[arg-type]


def test_reasonable_values_pass() -> None:
    request = LaunchRequest(
        partition="dcv-g4dn.x_1", account="proj-42", memory="512M", cpus=4, gpus=1
    )
    assert request.partition == "dcv-g4dn.x_1"


@pytest.mark.parametrize(
    ("text", "kib"),
    [
        ("4000", 4000 * 1024),
        ("512M", 512 * 1024),
        ("8G", 8 * 1024**2),
        ("1T", 1024**3),
        ("64K", 64),
    ],
)
def test_memory_sizes_in_slurms_units(text: str, kib: int) -> None:
    assert memory_kib(text) == kib


def test_a_bad_memory_size_names_the_field() -> None:
    with pytest.raises(InvalidRequest, match=r"^memory: '8 G' is not valid"):
        memory_kib("8 G")


def test_a_request_describes_itself_saying_what_empty_means() -> None:
    lines = LaunchRequest().describe().splitlines()
    assert lines[0] == "partition    the cluster's default"
    assert "memory       the partition's default" in lines and "GPUs         none" in lines
    assert "screen size  1600x900" in lines  # both engines', and their idle timeout when set:
    assert "idle timeout" not in "\n".join(lines)
    for engine in ("novnc", "dcv"):
        text = LaunchRequest(engine=engine, idle_timeout=20, geometry="1280x720").describe()
        assert "idle timeout  ends after 20 min without a connection" in text
        assert "screen size   1280x720" in text.splitlines() and "None" not in text


def test_the_form_names_an_error_by_its_label_with_its_hints_examples() -> None:
    """The hint above a field and the error below it give the same examples."""
    from dcv_widget.ui.launcher import FIELDS, parse_field

    hints = {f.name: f.hint for f in FIELDS}
    values = {"partition": None, "time": "1:00:00", "memory": None, "cpus": 1, "engine": "novnc"}
    for name, label, bad, examples in (
        ("time", "Time limit", "1h", TIME_EXAMPLES),
        ("memory", "Memory", "8 G", MEMORY_EXAMPLES),
    ):
        assert f"e.g. {examples}" in hints[name]
        error = parse_field(name, bad, values)[1]
        assert error.startswith(f"{label}: {bad!r} is not valid; ") and examples in error
    with pytest.raises(InvalidRequest) as refused:
        LaunchRequest(time="1h")
    assert str(refused.value).startswith("time: '1h' is not valid")  # code's own spelling
    assert refused.value.named("Time limit").startswith("Time limit: '1h' is not valid")


@pytest.mark.parametrize(
    ("constraint", "features"),
    [
        ("avx2", ("avx2",)),
        ("avx2&x11", ("avx2", "x11")),
        ("(t4|a10g)&cloud", ("t4", "a10g", "cloud")),
        ("((a))|b_c.d-e", ("a", "b_c.d-e")),
    ],
)
def test_node_feature_expressions(constraint: str, features: tuple[str, ...]) -> None:
    assert constraint_features(constraint) == features
    assert LaunchRequest(constraint=constraint).constraint == constraint


@pytest.mark.parametrize(
    ("constraint", "why"),
    [
        ("avx2&", "it ends before the expression does"),
        ("(avx2", "it ends before the expression does"),
        ("avx2)", "')' is out of place"),
        ("avx2&&x11", "'&' is out of place"),
        ("avx2 x11", "' ' is not allowed"),
        ("avx2;reboot", "';' is not allowed"),
        ("avx2,x11", "',' is not allowed"),
        ("avx2*2", "'*' is not allowed"),
        ("[avx2|x11]", "'[' is not allowed"),
        ("-x11", "'-x11' is not a feature name"),
        ("$(id)", "'$' is not allowed"),
        ("a" * 257, "it is longer than 256 characters"),
    ],
)
def test_node_feature_expressions_outside_the_grammar_are_refused_by_name(
    constraint: str, why: str
) -> None:
    with pytest.raises(InvalidRequest, match=r"^constraint: ") as caught:
        LaunchRequest(constraint=constraint)
    assert why in str(caught.value) and "avx2&x11" in str(caught.value)


@pytest.mark.parametrize("field", ["qos", "reservation", "gpu_type"])
@pytest.mark.parametrize("value", ["a b", "x;y", "-x", "t4:2", "a,b", ""])
def test_slurm_names_are_refused_by_field(field: str, value: str) -> None:
    with pytest.raises(InvalidRequest, match=rf"^{field}: "):
        LaunchRequest(**{"gpus": 1, field: value})  # type: ignore[arg-type]


def test_a_gpu_type_needs_gpus() -> None:
    with pytest.raises(InvalidRequest, match=r"^gpu_type: 't4' is not valid; a GPU type needs"):
        LaunchRequest(gpu_type="t4")
    assert LaunchRequest(gpus=2, gpu_type="t4").gpus_option == "t4:2"
    assert LaunchRequest(gpus=2).gpus_option == "2"


def test_exclusive_is_a_boolean() -> None:
    with pytest.raises(InvalidRequest, match=r"^exclusive: 'yes' is not valid"):
        LaunchRequest(exclusive="yes")  # type: ignore[arg-type]


def test_slurm_options_describe_themselves() -> None:
    plain = LaunchRequest().describe().splitlines()
    for line in (
        "QOS          your default",
        "reservation  none",
        "features     any node",
        "whole node   no (shared)",
    ):
        assert line in plain
    chosen = (
        LaunchRequest(
            gpus=1,
            gpu_type="t4",
            qos="desktop",
            reservation="dcv-class",
            constraint="avx2&x11",
            exclusive=True,
        )
        .describe()
        .splitlines()
    )
    for line in (
        "GPUs         1 of type t4",
        "QOS          desktop",
        "reservation  dcv-class",
        "features     avx2&x11",
        "whole node   yes (exclusive)",
    ):
        assert line in chosen
