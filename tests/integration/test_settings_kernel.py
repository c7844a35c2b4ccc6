"""A site's config file on a Jupyter config path sets the defaults AND the bounds of a fresh
kernel: what a user's notebook sees, its widget's launcher included, and `dcv-desktop`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel

SITE_CONFIG = """\
c.DesktopSettings.partition = "dcv"
c.DesktopSettings.time = "2:00:00"
c.DesktopSettings.max_time = "8:00:00"
c.DesktopSettings.max_cpus = 4
c.DesktopSettings.max_desktops = 2
c.DesktopSettings.allowed_engines = ["novnc"]
c.DesktopSettings.allowed_routes = ["direct", "tunnel"]
"""

# What the user's notebook runs; it prints one JSON line for the test to read.
IN_THE_KERNEL = textwrap.dedent(
    """
    import json
    from dataclasses import asdict

    import dcv_widget
    from dcv_widget import Desktop
    from dcv_widget.desktops.request import InvalidRequest
    from dcv_widget.settings import load_settings

    found = {}
    settings = load_settings()
    found["defaults"] = asdict(settings.request())
    found["within"] = asdict(settings.request(time="8:00:00", cpus=4, access="tunnel"))
    for name, call in [
        ("time", lambda: settings.request(time="12:00:00")),
        ("launch", lambda: dcv_widget.launch(time="1-00:00:00")),
        ("widget", lambda: Desktop(attach=False, engine="dcv")),
    ]:
        try:
            call()
        except InvalidRequest as exc:
            found["refused_" + name] = str(exc)

    desktop = Desktop(attach=False)
    fields = {f["name"]: f for f in desktop.launcher["fields"]}
    found["engines"] = [o["value"] for o in fields["engine"]["options"]]
    found["routes"] = [o["value"] for o in fields["access"]["options"]]
    found["time_hint"] = fields["time"]["hint"]
    found["max_desktops"] = desktop._manager.max_desktops
    # The browser edits the time field (the message the view sends).
    desktop._on_message(desktop, {"action": "set", "field": "time", "value": "12:00:00"}, None)
    fields = {f["name"]: f for f in desktop.launcher["fields"]}
    found["inline_error"] = fields["time"]["error"]
    found["can_launch"] = desktop.launcher["can_launch"]
    desktop.close()
    print(json.dumps(found))
    """
)

TIME_REFUSED = (
    "time: '12:00:00' is not valid; the site allows at most 8:00:00 (c.DesktopSettings.max_time)"
)


@pytest.fixture
def site_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a Jupyter server whose config path holds the site's file (and an
    empty user config folder, so the tester's own ~/.jupyter plays no part)."""
    site = tmp_path / "etc-jupyter"
    site.mkdir()
    (site / "jupyter_dcv_widget_config.py").write_text(SITE_CONFIG)
    return {
        **os.environ,
        "JUPYTER_CONFIG_PATH": str(site),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "user-jupyter"),
    }


def run_in_fresh_kernel(code: str, env: dict[str, str], cwd: Path) -> Any:
    """Run `code` in a new python3 kernel started as JupyterLab would; its printed JSON."""
    kernel, client = start_new_kernel(kernel_name="python3", env=env, cwd=str(cwd))
    printed: list[str] = []
    errors: list[str] = []

    def collect(message: dict[str, Any]) -> None:
        content = message["content"]
        if message["msg_type"] == "stream" and content["name"] == "stdout":
            printed.append(content["text"])
        elif message["msg_type"] == "error":
            errors.append("\n".join(content["traceback"]))

    try:
        reply = client.execute_interactive(code, timeout=120, output_hook=collect)
    finally:
        client.stop_channels()
        kernel.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", "\n".join(errors)
    return json.loads("".join(printed).strip().splitlines()[-1])


def test_site_config_sets_defaults_and_bounds_in_a_fresh_kernel(
    site_env: dict[str, str], tmp_path: Path
) -> None:
    found = run_in_fresh_kernel(IN_THE_KERNEL, site_env, tmp_path)

    # The site's defaults...
    defaults = found["defaults"]
    assert (defaults["partition"], defaults["time"], defaults["engine"]) == (
        "dcv",
        "2:00:00",
        "novnc",
    )
    # ...which users override within the bounds...
    assert (found["within"]["time"], found["within"]["cpus"]) == ("8:00:00", 4)
    assert found["within"]["access"] == "tunnel"
    # ...and not past them, by any way in, the bound and its setting named.
    assert found["refused_time"] == TIME_REFUSED
    assert found["refused_launch"] == (
        "time: '1-00:00:00' is not valid; the site allows at most 8:00:00 "
        "(c.DesktopSettings.max_time)"
    )
    assert found["refused_widget"] == (
        "engine: 'dcv' is not valid; the site allows only novnc (c.DesktopSettings.allowed_engines)"
    )
    # The widget's launcher offers only what the site allows and says the bound inline.
    assert found["engines"] == ["novnc"]
    assert found["routes"] == ["direct", "tunnel"]
    assert found["time_hint"].endswith("at most 8:00:00")
    assert found["inline_error"] == TIME_REFUSED.replace("time:", "Time limit:", 1)  # its label
    assert found["can_launch"] is False
    # The kernel's manager counts desktops against the site's limit.
    assert found["max_desktops"] == 2


def test_dcv_desktop_refuses_past_the_bound_before_submitting(
    site_env: dict[str, str], tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dcv_widget.cli", "launch", "--time", "12:00:00"],
        env=site_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"dcv-desktop: {TIME_REFUSED}"
