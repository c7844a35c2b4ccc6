"""The novnc job script and connect URL."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest

from dcv_widget.access.endpoint import Endpoint
from dcv_widget.desktops.engines.novnc import NoVNCEngine, vnc_password
from dcv_widget.desktops.request import LaunchRequest


def test_script_substitutes_the_geometry_and_nothing_else() -> None:
    script = NoVNCEngine().job_script(LaunchRequest(geometry="1280x720"), launch_id="ab12")
    assert script.startswith("#!/bin/bash\n")
    assert "geometry=1280x720\n" in script
    assert "launch_id=ab12\n" in script
    assert "@" not in script.replace('"$@"', "").replace("[@]", "")  # bash's, not a placeholder


def test_script_is_the_shared_prelude_then_the_engine() -> None:
    script = NoVNCEngine().job_script(LaunchRequest(), launch_id="ab12")
    assert script.index("trap cleanup EXIT") < script.index("Xvnc -displayfd")
    assert '"engine": "@ENGINE@"' not in script and 'engine "novnc"' in script
    assert re.search(r"@[A-Z_]+@", script) is None


def test_launch_id_must_be_hex() -> None:
    with pytest.raises(ValueError, match="launch_id"):
        NoVNCEngine().job_script(LaunchRequest(), launch_id="x; rm -rf ~")


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_script_is_valid_bash() -> None:
    script = NoVNCEngine().job_script(LaunchRequest(), launch_id="ab12")
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)


def test_script_keeps_the_secrets_out_of_argv_and_output() -> None:
    script = NoVNCEngine().job_script(LaunchRequest(), launch_id="ab12")
    assert "umask 077" in script
    # The token reaches python3 (the password's hash) and files through bash builtins only.
    assert "printf '%s' \"$token\" | python3 -c" in script
    for line in script.replace("\\\n", " ").splitlines():
        if "$token" in line or "${#token}" in line:
            # Only bash builtins (printf, assignment, tests) ever see it: no argv carries it.
            assert line.lstrip().startswith(
                ("printf", "token=", "[[ ${#token}", 'publish_session "$(printf')
            ), line
    # The X cookie never leaves python3: it writes the authority file itself.
    assert "secrets.token_bytes(16)" in script and "xauth" not in script


def test_websockify_listens_on_one_address_by_route() -> None:
    node = NoVNCEngine().job_script(LaunchRequest(access="ssh"), launch_id="ab12")
    assert "listen_on=node " in node
    ssm = NoVNCEngine().job_script(LaunchRequest(access="ssm"), launch_id="ab12")
    assert "listen_on=loopback " in ssm
    assert '"$address:$port"' in ssm and 'addresses+=("[::1]")' in ssm


def test_the_password_is_derived_as_the_job_derives_it() -> None:
    """The job's python3 one-liner and vnc_password agree (the job's text, run here)."""
    script = NoVNCEngine().job_script(LaunchRequest(), launch_id="ab12")
    start = script.index("printf '%s' \"$token\" | python3 -c '") + len(
        "printf '%s' \"$token\" | python3 -c '"
    )
    code = script[start : script.index("' | vncpasswd", start)]
    derived = subprocess.run(
        [sys.executable, "-c", code], input="tok-en_1", capture_output=True, text=True, check=True
    ).stdout.strip()
    assert derived == vnc_password("tok-en_1")
    assert len(derived) == 8


def test_connect_url_carries_the_secret_only_in_the_fragment() -> None:
    url = NoVNCEngine().connect_url(Endpoint("novnc", "10.0.0.5", 43199), "s3cr/t+")
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == (
        "http",
        "10.0.0.5",
        43199,
        "/vnc.html",
    )
    assert parts.query == ""
    fragment = parse_qs(parts.fragment)
    assert fragment["path"] == ["websockify?token=s3cr/t+"]
    assert fragment["password"] == [vnc_password("s3cr/t+")]
    assert "autoconnect=1" in parts.fragment
