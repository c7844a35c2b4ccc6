"""The dcv job script, its connect URL, and the node bootstrap's shell."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from dcv_widget.access.endpoint import Endpoint
from dcv_widget.desktops.engines import ENGINES
from dcv_widget.desktops.engines.dcv import DCVEngine
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.node.verifier import job_id_of

SESSION = "dcvw-42-k3x9q2m4p7z1a8b5"
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
    assert "session_id=dcvw-$SLURM_JOB_ID-$(python3 -c 'import secrets" in text
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
    endpoint = Endpoint("dcv", "10.0.0.5", 8443, session_id=SESSION)
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
    assert parts.fragment == SESSION


@needs_bash
def test_node_bootstrap_is_valid_bash() -> None:
    bootstrap = files("dcv_widget").joinpath("node").joinpath("on_node_configured.sh").read_text()
    assert bootstrap.startswith("#!/bin/bash\n")
    subprocess.run(["bash", "-n"], input=bootstrap, text=True, check=True)


@needs_bash
def test_session_names_are_random_and_what_the_verifier_accepts(tmp_path: Path) -> None:
    """The job's own lines that name the session, run as bash: a new name each time, in the
    form the verifier accepts for this job (and only for it)."""
    text = script()
    start = text.index("session_id=dcvw-")
    end = text.index("\n\n", start)
    naming = (
        'fail() { echo "FAIL: $*"; exit 1; }\n' + text[start:end] + '\nprintf "%s" "$session_id"'
    )
    names = set()
    for _ in range(5):
        made = subprocess.run(
            ["bash", "-c", naming],
            env={"SLURM_JOB_ID": "4242", "PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert re.fullmatch(r"dcvw-4242-[a-z0-9]{16}", made), made
        assert job_id_of(made) == "4242"
        names.add(made)
    assert len(names) == 5


def read_dcv_cert(port: int) -> list[str]:
    """The job's own lines that read DCV's certificate, run for `port`: what they log, then
    the session file's "cert" value (a JSON string) as the last line."""
    text = script()
    start = text.index('cert=$(python3 - "$port"')
    block = text[start : text.index("\nfi\n", start) + 4]
    driver = f'log() {{ echo "LOG: $*"; }}\nport={port}\n{block}\nprintf "%s\\n" "$cert"'
    done = subprocess.run(
        ["bash", "-c", driver],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


@contextlib.contextmanager
def tls_server(folder: Path) -> Iterator[tuple[int, str]]:
    """A TLS server on 127.0.0.1 (a certificate made here): its port and certificate (PEM)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-subj", "/CN=dcv", "-days", "1", "-keyout", str(key), "-out", str(cert)],
        capture_output=True,
        check=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                with contextlib.suppress(OSError), context.wrap_socket(client, server_side=True):
                    pass

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield int(listener.getsockname()[1]), cert.read_text()
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone would not)
        listener.close()


@needs_bash
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_job_records_the_certificate_dcv_serves_on_loopback(tmp_path: Path) -> None:
    with tls_server(tmp_path) as (port, served):
        *logged, recorded = read_dcv_cert(port)
    assert logged == []
    pem = json.loads(recorded)
    assert ssl.PEM_cert_to_DER_cert(pem) == ssl.PEM_cert_to_DER_cert(served)

    # Nothing answers there any more: the desktop is published without a certificate, and the
    # job's log says what that means.
    *logged, recorded = read_dcv_cert(port)
    assert recorded == '""'
    assert len(logged) == 1 and f"could not read DCV's certificate on 127.0.0.1:{port}" in logged[0]
    assert "the jupyter route will refuse this desktop (the other routes work)" in logged[0]


def bootstrap_text() -> str:
    return files("dcv_widget").joinpath("node").joinpath("on_node_configured.sh").read_text()


def source_check(source: Path, dest: Path, trusted: str) -> subprocess.CompletedProcess[str]:
    """The bootstrap's check of a verifier source (its embedded python), run as is. `trusted`
    is the owners it allows: the bootstrap always says "0" (root) or "any" (with a pinned hash);
    here root and the test user, so that a test can make every case."""
    text = bootstrap_text()
    start = text.index("<<'CHECK_SOURCE'")
    body = text[text.index("\n", start) + 1 : text.index("\nCHECK_SOURCE\n")]
    return subprocess.run(
        [sys.executable, "-", str(source), str(dest), trusted],
        input=body,
        capture_output=True,
        text=True,
        check=False,
    )


def test_bootstrap_requires_root_or_a_pinned_hash() -> None:
    text = bootstrap_text()
    assert "local trusted_uid=0\n            [[ -n $pinned ]] && trusted_uid=any" in text
    assert '"$verifier_source" "$dest" "$trusted_uid"' in text
    # The checks come before the root check; the install after it, from the checked copy.
    assert text.index('fetch_checked "$staging/verifier.py"') < text.index("[[ $EUID -eq 0 ]]")
    assert text.index("[[ $EUID -eq 0 ]]") < text.index('"$staging/verifier.py" "$install_dir')


@pytest.fixture
def private_tree() -> Iterator[Path]:
    """A folder in the test user's home: every folder above it is root's or the user's and
    writable by nobody else (unlike /tmp, sticky and world-writable)."""
    home = Path.home()
    if any(p.stat().st_uid not in (0, os.getuid()) or p.stat().st_mode & 0o022
           for p in (home, *home.parents)):  # fmt: skip
        pytest.fail(f"{home} or a folder above it is writable by others: the test cannot run")
    folder = Path(tempfile.mkdtemp(prefix="dcvw-bootstrap-", dir=home))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def test_bootstrap_source_check_refuses_what_others_could_write(
    private_tree: Path, tmp_path: Path
) -> None:
    trusted = f"0,{os.getuid()}"
    folder = private_tree / "share"
    folder.mkdir()
    folder.chmod(0o755)
    source = folder / "verifier.py"
    source.write_text("print('the verifier')\n")
    source.chmod(0o644)
    dest = tmp_path / "copy.py"
    checked = source_check(source, dest, trusted)
    assert checked.returncode == 0, checked.stderr
    assert dest.read_text() == source.read_text()
    dest.unlink()

    folder.chmod(0o775)
    refused = source_check(source, dest, trusted)
    assert refused.returncode != 0 and not dest.exists()
    assert f"{folder} is writable by its group or others (mode 775)" in refused.stderr
    folder.chmod(0o755)

    source.chmod(0o666)
    refused = source_check(source, dest, trusted)
    assert f"{source} is writable by its group or others (mode 666)" in refused.stderr
    source.chmod(0o644)

    refused = source_check(source, dest, "0")  # the bootstrap's own requirement
    assert f"{source} is owned by " in refused.stderr and ", not root" in refused.stderr
    assert refused.stderr.startswith("dcv-widget node setup: ERROR: refusing the verifier")

    # In a folder like /tmp (sticky, world-writable), however deep: refused, the folder named.
    shared = private_tree / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "deeper").mkdir(mode=0o755)
    (shared / "deeper" / "verifier.py").write_text("x")
    refused = source_check(shared / "deeper" / "verifier.py", dest, trusted)
    assert f"{shared} is writable by its group or others (mode 1777)" in refused.stderr

    # A symlink is followed once, to the real file, whose own folders are then checked.
    link = tmp_path / "link.py"
    link.symlink_to(source)
    refused = source_check(link, dest, "0")
    assert f"{source} is owned by" in refused.stderr
    assert source_check(link, dest, "any").returncode == 0  # with a pinned hash

    # Not a regular file: refused even with a pinned hash, and never read (a FIFO would hang).
    fifo = folder / "fifo"
    os.mkfifo(fifo)
    refused = source_check(fifo, dest, "any")
    assert f"{fifo} is not a regular file" in refused.stderr
    assert "pin its hash (third argument: sha256sum verifier.py)" in refused.stderr


def x11_fix(folder: Path) -> subprocess.CompletedProcess[str]:
    """The bootstrap's fix of /tmp/.X11-unix (its embedded python), run on `folder`."""
    text = bootstrap_text()
    start = text.index('"$python" - "$x11" <<\'EOF\'')
    start = text.index("\n", start) + 1
    code = text[start : text.index("\nEOF\n", start)]
    return subprocess.run(
        [sys.executable, "-", str(folder)], input=code, capture_output=True, text=True, check=False
    )


def test_the_x11_folder_fix_never_follows_a_link_nor_adopts_a_users_folder(
    tmp_path: Path,
) -> None:
    """Run as an ordinary user: every case where root would act on something not its own is
    refused before any chown or chmod (root's own success needs root and is not run here)."""
    target = tmp_path / "target"
    target.mkdir(mode=0o755)
    link = tmp_path / "X11-unix-link"
    link.symlink_to(target)
    assert x11_fix(link).returncode != 0  # a symlink raced in: O_NOFOLLOW refuses it
    assert oct(target.stat().st_mode & 0o7777) == "0o755"  # its target untouched
    theirs = tmp_path / "X11-unix-theirs"
    theirs.mkdir(mode=0o1777)
    assert x11_fix(theirs).returncode != 0  # a folder of a user's: not adopted
    fresh = tmp_path / "X11-unix-new"
    assert x11_fix(fresh).returncode != 0  # made here, then refused: the test user is not root
    assert oct(fresh.stat().st_mode & 0o777) == "0o700"  # never world-writable before root owns it
