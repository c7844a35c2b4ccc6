"""Settings from Jupyter config files, overridden per call, validated by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets import TraitError

from dcv_widget.request import InvalidRequest
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
