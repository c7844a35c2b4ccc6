"""The site's bounds: out-of-bounds values refused naming the field, the bound and the setting;
values within them accepted; no bound unless the site sets one."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from dcv_widget.access.instructions import ROUTES
from dcv_widget.desktops.bounds import UNBOUNDED, Bounds, DesktopLimitReached
from dcv_widget.desktops.request import ENGINES, InvalidRequest, LaunchRequest
from dcv_widget.settings import DesktopSettings
from dcv_widget.ui.launcher import launcher_fields, parse_field

SITE = Bounds(
    max_time="8:00:00",
    max_cpus=8,
    max_gpus=1,
    max_memory="32G",
    allowed_engines=("novnc",),
    allowed_routes=("tunnel", "direct"),
)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("time", "8:00:01", "the site allows at most 8:00:00 (c.DesktopSettings.max_time)"),
        ("time", "1-00:00:00", "the site allows at most 8:00:00 (c.DesktopSettings.max_time)"),
        ("time", "481", "the site allows at most 8:00:00 (c.DesktopSettings.max_time)"),
        ("cpus", 9, "the site allows at most 8 (c.DesktopSettings.max_cpus)"),
        ("gpus", 2, "the site allows at most 1 (c.DesktopSettings.max_gpus)"),
        ("memory", "33G", "the site allows at most 32G (c.DesktopSettings.max_memory)"),
        ("memory", "32769", "the site allows at most 32G (c.DesktopSettings.max_memory)"),
        ("memory", "1T", "the site allows at most 32G (c.DesktopSettings.max_memory)"),
        (
            "engine",
            "dcv",
            "the site allows only novnc (c.DesktopSettings.allowed_engines)",
        ),
        (
            "access",
            "ssm",
            "the site allows only direct, tunnel (c.DesktopSettings.allowed_routes)",
        ),
    ],
)
def test_out_of_bounds_is_refused_naming_field_bound_and_setting(
    field: str, value: Any, message: str
) -> None:
    request = LaunchRequest(**{field: value})  # valid as such: only the site refuses it
    with pytest.raises(InvalidRequest) as info:
        SITE.check(request)
    assert info.value.field == field
    assert str(info.value) == f"{field}: {value!r} is not valid; {message}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time", "8:00:00"),
        ("time", "480"),
        ("time", "0-08"),
        ("cpus", 8),
        ("gpus", 1),
        ("gpus", 0),
        ("memory", "32G"),
        ("memory", "32768"),
        ("memory", "33554432K"),
        ("memory", None),  # the partition's default: not the widget's to bound
        ("engine", "novnc"),
        ("access", "tunnel"),
        ("access", "direct"),
    ],
)
def test_within_bounds_is_accepted(field: str, value: Any) -> None:
    SITE.check(LaunchRequest(**{field: value}))


def test_no_bound_by_default() -> None:
    huge = LaunchRequest(time="999-00:00:00", cpus=1024, gpus=64, memory="999999999T")
    for engine in ENGINES:
        for access in ROUTES:
            UNBOUNDED.check(LaunchRequest(**{**asdict(huge), "engine": engine, "access": access}))
    assert DesktopSettings().bounds() == UNBOUNDED
    assert (UNBOUNDED.engines, UNBOUNDED.routes) == (ENGINES, ROUTES)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("max_time", "8h", "use a Slurm time limit such as 8:00:00 or 1-00:00:00"),
        ("max_memory", "32 GB", "use a size such as 32G"),
        ("allowed_engines", ("novnc", "vnc"), "list some of novnc, dcv"),
        (
            "allowed_routes",
            ("ssh-tunnel",),
            "list some of jupyter, direct, ssh, ssm, ssm-head, tunnel",
        ),
        ("max_cpus", -1, "use a whole number, 0 for no bound"),
    ],
)
def test_a_malformed_bound_is_named(setting: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidRequest, match=rf"^{setting}: .*{message}") as info:
        Bounds(**{setting: value})
    assert f"(c.DesktopSettings.{setting})" in str(info.value)


# -- through the settings: every entry point (Desktop(), launch(), dcv-desktop) ---------------


def site_settings(**extra: Any) -> DesktopSettings:
    return DesktopSettings(
        time="2:00:00",
        max_time="8:00:00",
        max_cpus=8,
        max_gpus=1,
        max_memory="32G",
        allowed_engines=["novnc"],
        allowed_routes=["direct", "tunnel"],
        **extra,
    )


def test_settings_apply_their_bounds_to_every_request() -> None:
    settings = site_settings()
    assert settings.request().time == "2:00:00"
    within = settings.request(time="8:00:00", cpus=8, gpus=1, memory="32G", access="tunnel")
    assert (within.time, within.cpus, within.gpus, within.memory) == ("8:00:00", 8, 1, "32G")
    with pytest.raises(InvalidRequest, match=r"^time: '12:00:00' .*at most 8:00:00 \(c\.Desk"):
        settings.request(time="12:00:00")
    with pytest.raises(InvalidRequest, match=r"^cpus: 16 .*at most 8 \(c\.DesktopSettings\.max"):
        settings.request(cpus=16)
    with pytest.raises(InvalidRequest, match=r"^engine: 'dcv' .*only novnc \(c\.DesktopSet"):
        settings.request(engine="dcv")
    with pytest.raises(InvalidRequest, match=r"^access: 'ssh' .*only direct, tunnel \(c\.Desk"):
        settings.request(access="ssh")


def test_a_site_default_outside_its_own_bounds_is_named() -> None:
    with pytest.raises(InvalidRequest, match=r"^engine: 'novnc' .*allowed_engines"):
        DesktopSettings(allowed_engines=["dcv"]).request()
    assert DesktopSettings(allowed_engines=["dcv"], engine="dcv").request().engine == "dcv"


def test_a_bad_value_is_still_explained_as_such_before_the_bound() -> None:
    with pytest.raises(InvalidRequest, match=r"^time: '8h' is not valid; use a Slurm time"):
        site_settings().request(time="8h")


# -- the launcher form: the bound inline on its field, only allowed options ------------------

VALUES = asdict(site_settings().request())


def test_the_launcher_shows_a_bound_error_inline_on_its_field() -> None:
    bounds = site_settings().bounds()
    assert parse_field("time", "12:00:00", VALUES, bounds) == (
        "12:00:00",
        "Time limit: '12:00:00' is not valid; the site allows at most 8:00:00 "
        "(c.DesktopSettings.max_time)",
    )
    assert parse_field("cpus", "9", VALUES, bounds)[1].startswith("CPUs: 9 is not valid; the site")
    assert parse_field("memory", "64G", VALUES, bounds)[1].endswith(
        "(c.DesktopSettings.max_memory)"
    )
    assert parse_field("engine", "dcv", VALUES, bounds)[1].startswith("Engine: 'dcv' is not valid")
    assert parse_field("time", "8:00:00", VALUES, bounds) == ("8:00:00", "")
    assert parse_field("cpus", "8", VALUES, bounds) == (8, "")
    # A malformed value keeps its own explanation; without bounds nothing changes.
    assert "use a Slurm time limit" in parse_field("time", "1h", VALUES, bounds)[1]
    assert parse_field("time", "12:00:00", VALUES) == ("12:00:00", "")


def test_the_launcher_offers_only_the_allowed_engines_and_routes() -> None:
    fields = {
        f["name"]: f for f in launcher_fields(VALUES, {}, [], bounds=site_settings().bounds())
    }
    assert [o["value"] for o in fields["engine"]["options"]] == ["novnc"]
    assert [o["value"] for o in fields["access"]["options"]] == ["direct", "tunnel"]
    assert fields["time"]["hint"].endswith("; at most 8:00:00")
    assert fields["cpus"]["hint"] == "at most 8"
    assert fields["memory"]["hint"].endswith("; at most 32G")
    everything = {f["name"]: f for f in launcher_fields(VALUES, {}, [])}
    assert [o["value"] for o in everything["engine"]["options"]] == list(ENGINES)
    assert [o["value"] for o in everything["access"]["options"]] == list(ROUTES)
    assert everything["cpus"]["hint"] == ""


def test_the_desktop_limit_message_names_the_setting() -> None:
    assert str(DesktopLimitReached(2, 2)) == (
        "you already have 2 desktops running or queued; the site allows 2 at once "
        "(c.DesktopSettings.max_desktops): end one first"
    )
    assert str(DesktopLimitReached(1, 1)).startswith("you already have 1 desktop running")


def test_the_bounds_say_no_limit_where_a_repr_would_say_zero() -> None:
    lines = UNBOUNDED.describe().splitlines()
    assert lines[:4] == [
        "time limit     no limit",
        "CPUs           no limit",
        "GPUs           no limit",
        "memory         no limit",
    ]
    assert lines[4] == f"engines        any ({', '.join(ENGINES)})"
    assert lines[5] == f"access routes  any ({', '.join(ROUTES)})"
    site = SITE.describe()
    for words in ("at most 8:00:00", "at most 8\n", "at most 1\n", "at most 32G", "only novnc"):
        assert words in site
    assert "only tunnel, direct" in site and "=" not in site and "max_" not in site


SLURM_SITE = Bounds(
    allowed_qos=("normal", "desktop"),
    allowed_reservations=("dcv-class",),
    allowed_features=("avx2", "x11"),
    allowed_gpu_types=("t4",),
)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("qos", "priority", "the site allows only normal, desktop (c.DesktopSettings.allowed_qos)"),
        (
            "reservation",
            "other",
            "the site allows only dcv-class (c.DesktopSettings.allowed_reservations)",
        ),
        (
            "constraint",
            "avx2&(x11|cloud)",
            "the site allows only the node features avx2, x11, not 'cloud' "
            "(c.DesktopSettings.allowed_features)",
        ),
        ("gpu_type", "a10g", "the site allows only t4 (c.DesktopSettings.allowed_gpu_types)"),
        (
            "exclusive",
            True,
            "the site does not allow a whole node per desktop; desktops share nodes "
            "(c.DesktopSettings.allow_exclusive)",
        ),
    ],
)
def test_slurm_options_out_of_bounds_name_the_setting(field: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidRequest, match=rf"^{field}: ") as caught:
        SLURM_SITE.check_field(field, value)
    assert str(caught.value).endswith(message)


def test_slurm_options_within_bounds_and_unset_ones_pass() -> None:
    for field, value in (
        ("qos", "desktop"),
        ("qos", None),
        ("reservation", None),
        ("constraint", "x11&avx2"),
        ("constraint", None),
        ("gpu_type", "t4"),
        ("exclusive", False),
    ):
        SLURM_SITE.check_field(field, value)
    Bounds(allow_exclusive=True).check_field("exclusive", True)
    UNBOUNDED.check_field("qos", "anything")  # empty lists: Slurm decides


def test_slurm_name_bounds_are_checked_themselves() -> None:
    with pytest.raises(InvalidRequest, match=r"^allowed_qos: 'a b' is not valid.*allowed_qos"):
        Bounds(allowed_qos=("a b",))


def test_settings_carry_the_slurm_bounds_and_defaults() -> None:
    settings = DesktopSettings(
        allowed_qos=["desktop"], allow_exclusive=True, qos="desktop", exclusive=True
    )
    assert settings.bounds().allowed_qos == ("desktop",) and settings.bounds().allow_exclusive
    request = settings.request()
    assert (request.qos, request.exclusive, request.reservation) == ("desktop", True, None)
    with pytest.raises(InvalidRequest, match=r"^exclusive: .*allow_exclusive"):
        DesktopSettings(exclusive=True).request()
