"""Launch presets: the site's checked when read (naming the preset and the field), merged on top
of the site's defaults, and a user's own kept private in their Jupyter data dir."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from dcv_widget.desktops.presets import Preset, matches, saved_values
from dcv_widget.desktops.request import InvalidRequest
from dcv_widget.settings import DesktopSettings

SITE = [
    {"name": "Small", "description": "1 CPU, 1 h", "cpus": 1, "time": "1:00:00"},
    {"name": "GPU", "gpus": 1, "time": "4:00:00"},
    {"name": "Class", "partition": "dcv", "locked": True},
]


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test's own Jupyter data dir: the user's presets file lives there."""
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_site_presets_are_read_with_their_meta_fields() -> None:
    presets = DesktopSettings(presets=SITE).site_presets()
    assert [p.name for p in presets] == ["Small", "GPU", "Class"]
    assert presets[0].description == "1 CPU, 1 h" and presets[2].locked
    assert dict(presets[1].values) == {"gpus": 1, "time": "4:00:00"}


def test_a_preset_sits_on_top_of_the_site_defaults_and_call_options_on_top_of_it() -> None:
    settings = DesktopSettings(presets=SITE, partition="viz", cpus=2)
    request = settings.request(preset="GPU", time="30")
    assert (request.partition, request.cpus, request.gpus, request.time) == ("viz", 2, 1, "30")


def test_default_preset_stands_for_the_defaults_and_empty_means_none() -> None:
    settings = DesktopSettings(presets=SITE, default_preset="GPU")
    assert settings.request().gpus == 1
    assert settings.request(preset="").gpus == 0


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "Big", "cpus": "many"}, r"presets: preset 'Big': cpus: 'many' is not valid"),
        ({"name": "Odd", "cpu": 2}, r"presets: preset 'Odd': cpu: 2 is not valid; not a launch"),
        ({"name": "", "cpus": 2}, r"presets: name: '' is not valid; give a preset a name"),
        (
            {"name": "L", "locked": "yes"},
            r"presets: preset 'L': locked: 'yes' is not valid; use true",
        ),
    ],
)
def test_a_bad_site_preset_names_the_preset_and_the_field(entry: object, message: str) -> None:
    with pytest.raises(InvalidRequest, match=r"^c\.DesktopSettings\." + message):
        DesktopSettings(presets=[entry]).site_presets()


def test_a_site_preset_beyond_the_site_bounds_names_the_bound() -> None:
    settings = DesktopSettings(presets=[{"name": "Long", "time": "12:00:00"}], max_time="8:00:00")
    with pytest.raises(InvalidRequest, match=r"preset 'Long': time: .*at most 8:00:00"):
        settings.site_presets()


def test_duplicate_names_and_an_unknown_default_preset_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="two presets have this name"):
        DesktopSettings(presets=[{"name": "A"}, {"name": "a"}]).site_presets()
    with pytest.raises(InvalidRequest, match=r"default_preset: 'Big' is not valid; name one of"):
        DesktopSettings(presets=SITE, default_preset="Big").site_presets()


def test_an_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(InvalidRequest, match=r"^preset: 'Huge'.*Small, GPU, Class"):
        DesktopSettings(presets=SITE).request(preset="Huge")


def test_matches_says_whether_the_form_still_holds_a_preset() -> None:
    settings = DesktopSettings(presets=SITE)
    gpu = settings.site_presets()[1]
    values = saved_values(settings.request(preset="GPU"))
    assert matches(gpu, values, settings.base_request)
    assert not matches(gpu, {**values, "cpus": 4}, settings.base_request)


def test_user_presets_are_private_and_written_whole(data_dir: Path) -> None:
    settings = DesktopSettings(presets=SITE)
    store = settings.preset_store()
    saved = store.save("Big", saved_values(settings.request(cpus=8)), settings.site_presets())
    assert saved.mine and saved.values["cpus"] == 8
    path = data_dir / "dcv_widget" / "presets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in store.load()[0]] == ["Big"]
    assert settings.request(preset="big").cpus == 8  # the API finds it too, case aside
    # Saving the same name again replaces it; nothing but the file is left in the folder.
    store.save("Big", saved_values(settings.request(cpus=4)), settings.site_presets())
    assert [p.values["cpus"] for p in store.load()[0]] == [4]
    assert sorted(f.name for f in path.parent.iterdir()) == [".presets.lock", "presets.json"]
    assert store.delete("BIG") and not store.delete("Big")
    assert store.load() == ([], [])


def test_a_user_preset_cannot_take_a_site_preset_s_name() -> None:
    settings = DesktopSettings(presets=SITE)
    with pytest.raises(
        InvalidRequest, match=r"^Preset name: 'gpu'.*site has a preset called 'GPU'"
    ):
        settings.preset_store().save("gpu", {"cpus": 2}, settings.site_presets())


def test_a_user_preset_out_of_the_site_bounds_is_refused_when_saved() -> None:
    settings = DesktopSettings(max_cpus=4)
    with pytest.raises(InvalidRequest, match=r"preset 'Big': cpus: 8 .*at most 4"):
        settings.preset_store().save("Big", {"cpus": 8}, [])


def test_a_broken_presets_file_is_reported_by_its_path_not_raised(data_dir: Path) -> None:
    path = data_dir / "dcv_widget" / "presets.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    presets, problems = DesktopSettings().preset_store().load()
    assert presets == [] and str(path) in problems[0] and "fix or delete it" in problems[0]


def test_a_preset_the_site_bounds_refuse_now_is_skipped_and_said(data_dir: Path) -> None:
    path = data_dir / "dcv_widget" / "presets.json"
    path.parent.mkdir(parents=True)
    entries = [{"name": "Big", "cpus": 8}, {"name": "Ok", "cpus": 2}, "Small"]
    path.write_text(json.dumps({"presets": entries}))
    presets, problems = DesktopSettings(max_cpus=4).preset_store().load()
    assert presets == [Preset("Ok", {"cpus": 2}, mine=True)]
    assert problems[0].startswith(f"{path}: preset 'Big': cpus: 8 is not valid; the site allows")
    assert "not offered" in problems[0]
    assert problems[1].startswith(f"{path}: 'Small' is not valid; write each preset as a dict")
