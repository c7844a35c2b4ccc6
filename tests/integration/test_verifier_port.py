"""Nobody but root can stand in for the DCV verifier on a node, and the node bootstrap takes
only a verifier nobody else could have written: as the unprivileged test user (and as the
student `dcvstudent2`, through sudo), on this machine's real kernel, files and systemd."""

from __future__ import annotations

import errno
import hashlib
import os
import pwd
import socket
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest

from dcv_widget.node.verifier import DEFAULT_PORT

BOOTSTRAP = Path(str(files("dcv_widget").joinpath("node").joinpath("on_node_configured.sh")))
BIND = f"""
import errno, socket
s = socket.socket()
try:
    s.bind(("127.0.0.1", {DEFAULT_PORT}))
    s.listen()
    print("bound")
except OSError as error:
    print(errno.errorcode[error.errno])
"""


def test_the_verifier_port_is_privileged_here() -> None:
    start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    assert start > DEFAULT_PORT, (
        f"net.ipv4.ip_unprivileged_port_start is {start}: any user could take port "
        f"{DEFAULT_PORT}, and the bootstrap refuses such a node"
    )


def test_an_ordinary_user_cannot_take_the_verifier_port() -> None:
    assert os.getuid() != 0, "run the tests as an unprivileged user (scripts/test.sh: dcvtest)"
    with socket.socket() as mine, pytest.raises(PermissionError) as refused:
        mine.bind(("127.0.0.1", DEFAULT_PORT))
    assert refused.value.errno == errno.EACCES


def test_another_user_cannot_take_the_verifier_port() -> None:
    """dcvstudent2, another ordinary user of the node (tests' sudo rule: anything as them)."""
    taken = subprocess.run(
        ["sudo", "-n", "-u", "dcvstudent2", sys.executable, "-I", "-c", BIND],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )
    assert taken.returncode == 0, taken.stderr
    assert taken.stdout.strip() == "EACCES"


def bootstrap(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(BOOTSTRAP), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def root_owned_verifier() -> Path:
    """The verifier installed in the (root-owned) virtualenv, not the test's working tree."""
    found = subprocess.run(
        [sys.executable, "-I", "-c", "import dcv_widget.node.verifier as v; print(v.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    path = Path(found.stdout.strip())
    for part in (path, *path.parents):
        info = part.stat()
        assert info.st_uid == 0 and not info.st_mode & 0o022, (
            f"{part} is not root's or is writable by others: install dcv_widget into a "
            "root-owned virtualenv (scripts/test.sh does)"
        )
    return path


def test_bootstrap_refuses_a_verifier_owned_by_a_user(tmp_path: Path) -> None:
    mine = tmp_path / "verifier.py"
    mine.write_bytes(root_owned_verifier().read_bytes())
    mine.chmod(0o644)
    refused = bootstrap(str(mine))
    assert refused.returncode == 1
    user = pwd.getpwuid(os.getuid()).pw_name
    assert f"refusing the verifier {mine}: {mine} is owned by {user} (uid" in refused.stderr
    assert "not root" in refused.stderr and "sha256sum verifier.py" in refused.stderr
    assert "passed the checks" not in refused.stdout
    assert "run me as root" not in refused.stderr  # refused before it even got there


def test_bootstrap_takes_a_root_owned_verifier_then_wants_root() -> None:
    checked = bootstrap(str(root_owned_verifier()))
    assert f"verifier source {root_owned_verifier()} passed the checks" in checked.stdout
    assert checked.returncode == 1
    assert "ERROR: run me as root" in checked.stderr


def test_bootstrap_checks_a_pinned_sha256(tmp_path: Path) -> None:
    mine = tmp_path / "verifier.py"
    mine.write_bytes(root_owned_verifier().read_bytes())
    right = hashlib.sha256(mine.read_bytes()).hexdigest()
    wrong = hashlib.sha256(b"someone else's verifier").hexdigest()

    refused = bootstrap(str(mine), "8443", wrong)
    assert refused.returncode == 1
    assert f"has sha256 {right}, not the pinned {wrong}; refusing it" in refused.stderr
    assert "passed the checks" not in refused.stdout

    # The right hash vouches for the file whoever owns it (an upper-case pin is fine too).
    checked = bootstrap(str(mine), "", right.upper())
    assert "passed the checks" in checked.stdout, checked.stderr
    assert "ERROR: run me as root" in checked.stderr

    # A file changed after it was pinned is refused.
    mine.write_bytes(mine.read_bytes() + b"\nimport os; os.system('id')\n")
    refused = bootstrap(str(mine), "8443", right)
    assert "not the pinned" in refused.stderr and "passed the checks" not in refused.stdout


def test_bootstrap_refuses_s3_without_a_pin_and_malformed_pins() -> None:
    refused = bootstrap("s3://my-bucket/dcv-widget/verifier.py")
    assert refused.returncode == 1
    assert "an s3:// VERIFIER needs its SHA256 as the third argument" in refused.stderr
    refused = bootstrap(str(root_owned_verifier()), "8443", "abc123")
    assert refused.returncode == 1
    assert "SHA256 must be the 64 hex digits that 'sha256sum verifier.py' prints" in refused.stderr


def test_bootstrap_units_are_valid_systemd_units(tmp_path: Path) -> None:
    """The socket and service units, as the bootstrap writes them (its own heredocs, expanded
    by bash), pass `systemd-analyze verify`; the socket holds the verifier's privileged port."""
    text = BOOTSTRAP.read_text()
    blocks = []
    for name in ("dcv-widget-verifier.socket", "dcv-widget-verifier.service"):
        start = text.index(f'cat > "$units/{name}" <<EOF\n')
        blocks.append(text[start : text.index("\nEOF\n", start) + len("\nEOF\n")])
    subprocess.run(
        ["bash", "-euc", "\n".join(blocks)],
        env={
            "PATH": os.environ["PATH"],
            "units": str(tmp_path),
            "verifier_port": str(DEFAULT_PORT),
            "python": "/usr/bin/python3",
            "install_dir": "/opt/dcv-widget",
        },
        check=True,
    )
    socket_unit = (tmp_path / "dcv-widget-verifier.socket").read_text()
    assert f"ListenStream=127.0.0.1:{DEFAULT_PORT}\n" in socket_unit
    service_unit = (tmp_path / "dcv-widget-verifier.service").read_text()
    assert "Requires=dcv-widget-verifier.socket\n" in service_unit
    assert f"--port {DEFAULT_PORT}\n" in service_unit
    assert f"verifier_port={DEFAULT_PORT}  " in text  # the bootstrap and the verifier agree
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(map(str, tmp_path.iterdir()))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verified.returncode == 0 and verified.stderr == "", verified.stderr
