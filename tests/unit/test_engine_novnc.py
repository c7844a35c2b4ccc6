"""The novnc job script and connect URL."""

from __future__ import annotations

import re
import shutil
import subprocess
from urllib.parse import urlsplit

import pytest

from dcv_widget.engines.novnc import NoVNCEngine
from dcv_widget.request import LaunchRequest
from dcv_widget.session_file import Endpoint


def test_script_substitutes_the_geometry_and_nothing_else() -> None:
    script = NoVNCEngine().job_script(LaunchRequest(geometry="1280x720"), launch_id="ab12")
    assert script.startswith("#!/bin/bash\n")
    assert "geometry=1280x720\n" in script
    assert "launch_id=ab12\n" in script
    assert "@" not in script.replace('"$@"', "")


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


def test_script_keeps_the_password_out_of_argv_and_output() -> None:
    script = NoVNCEngine().job_script(LaunchRequest(), launch_id="ab12")
    assert "umask 077" in script
    # The password reaches vncpasswd through a pipe from printf, a bash builtin.
    assert "printf '%s\\n' \"$password\" | vncpasswd -f" in script
    for line in script.replace("\\\n", " ").splitlines():
        if "$password" in line:
            # Only bash builtins (printf, assignment) ever see it: no process gets it in argv.
            assert line.lstrip().startswith(("printf", "password=", 'publish_session "$(printf')), (
                line
            )


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
    assert "password=s3cr%2Ft%2B" in parts.fragment
    assert "autoconnect=1" in parts.fragment
