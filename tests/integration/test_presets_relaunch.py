"""Launch presets and *Launch again* through a real Jupyter server's REST API and the CLI, on the
real local Slurm: the user's presets saved and deleted with Jupyter's login and XSRF checks into
a private file; a site preset launched from the command line; an ended desktop launched again
with the same options; a never-start one opening the form with CPUs marked instead.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.e2e.lab import Lab, running_lab
    from tests.integration.test_desktop_proxy import request
    from tests.integration.test_desktops_api import card_until, cookie_login
else:
    from e2e.lab import Lab, running_lab
    from test_desktop_proxy import request
    from test_desktops_api import card_until, cookie_login

API = "/dcv-widget/api"
PRESETS = [
    {"name": "Short", "description": "1 CPU, 3 min", "cpus": 1, "time": "0:03:00"},
    {"name": "Class", "partition": "dcv", "time": "0:04:00", "locked": True},
]
SITE = {
    "DesktopSettings": {
        "partition": "dcv",
        "time": "0:10:00",
        "access": "jupyter",
        "slow_poll": 2,
        "presets": PRESETS,
    }
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's Jupyter data dir for this module: their presets file lives there."""
    return tmp_path_factory.mktemp("presets-data")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, artifacts: Path, data_dir: Path) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("presets-lab")
    (folder / "root").mkdir()
    (folder / "config").mkdir()
    (folder / "config" / "jupyter_dcv_widget_config.json").write_text(json.dumps(SITE))
    env = {**os.environ, "JUPYTER_DATA_DIR": str(data_dir)}
    with running_lab(folder / "root", folder, artifacts / "presets-lab.log", env) as running:
        yield running


