"""Settings from Jupyter config files, overridden per call, validated by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets import TraitError

from dcv_widget.desktops.request import InvalidRequest
from dcv_widget.settings import DesktopSettings, InstanceSettings, load_settings


def test_defaults_make_a_valid_request() -> None:
    request = DesktopSettings().request()
    assert request.partition is None and request.time == "1:00:00" and request.engine == "novnc"


def test_call_options_override_settings() -> None:
    settings = DesktopSettings(partition="viz", time="2:00:00")
    request = settings.request(time="30", cpus=4)
    assert (request.partition, request.time, request.cpus) == ("viz", "30", 4)


def test_unknown_option_is_named() -> None:
    with pytest.raises(InvalidRequest, match=r"^partiton: .*unknown option"):
        DesktopSettings().request(partiton="dcv")


def test_bad_value_from_a_config_file_names_the_field() -> None:
    with pytest.raises(InvalidRequest, match=r"^partition: "):
        DesktopSettings(partition="dcv; rm -rf ~").request()


def test_config_files_on_jupyter_paths_set_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, course = tmp_path / "site", tmp_path / "course"
    site.mkdir()
    course.mkdir()
    (site / "jupyter_dcv_widget_config.py").write_text(
        'c.DesktopSettings.partition = "dcv"\nc.DesktopSettings.time = "4:00:00"\n'
    )
    (course / "jupyter_dcv_widget_config.json").write_text(
        '{"DesktopSettings": {"time": "2:00:00"}}'
    )
    # Jupyter's precedence: the first folder of `jupyter --paths` wins.
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", f"{course}:{site}")
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "nobody"))
    request = load_settings().request()
    assert (request.partition, request.time) == ("dcv", "2:00:00")


def test_every_setting_is_documented_with_its_default() -> None:
    page = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    desktops, instances = page.split("## Stand-alone EC2 instances (`c.InstanceSettings`)")
    for section, settings in ((desktops, DesktopSettings), (instances, InstanceSettings)):
        defaults = settings()
        for name in settings.class_traits(config=True):
            assert f"| `{name}` | `{defaults.trait_defaults(name)!r}` |" in section, name


def test_poll_intervals_have_a_floor() -> None:
    with pytest.raises(TraitError, match="fast_poll"):
        DesktopSettings(fast_poll=0)


def test_config_files_set_bounds_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "jupyter_dcv_widget_config.py").write_text(
        'c.DesktopSettings.max_time = "8:00:00"\n'
        "c.DesktopSettings.max_desktops = 2\n"
        'c.DesktopSettings.allowed_engines = ["novnc"]\n'
    )
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(tmp_path))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "nobody"))
    settings = load_settings()
    assert settings.max_desktops == 2 and settings.bounds().engines == ("novnc",)
    assert settings.request(time="8:00:00").time == "8:00:00"  # users override within bounds
    with pytest.raises(InvalidRequest, match=r"^time: .*at most 8:00:00 \(c\.DesktopSettings"):
        settings.request(time="8:00:01")


def test_bounds_default_to_none() -> None:
    settings = DesktopSettings()
    assert (settings.max_time, settings.max_cpus, settings.max_gpus, settings.max_memory) == (
        "",
        0,
        0,
        "",
    )
    assert (settings.max_desktops, settings.allowed_engines, settings.allowed_routes) == (0, [], [])
    request = settings.request(time="30-00:00:00", cpus=1024, gpus=64, engine="dcv", access="ssm")
    assert request.time == "30-00:00:00"


def test_count_bounds_cannot_be_negative() -> None:
    for name in ("max_cpus", "max_gpus", "max_desktops"):
        with pytest.raises(TraitError, match=name):
            DesktopSettings(**{name: -1})


def test_a_malformed_bound_fails_naming_its_setting() -> None:
    with pytest.raises(InvalidRequest, match=r"^max_time: '8h' .*\(c\.DesktopSettings\.max_time\)"):
        DesktopSettings(max_time="8h").request()


def test_the_desktop_limit_reaches_the_manager() -> None:
    from dcv_widget.managers import session_manager

    assert session_manager(DesktopSettings(max_desktops=2)).max_desktops == 2
    assert session_manager(DesktopSettings()).max_desktops == 0


def test_the_site_ssm_documents_reach_the_routes() -> None:
    from dcv_widget.managers import session_manager

    settings = DesktopSettings(ssm_document="Site-ToNode", ssm_remote_document="Site-ViaHead")
    options = session_manager(settings).routes.options
    assert (options.ssm_document, options.ssm_remote_document) == ("Site-ToNode", "Site-ViaHead")


def test_ssm_documents_default_to_aws_ones_and_a_bad_name_names_the_setting() -> None:
    defaults = DesktopSettings()
    assert defaults.ssm_document == "AWS-StartPortForwardingSession"
    assert defaults.ssm_remote_document == "AWS-StartPortForwardingSessionToRemoteHost"
    site = DesktopSettings(ssm_document="DcvWidget-PortForwardToNode")
    assert site.ssm_document == "DcvWidget-PortForwardToNode"
    with pytest.raises(TraitError, match=r"^c.DesktopSettings.ssm_remote_document: 'x; id' is not"):
        DesktopSettings(ssm_remote_document="x; id")


def test_the_instances_ssm_document_reaches_their_cards() -> None:
    from dcv_widget.instances.ec2 import Ec2Backend, Ec2Desktop
    from dcv_widget.managers import instances_manager

    with pytest.raises(TraitError, match=r"^c.InstanceSettings.ssm_document: 'x y' is not"):
        InstanceSettings(ssm_document="x y")
    settings = InstanceSettings(region="eu-west-3", access="ssm", ssm_document="Site-ToNode")
    manager = instances_manager(settings, "ada")
    assert manager.ssm_document == "Site-ToNode"
    desktop = Ec2Desktop(
        "i-0123456789abcdef0", "", "running", "t3.micro", "linux", "", "10.0.0.5", 0.0,
        "eu-west-3", "ada",
    )  # fmt: skip
    card = Ec2Backend.ssm_access(manager.backend, desktop, 19443, 8443, manager.ssm_document)
    assert "--document-name Site-ToNode" in card.commands[0].text


def test_the_jupyter_route_is_the_default_where_the_server_relays_desktops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dcv_widget.access.instructions import JUPYTER_ROUTE_ENV

    monkeypatch.delenv(JUPYTER_ROUTE_ENV, raising=False)
    assert DesktopSettings().access == "direct"
    monkeypatch.setenv(JUPYTER_ROUTE_ENV, "/user/ana/")  # set by the server extension
    assert DesktopSettings().access == "jupyter"
    assert DesktopSettings(access="ssh").access == "ssh"  # a site's or user's choice stands
