"""The novnc job script and connect URL."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509

from dcv_widget.access.endpoint import Endpoint
from dcv_widget.desktops.engines.novnc import NoVNCEngine, vnc_password
from dcv_widget.desktops.request import LaunchRequest


def test_script_substitutes_the_geometry_and_nothing_else() -> None:
    script = NoVNCEngine().job_script(LaunchRequest(geometry="1280x720"), launch_id="ab12")
    assert script.startswith("#!/bin/bash\n")
    assert "geometry=1280x720\n" in script
    assert "launch_id=ab12\n" in script
    assert "@" not in script.replace('"$@"', "").replace("[@]", "")  # bash's, not a placeholder


def test_script_substitutes_the_idle_settings() -> None:
    engine = NoVNCEngine(idle_grace=7, poll_seconds=9)
    text = engine.job_script(LaunchRequest(idle_timeout=45), launch_id="ab12")
    assert "idle_timeout=45 " in text and "idle_grace=7 " in text and "poll_every=9 " in text
    assert "\nwatch_desktop\n" in text
    with pytest.raises(ValueError, match="poll_seconds"):
        NoVNCEngine(poll_seconds=0)


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
    # The TLS key is only ever a file in the private folder: openssl writes it, openssl and
    # websockify are handed its path.
    uses = [line.strip() for line in script.splitlines() if "tls.key" in line]
    assert uses and all('"$work/tls.key"' in line for line in uses), uses


def tls_block(script: str) -> str:
    """The job's lines that make the TLS certificate (its own text, to run here)."""
    start = script.index("# The desktop's TLS certificate")
    return script[start : script.index("\n\n", start)]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
@pytest.mark.parametrize(
    ("listen_on", "names"),
    [("node", ["10.0.0.5"]), ("loopback", ["127.0.0.1", "::1"])],
)
def test_the_certificate_names_the_listening_addresses_and_its_key_stays_private(
    tmp_path: Path, listen_on: str, names: list[str]
) -> None:
    work = tmp_path / "run"
    work.mkdir(mode=0o700)
    driver = (
        'fail() { echo "FAIL: $*"; exit 1; }\numask 077\n'
        + tls_block(NoVNCEngine().job_script(LaunchRequest(), launch_id="ab12"))
        + '\nprintf "%s" "$cert"'
    )
    made = subprocess.run(
        ["bash", "-c", driver],
        env={
            "PATH": os.environ["PATH"],
            "work": str(work),
            "listen_on": listen_on,
            "bind_address": "127.0.0.1" if listen_on == "loopback" else "10.0.0.5",
            "cert_days": "30",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    pem = json.loads(made.stdout)  # the session file's "cert": a JSON string
    assert pem == (work / "tls.crt").read_text()
    cert = x509.load_pem_x509_certificate(pem.encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == names
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 30
    key = work / "tls.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "PRIVATE KEY" in key.read_text() and "PRIVATE KEY" not in made.stdout + made.stderr


@pytest.mark.parametrize(("time", "days"), [("10", 30), ("1:00:00", 30), ("40-00:00:00", 41)])
def test_the_certificate_outlives_the_time_limit(time: str, days: int) -> None:
    script = NoVNCEngine().job_script(LaunchRequest(time=time), launch_id="ab12")
    assert f"cert_days={days} " in script


def test_websockify_listens_on_one_address_by_route() -> None:
    node = NoVNCEngine().job_script(LaunchRequest(access="ssh"), launch_id="ab12")
    assert "listen_on=node " in node
    ssm = NoVNCEngine().job_script(LaunchRequest(access="ssm"), launch_id="ab12")
    assert "listen_on=loopback " in ssm
    assert '"$listen_address:$port"' in ssm and 'addresses+=("[::1]")' in ssm


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
        "https",
        "10.0.0.5",
        43199,
        "/vnc.html",
    )
    assert parts.query == ""
    fragment = parse_qs(parts.fragment)
    assert fragment["path"] == ["websockify?token=s3cr/t+"]
    assert fragment["password"] == [vnc_password("s3cr/t+")]
    assert fragment["autoconnect"] == ["1"] and fragment["encrypt"] == ["1"]  # wss, not ws


# Binds a unix socket at argv[1], connects to it and holds the accepted end: a VNC viewer's
# connection as `ss` shows it (the accepted end's local address is the socket's path).
HOLD_A_CONNECTION = """
import socket, sys, time
server = socket.socket(socket.AF_UNIX)
server.bind(sys.argv[1])
server.listen(1)
client = socket.socket(socket.AF_UNIX)
client.connect(sys.argv[1])
accepted, _ = server.accept()
print("holding", flush=True)
time.sleep(60)
"""


def _holding(argv: list[str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    if process.stdout.readline().strip() != "holding":
        process.kill()
        pytest.skip(f"could not hold a connection: {process.communicate()[1].strip()}")
    return process


@pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare is not installed")
def test_viewers_counts_only_the_desktop_servers_connections(tmp_path: Path) -> None:
    # Any user on the node can bind a socket under the same path string in a mount namespace of
    # their own (unshare -Urm, a tmpfs over the folder) and hold connections to it: `ss` lists
    # them beside the desktop's, and counting them would keep someone else's desktop from its
    # idle stop. Only the connections Xvnc itself holds are viewers.
    work = tmp_path / "run"
    work.mkdir(mode=0o700)
    socket_path = str(work / "vnc.sock")
    script = NoVNCEngine().job_script(LaunchRequest(), launch_id="ab12")
    viewers = re.search(r"^viewers\(\) \{.*?\}$", script, re.M | re.S)
    assert viewers is not None
    xvnc = _holding([sys.executable, "-c", HOLD_A_CONNECTION, socket_path])
    foreign = _holding(
        [
            "unshare",
            "-Urm",
            "sh",
            "-c",
            f'mount -t tmpfs none "$1" && exec {sys.executable} -c "$2" "$1/vnc.sock"',
            "sh",
            str(work),
            HOLD_A_CONNECTION,
        ]
    )
    try:
        counted = subprocess.run(
            ["bash", "-c", viewers.group(0) + "\nviewers"],
            env={"PATH": os.environ["PATH"], "work": str(work), "xvnc_pid": str(xvnc.pid)},
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        for process in (xvnc, foreign):
            process.kill()
            process.wait()
    assert counted.stdout.split() == ["1"]
