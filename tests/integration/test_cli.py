"""`dcv-desktop` from a terminal, against the real local Slurm."""

from __future__ import annotations

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
    from tests.tls import pinned_context, recorded_cert
else:
    from tls import pinned_context, recorded_cert


def dcv_desktop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dcv_widget.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
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
