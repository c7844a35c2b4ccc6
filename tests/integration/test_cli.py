"""`dcv-desktop` from a terminal, against the real local Slurm."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dcv_widget.desktops.session_file import SessionPaths

# pytest puts tests/ on sys.path (no __init__.py); mypy knows the module by its path.
if TYPE_CHECKING:
    from tests.e2e.lab import connect_target, running_lab
    from tests.tls import pinned_context, recorded_cert
else:
    from e2e.lab import connect_target, running_lab
    from tls import pinned_context, recorded_cert


def dcv_desktop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dcv_widget.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


def test_launch_list_connect_end() -> None:
    launched = dcv_desktop("launch", "--partition", "dcv", "--time", "5")
    assert launched.returncode == 0, launched.stderr
    found = re.search(r"^job (\d+): ready: running on dcv-node-1$", launched.stdout, re.M)
    assert found, launched.stdout
    job_id = found.group(1)

    listed = dcv_desktop("list")
    assert re.search(rf"^\s+{job_id}\s+ready\s+dcv-node-1", listed.stdout, re.M), listed.stdout

    connect = dcv_desktop("connect", job_id)
    url = connect.stdout.strip()
    pinned = pinned_context(recorded_cert(SessionPaths(str(Path.home())).session_file(job_id)))
    page = f"https://{urlsplit(url).netloc}/vnc.html"
    assert urllib.request.urlopen(page, timeout=10, context=pinned).status == 200

    ended = dcv_desktop("end", job_id)
    assert ended.stdout.strip() == f"job {job_id}: cancelled"
    again = dcv_desktop("end", job_id)
    assert again.returncode == 1
    assert "no live desktop with job id" in again.stderr


def test_connect_in_a_new_process_keeps_the_route_and_says_what_to_run() -> None:
    """The route survives re-attaching (it is in the job's comment): stdout is the URL to
    open, stderr the tunnel to run first."""
    launched = dcv_desktop("launch", "--partition", "dcv", "--time", "5", "--access", "ssh")
    assert launched.returncode == 0, launched.stderr
    found = re.search(r"^job (\d+): ready", launched.stdout, re.M)
    assert found, launched.stdout
    job_id = found.group(1)
    try:
        connect = dcv_desktop("connect", job_id)
        local = 18443 + int(job_id) % 1000
        assert urlsplit(connect.stdout.strip()).netloc == f"127.0.0.1:{local}"
        assert f"ssh -N -L 127.0.0.1:{local}:127.0.0.1:" in connect.stderr
    finally:
        dcv_desktop("end", job_id)


def test_bad_option_is_refused_before_slurm_sees_it() -> None:
    refused = dcv_desktop("launch", "--time", "1h; reboot")
    assert refused.returncode == 2
    assert refused.stderr.startswith("dcv-desktop: time: ")


def test_connect_prints_the_url_of_the_users_jupyterlab_or_says_there_is_none(
    tmp_path: Path, artifacts: Path
) -> None:
    """On the jupyter route the URL is this user's running JupyterLab's, which relays it."""
    runtime = tmp_path / "home" / "runtime"
    runtime.mkdir(parents=True)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)}
    launched = dcv_desktop(
        "launch", "--partition", "dcv", "--time", "5", "--access", "jupyter", env=env
    )
    assert launched.returncode == 0, launched.stderr
    found = re.search(r"^job (\d+): ready", launched.stdout, re.M)
    assert found, launched.stdout
    job_id = found.group(1)
    try:
        alone = dcv_desktop("connect", job_id, env=env)
        assert alone.returncode == 1
        assert "no Jupyter server of yours with dcv_widget's server extension" in alone.stderr
        (tmp_path / "root").mkdir()
        with running_lab(tmp_path / "root", tmp_path / "home", artifacts / "cli-lab.log") as lab:
            connect = dcv_desktop("connect", job_id, env=env)
            assert connect.returncode == 0, connect.stderr
            url = connect.stdout.strip()
            assert url == f"{lab.url}/dcv-widget/open/{job_id}"
            assert "Through JupyterLab" in connect.stderr
            # A browser logged in to that JupyterLab (its login cookie) is led into the desktop.
            browser = urllib.request.build_opener(
                urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
            )
            with browser.open(f"{url}?token={lab.token}", timeout=30) as entry:
                target = connect_target(entry.read().decode())
            assert urlsplit(target).path == f"/dcv-widget/desktops/{job_id}/vnc.html"
            with browser.open(f"{lab.url}{target}", timeout=30) as page:
                assert page.status == 200 and b"noVNC" in page.read()
            # noVNC's display choice, as the card's Display control makes it.
            chosen = ("--resize", "scale", "--quality", "2", "--compression", "8")
            shown = dcv_desktop("connect", job_id, *chosen, env=env)
            query = "resize=scale&quality=2&compression=8"
            assert shown.stdout.strip() == f"{lab.url}/dcv-widget/open/{job_id}?{query}"
            with browser.open(f"{shown.stdout.strip()}&token={lab.token}", timeout=30) as entry:
                fragment = connect_target(entry.read().decode()).split("#", 1)[1].split("&")
            assert {"resize=scale", "quality=2", "compression=8"} <= set(fragment)
            refused = dcv_desktop("connect", job_id, "--quality", "12", env=env)
            assert refused.returncode == 2
            assert refused.stderr.startswith("dcv-desktop: quality: '12' is not valid")
    finally:
        assert dcv_desktop("end", job_id, env=env).returncode == 0