def api(lab: Lab, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    status, _, raw = request(lab, method, API + path, body=data, **kwargs)
    return status, json.loads(raw) if raw else {}


def job_of(lab: Lab, key: str) -> str:
    """The desktop's job id, once sbatch answered."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        card: dict[str, Any] = next(
            (c for c in api(lab, "GET", "/desktops")[1]["cards"] if c["key"] == key), {}
        )
        if card.get("job_id"):
            return str(card["job_id"])
        time.sleep(0.3)
    raise AssertionError(f"desktop {key} has no job after 60 s")


def names(presets: dict[str, Any]) -> list[str]:
    return [o["name"] for o in presets["options"]]


def squeue(job_id: str, fmt: str) -> str:
    done = subprocess.run(
        ["squeue", "--noheader", f"--jobs={job_id}", f"--format={fmt}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout.strip()


def scancel(*job_ids: str) -> None:
    subprocess.run(["scancel", *[j for j in job_ids if j]], check=False)


def test_users_presets_are_saved_and_deleted_through_the_api(lab: Lab, data_dir: Path) -> None:
    status, body = api(lab, "GET", "/presets")
    assert status == 200 and names(body["presets"]) == ["Short", "Class"]
    status, body = api(lab, "POST", "/form", {"preset": "Short"})
    fields = {f["name"]: f["value"] for f in body["fields"]}
    assert (fields["time"], fields["cpus"], body["presets"]["chosen"]) == ("0:03:00", 1, "Short")

    mine = {"name": "Mine", "fields": {"cpus": 2, "time": "0:07:00"}}
    # A browser's cookie without the XSRF token cannot save; with it, it can.
    cookie, xsrf = cookie_login(lab)
    status, body = api(lab, "POST", "/presets", mine, login=False, headers={"Cookie": cookie})
    assert status == 403, body
    headers = {"Cookie": cookie, "X-XSRFToken": xsrf}
    status, body = api(lab, "POST", "/presets", mine, login=False, headers=headers)
    assert status == 201, body
    assert body["launcher"]["presets"]["chosen"] == "Mine"
    assert body["launcher"]["presets"]["note"] == "Saved your preset 'Mine'."
    path = data_dir / "dcv_widget" / "presets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    saved = json.loads(path.read_text())["presets"]
    assert [(p["name"], p["cpus"], p["time"]) for p in saved] == [("Mine", 2, "0:07:00")]
    assert names(api(lab, "GET", "/presets")[1]["presets"]) == ["Short", "Class", "Mine"]

    # A site preset's name is refused, naming it; so is a form the site's rules refuse.
    status, body = api(lab, "POST", "/presets", {"name": "short", "fields": {}})
    assert status == 400 and body["field"] == "name", body
    assert "the site has a preset called 'Short'" in body["message"]
    status, body = api(lab, "POST", "/presets", {"name": "Bad", "fields": {"time": "soon"}})
    assert status == 400 and body["field"] == "time", body

    status, body = api(lab, "DELETE", "/presets/Mine", login=False, headers={"Cookie": cookie})
    assert status == 403, body
    status, body = api(lab, "DELETE", "/presets/Mine")
    assert status == 200 and body["launcher"]["presets"]["note"] == "Deleted your preset 'Mine'."
    status, body = api(lab, "DELETE", "/presets/Mine")
    assert status == 404 and "you have no preset called 'Mine'" in body["message"]


def test_a_locked_preset_launches_its_own_values_only(lab: Lab) -> None:
    status, body = api(lab, "POST", "/desktops", {"preset": "Class", "time": "0:09:00"})
    assert status == 400 and body["field"] == "time", body
    assert "(the preset 'Class' is locked)" in body["message"]


def test_an_ended_desktop_is_launched_again_with_the_same_options(lab: Lab) -> None:
    status, body = api(lab, "POST", "/desktops", {"preset": "Short", "cpus": 2})
    assert status == 201, body
    first = body["card"]["key"]
    again = ""
    try:
        old_job = job_of(lab, first)
        assert api(lab, "POST", f"/desktops/{first}/end", {})[0] == 202
        ended = card_until(lab, first, "ended", 60)
        assert ended["actions"] == ["relaunch", "dismiss"] and not ended["relaunch_form"]
        status, body = api(lab, "POST", f"/desktops/{first}/relaunch", {})
        assert status == 201, body
        again = body["card"]["key"]
        job = job_of(lab, again)
        assert job != old_job
        # The same options: 2 CPUs for 3 minutes on dcv (squeue's %C %l %P).
        assert squeue(job, "%C %l %P").split() == ["2", "3:00", "dcv"]
    finally:
        for key in (first, again):
            if key:
                api(lab, "POST", f"/desktops/{key}/end", {})


def test_a_never_start_desktop_opens_the_form_with_cpus_marked(lab: Lab) -> None:
    status, body = api(lab, "POST", "/desktops", {"cpus": 64, "time": "0:05:00"})
    assert status == 201, body
    key = body["card"]["key"]
    deadline = time.monotonic() + 60
    card: dict[str, Any] = {}
    while time.monotonic() < deadline and card.get("tone") != "stuck":
        card = next(c for c in api(lab, "GET", "/desktops")[1]["cards"] if c["key"] == key)
        time.sleep(0.5)
    try:
        assert card["tone"] == "stuck", card
    finally:
        api(lab, "POST", f"/desktops/{key}/end", {})
    ended = card_until(lab, key, "ended", 60)
    assert ended["relaunch_form"] and ended["relaunch_field"] == "cpus"
    # The most is the biggest node's CPUs as sinfo says (the local Slurm's config may change).
    assert re.fullmatch(
        r"To launch again, change CPUs: no node of dcv has 64 CPUs: ask for at most \d+, or "
        r"choose another partition\.",
        ended["relaunch_hint"],
    ), ended["relaunch_hint"]
    status, body = api(lab, "POST", f"/desktops/{key}/relaunch", {})
    assert status == 200, body
    assert (body["values"]["cpus"], body["values"]["time"]) == (64, "0:05:00")
    cpus = next(f for f in body["launcher"]["fields"] if f["name"] == "cpus")
    assert cpus["error"].startswith("CPUs: no node of dcv has 64 CPUs")
    assert body["launcher"]["focus"].startswith("cpus#") and not body["launcher"]["can_launch"]


def test_the_cli_launches_a_preset_with_flags_on_top(tmp_path: Path, data_dir: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    site = {"DesktopSettings": {**SITE["DesktopSettings"], "access": "direct"}}
    (config / "jupyter_dcv_widget_config.json").write_text(json.dumps(site))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_DATA_DIR": str(data_dir)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dcv_widget.cli", *args],
            capture_output=True, text=True, timeout=120, check=False, env=env,
        )  # fmt: skip

    saved = cli("presets", "save", "Two", "--preset", "Short", "--cpus", "2")
    assert saved.returncode == 0, saved.stderr
    listed = cli("presets", "list")
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["Short", "Class", "Two"]
    assert "2 CPUs for 3 min" in listed.stdout
    launched = cli("launch", "--preset", "Two", "--time", "0:02:00", "--no-wait")
    assert launched.returncode == 0, launched.stderr
    job = launched.stdout.split()[1].rstrip(":")
    try:
        assert squeue(job, "%C %l %P").split() == ["2", "2:00", "dcv"]
    finally:
        scancel(job)
    unknown = cli("launch", "--preset", "Huge")
    assert unknown.returncode == 2
    assert "preset: 'Huge' is not valid; choose one of the presets: Short, Class, Two" in (
        unknown.stderr
    )
    assert cli("presets", "delete", "Two").returncode == 0


def test_a_bad_site_preset_is_named_by_the_api(
    tmp_path: Path, artifacts: Path, data_dir: Path
) -> None:
    """A typo in the site's presets: the panel says which preset and field, not a bare 500."""
    (tmp_path / "root").mkdir()
    (tmp_path / "config").mkdir()
    bad = {"DesktopSettings": {"presets": [{"name": "Big", "cpus": "eight"}]}}
    (tmp_path / "config" / "jupyter_dcv_widget_config.json").write_text(json.dumps(bad))
    env = {**os.environ, "JUPYTER_DATA_DIR": str(data_dir)}
    with running_lab(
        tmp_path / "root", tmp_path, artifacts / "presets-bad-lab.log", env
    ) as bad_lab:
        status, body = api(bad_lab, "GET", "/settings")
    assert status == 500
    assert body["message"] == (
        "c.DesktopSettings.presets: preset 'Big': cpus: 'eight' is not valid; use a whole number "
        "from 1 to 1024. The site's dcv_widget settings need fixing: tell your admin"
    )
