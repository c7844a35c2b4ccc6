"""The dcv job script, its connect URL, and the node bootstrap's shell."""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib.resources import files
from urllib.parse import parse_qs, urlsplit

import pytest

from dcv_widget.engines import ENGINES
from dcv_widget.engines.dcv import DCVEngine
from dcv_widget.request import LaunchRequest
from dcv_widget.session_file import Endpoint

needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


def script(idle_timeout: int = 0, **engine: int) -> str:
    request = LaunchRequest(engine="dcv", idle_timeout=idle_timeout)
    return DCVEngine(**engine).job_script(request, launch_id="ab12")


def test_registered_as_the_dcv_engine() -> None:
    assert isinstance(ENGINES["dcv"], DCVEngine)
    assert ENGINES["dcv"].name == "dcv"


def test_script_substitutes_the_idle_settings_and_nothing_else() -> None:
    text = script(idle_timeout=45, idle_grace=7, poll_seconds=9)
    assert text.startswith("#!/bin/bash\n")
    assert "idle_timeout=45 " in text and "idle_grace=7 " in text and "poll_every=9 " in text
    assert "launch_id=ab12\n" in text and 'engine "dcv"' in text
    assert re.search(r"@[A-Z_]+@", text) is None
    assert text.index("trap cleanup EXIT") < text.index("dcv create-session")


def test_defaults_leave_time_to_connect() -> None:
    text = script()
    assert "idle_timeout=0 " in text and "idle_grace=120 " in text and "poll_every=30 " in text


def test_bad_idle_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="poll_seconds"):
        DCVEngine(poll_seconds=0)


@needs_bash
def test_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n"], input=script(idle_timeout=30), text=True, check=True)


def test_session_is_created_for_the_user_with_an_id_from_the_job() -> None:
    text = script()
    assert 'session_id="dcvw-$SLURM_JOB_ID"' in text
    assert 'dcv create-session --type virtual --owner "$USER" "$session_id"' in text
    assert 'dcv close-session "$session_id"' in text
    assert "sudo -n systemctl start dcvserver" in text  # never a password prompt


def test_secrets_are_only_handled_by_bash_builtins() -> None:
    lines = script().replace("\\\n", " ").splitlines()
    for name in ("token", "imds_token"):
        uses = [line.strip() for line in lines if re.search(rf"\${{?{name}\b", line)]
        assert uses, name
        for line in uses:
            # Assignments, tests and printf (a builtin, feeding a pipe) only: no process ever
            # gets the secret in its argv.
            assert line.startswith(
                (f"{name}=", f"[[ -n ${name} ]]", "printf '", 'publish_session "$(printf')
            ), line
    assert "-H @-" in script()  # curl reads the IMDS token header from stdin


def test_connect_url_follows_dcvs_convention() -> None:
    endpoint = Endpoint("dcv", "10.0.0.5", 8443, session_id="dcvw-42")
    url = DCVEngine().connect_url(endpoint, "tok/+en=")
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == (
        "https",
        "10.0.0.5",
        8443,
        "/",
    )
    assert parts.query == "authToken=tok%2F%2Ben%3D"
    assert parse_qs(parts.query) == {"authToken": ["tok/+en="]}
    assert parts.fragment == "dcvw-42"


@needs_bash
def test_node_bootstrap_is_valid_bash() -> None:
    bootstrap = files("dcv_widget").joinpath("node").joinpath("on_node_configured.sh").read_text()
    assert bootstrap.startswith("#!/bin/bash\n")
    subprocess.run(["bash", "-n"], input=bootstrap, text=True, check=True)
