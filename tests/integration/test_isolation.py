"""Desktops that share a node are isolated: another user can neither see, type into, lock out
nor reach a `novnc` desktop (docs/security.md).

The desktop runs as the test user on the real local Slurm; the attacker is `dcvstudent2`, an
ordinary user on the same node (the test user may run anything as a student through sudo,
never as root). Each attack here worked before the fix, so each test can fail.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import websocket
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from dcv_widget.desktops.engines import ENGINES
from dcv_widget.desktops.engines.novnc import NoVNCEngine, vnc_password
from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import DesktopSession, SessionState
from dcv_widget.desktops.session_file import parse_session_file

# pytest puts tests/ on sys.path (no __init__.py); mypy knows the module by its path.
if TYPE_CHECKING:
    from tests.tls import pinned_context, recorded_cert
else:
    from tls import pinned_context, recorded_cert

ATTACKER = "dcvstudent2"


def as_attacker(code: str, *args: str) -> str:
    """Run Python `code` as the attacker; its stdout (the attack's result)."""
    done = subprocess.run(
        ["sudo", "-n", "-u", ATTACKER, sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def is_ready_or_ended(session: DesktopSession) -> bool:
    return session.state in (SessionState.READY, SessionState.ENDED)


@pytest.fixture(scope="module")
def desktop() -> Iterator[tuple[SessionManager, DesktopSession]]:
    """One ready novnc desktop of the test user, for the module."""
    manager = SessionManager(fast_poll=0.3, slow_poll=1.0)
    session = manager.launch(LaunchRequest(partition="dcv", time="15"))
    try:
        session = manager.wait_for(session.key, is_ready_or_ended, timeout=120)
        assert session.state == SessionState.READY, session.detail
        yield manager, session
    finally:
        manager.end(session.key).result(timeout=30)


def run_folder(manager: SessionManager, session: DesktopSession) -> Path:
    return Path(manager.paths().root) / "run" / session.job_id


# -- X: another user's X client is refused --------------------------------------------------

# The X11 connection set-up (little-endian, protocol 11.0) with an optional authorization; the
# server's first reply byte says 0 failed, 1 success, 2 authenticate further.
X_PROBE = """
import socket, struct, sys
display, cookie = sys.argv[1], bytes.fromhex(sys.argv[2]) if len(sys.argv) > 2 else b""
name = b"MIT-MAGIC-COOKIE-1" if cookie else b""
pad = lambda b: b + b"\\0" * (-len(b) % 4)
setup = b"l\\0" + struct.pack("<HHHH", 11, 0, len(name), len(cookie)) + b"\\0\\0"
setup += pad(name) + pad(cookie)
for address in ("/tmp/.X11-unix/X" + display, "\\0/tmp/.X11-unix/X" + display):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(address)
        s.sendall(setup)
        print(s.recv(1)[0], end=" ")
    except OSError as exc:
        print("unreachable", end=" ")
    finally:
        s.close()
"""


def x_cookie(authority: Path) -> str:
    """The cookie of the job's X authority file (one FamilyWild entry), as hex."""
    data = authority.read_bytes()
    offset = 2
    fields = []
    for _ in range(4):
        (length,) = struct.unpack(">H", data[offset : offset + 2])
        fields.append(data[offset + 2 : offset + 2 + length])
        offset += 2 + length
    family = struct.unpack(">H", data[:2])[0]
    assert (family, fields[0], fields[1], fields[2]) == (0xFFFF, b"", b"", b"MIT-MAGIC-COOKIE-1")
    return fields[3].hex()


def test_another_user_cannot_open_the_display(
    desktop: tuple[SessionManager, DesktopSession],
) -> None:
    manager, session = desktop
    run = run_folder(manager, session)
    display = (run / "display").read_text().strip()
    authority = run / "Xauthority"
    assert oct(authority.stat().st_mode & 0o777) == "0o600"

    # The attacker, on the same node, over both the socket file and the abstract socket.
    assert as_attacker(X_PROBE, display) == "0 0"
    # A guessed cookie does no better.
    assert as_attacker(X_PROBE, display, "00" * 16) == "0 0"
    # The owner, with the job's cookie, is let in: the refusal above is X authorization.
    probe = subprocess.run(
        [sys.executable, "-c", X_PROBE, display, x_cookie(authority)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "1 1"


def test_the_x_socket_folder_is_roots() -> None:
    info = os.lstat("/tmp/.X11-unix")
    assert (info.st_uid, oct(info.st_mode & 0o7777)) == (0, "0o1777")


def run_x11_check(folder: str) -> subprocess.CompletedProcess[str]:
    """The job script's own check of the X socket folder (its text, cut out), on `folder`."""
    script = NoVNCEngine().job_script(LaunchRequest(), launch_id="ab12")
    fail = script[script.index("fail() {") : script.index("\n", script.index("fail() {"))]
    start = script.index("require_root_sticky() {")
    require = script[start : script.index("\n}\n", start) + 3]
    driver = f'log() {{ echo "$*"; }}\n{fail}\n{require}\nrequire_root_sticky "$1" X'
    return subprocess.run(
        ["bash", "-c", driver, "check", folder], capture_output=True, text=True, check=False
    )


def test_a_job_refuses_a_user_owned_x_socket_folder(tmp_path: Path) -> None:
    """On a folder like the one a user's Xvnc used to create (theirs, 1777), the job stops."""
    folder = tmp_path / "X11-unix"
    folder.mkdir()
    folder.chmod(0o1777)
    refused = run_x11_check(str(folder))
    assert refused.returncode != 0
    assert "must be a folder owned by root with mode 1777" in refused.stdout
    assert "install -d -m 1777 -o root -g root" in refused.stdout
    accepted = run_x11_check("/tmp/.X11-unix")
    assert accepted.returncode == 0, accepted.stdout


# -- websockify: nothing reaches VNC without the desktop's token ----------------------------


def pinned(manager: SessionManager, session: DesktopSession) -> ssl.SSLContext:
    """The owner's TLS: trusting the certificate the desktop's job recorded, and only it."""
    return pinned_context(recorded_cert(manager.paths().session_file(session.job_id)))


def connect_parts(manager: SessionManager, session: DesktopSession) -> tuple[str, int, str, str]:
    """(host, port, token, password) from the URL Connect opens."""
    url = manager.connect_url(session.key).result(timeout=30)
    parts = urlsplit(url)
    fragment = parse_qs(parts.fragment)
    path = unquote(fragment["path"][0])
    token = parse_qs(urlsplit(path).query)["token"][0]
    assert parts.hostname and parts.port
    return parts.hostname, parts.port, token, fragment["password"][0]


class Rfb:
    """Just enough of a VNC client (RFB 3.8, VNC authentication) over websockify."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self.ws = ws
        self.buffer = b""

    def read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            frame = self.ws.recv()
            self.buffer += frame if isinstance(frame, bytes) else frame.encode()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def log_in(self, password: str) -> int:
        """VNC authentication; the server's SecurityResult (0: accepted)."""
        assert self.read(12).startswith(b"RFB 003.")
        self.ws.send_binary(b"RFB 003.008\n")
        count = self.read(1)[0]
        assert 2 in self.read(count), "the server does not offer VNC authentication"
        self.ws.send_binary(b"\x02")
        challenge = self.read(16)
        # VNC's DES key is the password, 8 bytes, each byte's bits reversed (3DES with K1=K2=K3
        # is DES).
        key = bytes(int(f"{b:08b}"[::-1], 2) for b in password.encode()[:8].ljust(8, b"\0"))
        encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
        self.ws.send_binary(encryptor.update(challenge) + encryptor.finalize())
        return int(struct.unpack(">I", self.read(4))[0])


# The attacker's side: 100 WebSocket attempts with wrong, missing and guessed tokens; any that
# gets through to VNC tries a wrong password (six of those used to lock the owner out). The
# attacker takes whatever certificate the port presents (verification protects a client, and
# the attacker has nothing to protect): the token alone must stop them.
FLOOD = """
import ssl, sys, websocket
host, port = sys.argv[1], sys.argv[2]
paths = ["/websockify", "/websockify?token=", "/websockify?token=" + "A" * 32, "/?token=x"]
reached = 0
for attempt in range(100):
    try:
        ws = websocket.create_connection(
            "wss://%s:%s%s" % (host, port, paths[attempt % len(paths)]),
            subprotocols=["binary"], timeout=5, sslopt={"cert_reqs": ssl.CERT_NONE})
    except Exception:
        continue
    try:
        greeting = ws.recv()
        if isinstance(greeting, bytes) and greeting.startswith(b"RFB"):
            reached += 1
            ws.send_binary(b"RFB 003.008\\n")
            ws.recv()
            ws.send_binary(b"\\x02")
            ws.recv()
            ws.send_binary(b"\\0" * 16)
            ws.recv()
    except Exception:
        pass
    finally:
        ws.close()
print(reached)
"""


def test_others_cannot_reach_vnc_nor_lock_the_owner_out(
    desktop: tuple[SessionManager, DesktopSession],
) -> None:
    manager, session = desktop
    host, port, token, password = connect_parts(manager, session)
    assert len(token) >= 32  # 24 random bytes, base64: 192 bits
    assert password == vnc_password(token)

    assert as_attacker(FLOOD, host, str(port)) == "0"

    # The owner still gets in, now and again right after.
    for _ in range(2):
        ws = websocket.create_connection(
            f"wss://{host}:{port}/websockify?token={token}",
            subprotocols=["binary"],
            timeout=10,
            sslopt={"context": pinned(manager, session)},
        )
        try:
            assert Rfb(ws).log_in(password) == 0
        finally:
            ws.close()


# Binds a unix socket at argv[1] (its folders made first), connects to it and holds the accepted
# end for argv[2] seconds: to `ss`, a connection to a socket of that path.
HOLD_A_CONNECTION = """
import os, socket, sys, time
os.makedirs(os.path.dirname(sys.argv[1]))
server = socket.socket(socket.AF_UNIX)
server.bind(sys.argv[1])
server.listen(1)
client = socket.socket(socket.AF_UNIX)
client.connect(sys.argv[1])
accepted, _ = server.accept()
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_another_user_cannot_keep_a_desktop_from_its_idle_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The attacker binds a socket under the desktop's VNC socket path in a mount namespace of
    # their own (unshare -Urm, a tmpfs over the homes' folder) and holds a connection to it:
    # `ss` lists it beside Xvnc's, by the same path. Only Xvnc's own connections are viewers,
    # so the desktop nobody uses still ends on time.
    monkeypatch.setitem(ENGINES, "novnc", NoVNCEngine(idle_grace=0, poll_seconds=2))
    manager = SessionManager(fast_poll=0.3, slow_poll=1.0)
    session = manager.launch(LaunchRequest(partition="dcv", time="10", idle_timeout=1))
    holder = None
    try:
        session = manager.wait_for(session.key, is_ready_or_ended, timeout=120)
        assert session.state == SessionState.READY, session.detail
        path = run_folder(manager, session) / "vnc.sock"
        holder = subprocess.Popen(
            [
                "sudo",
                "-n",
                "-u",
                ATTACKER,
                "unshare",
                "-Urm",
                "sh",
                "-c",
                'mount -t tmpfs none "$1" && exec "$2" -c "$3" "$4" 150',
                "sh",
                f"/{path.parts[1]}",
                sys.executable,
                HOLD_A_CONNECTION,
                str(path),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        listed = subprocess.run(
            ["ss", "-Hx", "state", "established", "src", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert listed.stdout.strip(), "the attacker's connection is not listed by the path"
        session = manager.wait_for(
            session.key, lambda s: s.state == SessionState.ENDED, timeout=150
        )
        assert session.outcome == "idle stop", session.detail
    finally:
        if holder is not None:
            holder.terminate()
            holder.communicate(timeout=30)
        if manager.get(session.key).state != SessionState.ENDED:
            manager.end(session.key).result(timeout=30)


def test_websockify_log_and_the_session_file(
    desktop: tuple[SessionManager, DesktopSession],
) -> None:
    """The token (sent in the WebSocket request line) never lands in websockify's log."""
    manager, session = desktop
    host, port, token, _ = connect_parts(manager, session)
    tls = {"context": pinned(manager, session)}
    ws = websocket.create_connection(
        f"wss://{host}:{port}/websockify?token={token}",
        subprotocols=["binary"],
        timeout=10,
        sslopt=tls,
    )
    ws.close()
    # A wrong token is refused and logged, hidden too.
    guess = "B" * 32
    with pytest.raises(websocket.WebSocketException):
        websocket.create_connection(
            f"wss://{host}:{port}/websockify?token={guess}", timeout=10, sslopt=tls
        )
    log = (run_folder(manager, session) / "websockify.log").read_text()
    assert "token=(hidden)" in log
    assert token not in log and guess not in log
    found = parse_session_file(Path(manager.paths().session_file(session.job_id)).read_text())
    assert found.secret == token


# -- listeners: one address, named exactly --------------------------------------------------


def test_websockify_listens_on_the_node_address_only(
    desktop: tuple[SessionManager, DesktopSession],
) -> None:
    manager, session = desktop
    host, port, _, _ = connect_parts(manager, session)
    assert socket.inet_aton(host)  # the URL names an IPv4 literal, not a name
    listeners = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert f"{host}:{port}" in listeners
    assert f"0.0.0.0:{port}" not in listeners and f"[::]:{port}" not in listeners
    assert f"*:{port}" not in listeners


SQUAT = """
import socket, sys, time
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
try:
    s.bind(("::1", int(sys.argv[1])))
except OSError as exc:
    print("no-ipv6", exc)
    sys.exit(0)
s.listen(5)
s.settimeout(float(sys.argv[2]))
print("squatting", flush=True)
try:
    conn, _ = s.accept()
    print("got", conn.recv(200).split(b"\\r\\n")[0].decode())
except OSError:
    print("nothing")
"""


def test_an_ipv6_squatter_gets_nothing(desktop: tuple[SessionManager, DesktopSession]) -> None:
    """Another user binds [::1]:<the desktop's port>; the URL still reaches websockify."""
    manager, session = desktop
    host, port, _, _ = connect_parts(manager, session)
    assert host == "127.0.0.1"  # the local node: loopback, where the squat is tried
    squatter = subprocess.Popen(
        ["sudo", "-n", "-u", ATTACKER, sys.executable, "-c", SQUAT, str(port), "5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert squatter.stdout is not None
        first = squatter.stdout.readline().strip()
        if first.startswith("no-ipv6"):
            pytest.skip(f"no IPv6 on loopback here: {first}")
        assert first == "squatting"
        with (
            socket.create_connection((host, port), timeout=10) as raw,
            pinned(manager, session).wrap_socket(raw, server_hostname=host) as browser,
        ):
            browser.sendall(b"GET /vnc.html HTTP/1.0\r\n\r\n")
            assert browser.recv(100).startswith(b"HTTP/1.")
        out, _ = squatter.communicate(timeout=30)
        assert out.strip() == "nothing"
    finally:
        squatter.kill()


def test_the_ssm_route_holds_both_loopbacks() -> None:
    """For the ssm route the SSM agent on the node connects to "localhost", which may be ::1
    first: websockify holds the port on 127.0.0.1 and ::1, so no one else can take the IPv6
    side, and listens on nothing else."""
    manager = SessionManager(fast_poll=0.3, slow_poll=1.0)
    session = manager.launch(LaunchRequest(partition="dcv", time="10", access="ssm"))
    try:
        session = manager.wait_for(session.key, is_ready_or_ended, timeout=120)
        assert session.state == SessionState.READY, session.detail
        found = parse_session_file(Path(manager.paths().session_file(session.job_id)).read_text())
        port = found.endpoint.port
        # The node's address as Slurm knows it (loopback here), not the last one listened on.
        assert found.endpoint.host == "127.0.0.1"
        listeners = subprocess.run(
            ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
        ).stdout.split()
        if not socket.has_ipv6 or f"[::1]:{port}" not in listeners:
            assert f"127.0.0.1:{port}" in listeners
            probe = subprocess.run(
                [sys.executable, "-c", SQUAT, str(port), "0.1"], capture_output=True, text=True
            )
            assert probe.stdout.startswith("no-ipv6"), (listeners, probe.stdout)
            pytest.skip("no IPv6 loopback on this node: nothing to squat")
        assert {f"127.0.0.1:{port}", f"[::1]:{port}"} <= set(listeners), listeners
        assert not {f"0.0.0.0:{port}", f"[::]:{port}", f"*:{port}"} & set(listeners)
        # Both sides serve the recorded certificate, which names both addresses.
        for address in ("127.0.0.1", "::1"):
            with (
                socket.create_connection((address, port), timeout=10) as raw,
                pinned(manager, session).wrap_socket(raw, server_hostname=address) as tls,
            ):
                tls.sendall(b"GET /vnc.html HTTP/1.0\r\n\r\n")
                assert tls.recv(100).startswith(b"HTTP/1."), address
        squat = as_attacker(SQUAT, str(port), "0.1")
        assert squat.startswith("no-ipv6") and "in use" in squat, squat  # EADDRINUSE
    finally:
        manager.end(session.key).result(timeout=30)
