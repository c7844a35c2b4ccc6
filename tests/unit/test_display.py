"""The display choice (noVNC's fit, quality, compression): its bounds and how it reaches noVNC's
page (the fragment, beside the VNC password), and the screen size both engines' jobs start at."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from dcv_widget.access.endpoint import Endpoint
from dcv_widget.desktops.display import DisplayChoice
from dcv_widget.desktops.engines.dcv import DCVEngine
from dcv_widget.desktops.engines.novnc import NoVNCEngine, vnc_password
from dcv_widget.desktops.request import InvalidRequest, LaunchRequest

ENDPOINT = Endpoint("novnc", "10.0.0.5", 43199)


def fragment(url: str) -> dict[str, list[str]]:
    parts = urlsplit(url)
    assert parts.query == ""  # nothing of the page's settings or secret goes to a server
    return parse_qs(parts.fragment)


def test_the_choice_goes_into_the_fragment_with_the_password() -> None:
    choice = DisplayChoice(resize="scale", quality=2, compression=8)
    got = fragment(NoVNCEngine().connect_url(ENDPOINT, "s3cr/t+", choice))
    assert (got["resize"], got["quality"], got["compression"]) == (["scale"], ["2"], ["8"])
    assert got["password"] == [vnc_password("s3cr/t+")] and got["encrypt"] == ["1"]


def test_the_proxied_page_carries_the_choice_the_same_way() -> None:
    page = NoVNCEngine().proxied_page(
        "/user/u/dcv-widget/desktops/42/", "", "tok", DisplayChoice("off", 0, 9)
    )
    assert page.startswith("/user/u/dcv-widget/desktops/42/vnc.html#")
    got = fragment(page)
    assert (got["resize"], got["quality"], got["compression"]) == (["off"], ["0"], ["9"])
    assert got["path"] == ["user/u/dcv-widget/desktops/42/websockify"]


def test_without_a_choice_the_desktop_fits_the_window_and_novnc_keeps_its_own_levels() -> None:
    """The CLI and the API choose nothing: quality and compression stay noVNC's own (its
    settings panel's, kept in that browser), since a value in the URL would override them."""
    got = fragment(NoVNCEngine().connect_url(ENDPOINT, "tok"))
    assert got["resize"] == ["remote"]
    assert "quality" not in got and "compression" not in got


def test_dcv_pages_are_the_same_with_or_without_a_choice() -> None:
    """DCV's web client has its own display settings; noVNC's choice does not reach it."""
    endpoint = Endpoint("dcv", "10.0.0.5", 8443, session_id="dcvw-42-abc")
    choice = DisplayChoice("scale", 1, 9)
    assert DCVEngine().connect_url(endpoint, "t", choice) == DCVEngine().connect_url(endpoint, "t")
    assert DCVEngine().proxied_page("/p/", "s", "t", choice) == "/p/?authToken=t#s"


@pytest.mark.parametrize("level", [0, 9])
def test_levels_run_from_0_to_9(level: int) -> None:
    assert DisplayChoice(quality=level, compression=level).params()[1:] == (
        f"quality={level}",
        f"compression={level}",
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"quality": "10"}, "quality"),
        ({"quality": -1}, "quality"),
        ({"compression": "1.5"}, "compression"),
        ({"compression": True}, "compression"),
        ({"quality": "٣"}, "quality"),  # a digit, but not an ASCII one
        ({"resize": "stretch"}, "resize"),
        ({"resize": "remote&password=x"}, "resize"),
    ],
)
def test_anything_else_is_refused_by_name(params: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        DisplayChoice.from_params(params)
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: ")


def test_params_from_a_query_or_a_message_parse_alike() -> None:
    from_query = DisplayChoice.from_params({"resize": "scale", "quality": "2", "compression": "8"})
    from_message = DisplayChoice.from_params({"resize": "scale", "quality": 2, "compression": 8})
    assert from_query == from_message == DisplayChoice("scale", 2, 8)
    assert from_query.query() == "resize=scale&quality=2&compression=8"
    assert DisplayChoice.from_params({}) == DisplayChoice()  # each missing one at its default


@pytest.mark.parametrize("engine", ["novnc", "dcv"])
def test_both_engines_start_at_the_launch_geometry(engine: str) -> None:
    from dcv_widget.desktops.engines import ENGINES

    script = ENGINES[engine].job_script(
        LaunchRequest(engine=engine, geometry="1280x720"), launch_id="ab12"
    )
    assert "geometry=1280x720 " in script or "geometry=1280x720\n" in script


def test_the_dcv_job_sets_the_layout_as_dcv_documents_it() -> None:
    script = DCVEngine().job_script(LaunchRequest(engine="dcv"), launch_id="ab12")
    assert 'dcv set-display-layout --session "$session_id" "$geometry+0+0"' in script
    # After the session exists, before the desktop is published as ready.
    created = script.index("session_created=1")
    assert created < script.index("dcv set-display-layout") < script.index('publish_session "')


@pytest.mark.parametrize("engine", ["novnc", "dcv"])
def test_the_form_offers_the_screen_size_for_both_engines(engine: str) -> None:
    from dataclasses import fields

    from dcv_widget.ui.launcher import launcher_fields, parse_field

    values = {f.name: getattr(LaunchRequest(), f.name) for f in fields(LaunchRequest)}
    values["engine"] = engine
    shown = {f["name"]: f for f in launcher_fields(values, {}, [])}
    assert shown["geometry"]["label"] == "Screen size" and shown["geometry"]["value"] == "1600x900"
    assert not shown["geometry"].get("hidden")
    _, error = parse_field("geometry", "1600x900;id", values)
    assert error.startswith("Screen size: '1600x900;id' is not valid; use WIDTHxHEIGHT")
