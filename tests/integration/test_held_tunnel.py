"""HeldTunnel through the real sshd (see sshd.py) to real servers, all on 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.server
import logging
import os
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dcv_widget.access.endpoint import Endpoint
from dcv_widget.access.routes import Routes
from dcv_widget.access.tunnel import HeldTunnel, TunnelError
from dcv_widget.desktops.engines import ENGINES
from dcv_widget.transport.base import TransportError
from dcv_widget.transport.ssh import SSHTransport

if TYPE_CHECKING:
    from tests.integration import sshd as sshd_helper
    from tests.integration.sshd import SSHServer
else:
    import sshd as sshd_helper
    from sshd import SSHServer

WAIT = 30.0  # seconds: only so that a broken tunnel fails the test instead of hanging it
BODY = b"hello from the desktop"


class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = BODY + self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


class Echo:
    """A TCP server that sends back what it gets until end-of-file; counts what ended."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.ended = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.listener.accept()
                threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(65536):
                conn.sendall(data)
        self.ended += 1


def bound() -> socket.socket:
    """A socket holding a free port of 127.0.0.1 that refuses connections until listen()."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
def web() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def echo() -> Iterator[Echo]:
    listener = bound()
    listener.listen()
    yield Echo(listener)
    listener.close()


@pytest.fixture
def ssh(sshd: SSHServer) -> Iterator[SSHTransport]:
    with sshd.transport() as transport:
        yield transport


@pytest.fixture
def tunnel(ssh: SSHTransport) -> Iterator[Callable[..., HeldTunnel]]:
    """Starts tunnels through `ssh`; closes them after the test."""
    made: list[HeldTunnel] = []

    def start(port: int, local_port: int = 0) -> HeldTunnel:
        held = HeldTunnel(ssh, "127.0.0.1", port, local_port=local_port)
        made.append(held)
        held.start()
        return held

    yield start
    for held in made:
        held.close()


def get(port: int, path: str = "/") -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=WAIT) as page:
        return bytes(page.read())


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    sock.settimeout(WAIT)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything `sock` receives until the other end closes."""
    chunks = []
    while chunk := sock.recv(1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def tcp_table() -> list[tuple[str, int, int, str]]:
    """This machine's TCP sockets from /proc: (local address, local port, remote port, state)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, remote, state = line.split()[1:4]
            address, _, port = local.partition(":")
            found.append((address, int(port, 16), int(remote.partition(":")[2], 16), state))
    return found


def listening_addresses(port: int) -> list[str]:
    """The addresses this machine listens on with TCP `port`."""
    return [address for address, local, _, state in tcp_table() if local == port and state == "0A"]


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def drop_ssh_connections(sshd: SSHServer) -> None:
    """Kill sshd's per-connection processes, as a network blip would cut the connections."""
    for pid in sshd.session_pids():
        monitor = sshd_helper._parent(pid)  # sshd's "[priv]" process, a child of the listener
        if monitor and sshd_helper._parent(monitor) == sshd.process.pid:  # not a reused pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


def test_requests_reach_the_server_many_at_once(
    sshd: SSHServer, web: int, tunnel: Callable[..., HeldTunnel]
) -> None:
    port = tunnel(web).local_port
    assert listening_addresses(port) == ["0100007F"]  # 127.0.0.1 only: not on the network
    assert get(port, "/first") == BODY + b"/first"
    logins = sshd.connections()
    for _ in range(20):  # the race this once lost showed in about half of 8 at once
        # Every connection is open and has sent its request before any answer is read.
        clients = [connect(port) for _ in range(8)]
        for n, client in enumerate(clients):
            client.sendall(f"GET /{n} HTTP/1.0\r\n\r\n".encode())
        for n, client in enumerate(clients):
            with client:
                answer = read_all(client)
            assert answer.startswith(b"HTTP/1.0 200"), answer
            assert answer.endswith(BODY + f"/{n}".encode()), answer
    # Connections ending at once never upset sshd into dropping the kept SSH connection.
    assert sshd.connections() == logins


def test_big_transfers_both_ways_and_a_half_close(
    echo: Echo, tunnel: Callable[..., HeldTunnel]
) -> None:
    data = os.urandom(8 * 1024 * 1024)  # far beyond paramiko's channel window
    with connect(tunnel(echo.port).local_port) as client:

        def send() -> None:
            client.sendall(data)
            client.shutdown(socket.SHUT_WR)  # the request is complete; the answer still comes

        sender = threading.Thread(target=send)
        sender.start()
        received = read_all(client)
        sender.join()
    assert received == data  # the echo answered all after our end-of-file, then closed


def test_close_cuts_live_connections_and_the_port_then_refuses(
    echo: Echo, ssh: SSHTransport
) -> None:
    held = HeldTunnel(ssh, "127.0.0.1", echo.port)
    port = held.start()
    client = connect(port)
    client.sendall(b"ping")
    assert client.recv(4) == b"ping"
    held.close()
    with client:
        assert client.recv(4) == b""  # cut, not left hanging
    until(lambda: echo.ended == 1, "the desktop's side of the connection was not closed")
    with pytest.raises(ConnectionRefusedError):
        connect(port)
    held.close()  # idempotent
    until(
        lambda: (
            not [t for t in threading.enumerate() if t.name.startswith(f"dcv-widget-tunnel-{port}")]
        ),
        "the tunnel's threads did not end",
    )
    # The cut connections linger in TIME_WAIT on this port; a new tunnel may take it at once.
    again = HeldTunnel(ssh, "127.0.0.1", echo.port, local_port=port)
    assert again.start() == port
    again.close()


def test_the_tunnel_survives_a_dropped_ssh_connection(
    sshd: SSHServer, web: int, echo: Echo, ssh: SSHTransport
) -> None:
    held_web, held_echo = HeldTunnel(ssh, "127.0.0.1", web), HeldTunnel(ssh, "127.0.0.1", echo.port)
    try:
        assert get(held_web.start()) == BODY + b"/"
        live = connect(held_echo.start())
        live.sendall(b"ping")
        assert live.recv(4) == b"ping"
        logins = sshd.connections()
        drop_ssh_connections(sshd)
        with live:
            assert live.recv(4) == b""  # it died with the SSH connection, and says so
        assert get(held_web.local_port, "/again") == BODY + b"/again"
        assert sshd.connections() > logins  # the tunnel's next connection logged in anew
    finally:
        held_web.close()
        held_echo.close()


def test_a_port_in_use_is_named(web: int, tunnel: Callable[..., HeldTunnel]) -> None:
    first = tunnel(web)
    with pytest.raises(TunnelError, match=f"port {first.local_port} is in use on this computer"):
        tunnel(web, local_port=first.local_port)  # two tunnels never share a port
    with bound() as other:
        other.listen()
        taken = other.getsockname()[1]
        with pytest.raises(TunnelError, match=f"port {taken} is in use.*local_port_base"):
            tunnel(web, local_port=taken)
    assert get(first.local_port) == BODY + b"/"


def test_nothing_listening_closes_the_connection_and_the_tunnel_goes_on(
    tunnel: Callable[..., HeldTunnel], caplog: pytest.LogCaptureFixture
) -> None:
    with bound() as later:  # the port is ours, but refuses connections until listen()
        target = later.getsockname()[1]
        port = tunnel(target).local_port
        with (
            caplog.at_level(logging.WARNING, logger="dcv_widget.access.tunnel"),
            connect(port) as c,
        ):
            assert c.recv(4) == b""
        assert f"127.0.0.1:{target}" in caplog.text and "Connect failed" in caplog.text
        later.listen()
        Echo(later)
        with connect(port) as client:
            client.sendall(b"now")
            assert client.recv(3) == b"now"


def test_open_forward_to_a_closed_port_says_what_to_do(sshd: SSHServer, ssh: SSHTransport) -> None:
    assert ssh.run(["true"]).ok
    logins = sshd.connections()
    with bound() as closed:
        target = closed.getsockname()[1]
        with pytest.raises(TransportError, match=f"to 127.0.0.1:{target} \\(Connect failed\\)"):
            ssh.open_forward("127.0.0.1", target)
    assert ssh.run(["true"]).ok
    assert sshd.connections() == logins  # a refusal is not a dropped connection


def test_a_server_that_forbids_forwarding_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sshd_helper, "_CONFIG", sshd_helper._CONFIG + "AllowTcpForwarding no\n")
    with (
        sshd_helper.running_sshd(tmp_path) as strict,
        strict.transport() as ssh,
        pytest.raises(TransportError) as refused,
    ):
        ssh.open_forward("127.0.0.1", strict.port)
    assert "AllowTcpForwarding no" in str(refused.value)
    assert "use the ssh route" in str(refused.value)


def test_a_forward_not_answered_in_time_keeps_the_connection(
    sshd: SSHServer, ssh: SSHTransport
) -> None:
    assert ssh.run(["true"]).ok
    logins = sshd.connections()
    with bound() as full, socket.socket() as filler:
        full.listen(0)  # room for one connection, never accepted: further connects hang
        filler.connect(full.getsockname())
        target = full.getsockname()[1]
        with pytest.raises(TransportError, match=f"could not reach 127.0.0.1:{target} within 1 s"):
            ssh.open_forward("127.0.0.1", target, timeout=1)
    assert ssh.run(["true"]).ok
    assert sshd.connections() == logins  # the slow node did not cost the kept connection


def test_refusals_at_once_are_each_reported_and_keep_the_connection(
    sshd: SSHServer, ssh: SSHTransport
) -> None:
    assert ssh.run(["true"]).ok
    logins = sshd.connections()
    errors: list[str] = []

    def refused(target: int) -> None:
        try:
            ssh.open_forward("127.0.0.1", target)
        except TransportError as exc:
            errors.append(str(exc))

    with bound() as closed:
        target = closed.getsockname()[1]
        threads = [threading.Thread(target=refused, args=(target,)) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
    assert len(errors) == len(threads)
    assert all(f"to 127.0.0.1:{target} (Connect failed)" in error for error in errors), errors
    assert sshd.connections() == logins  # no refusal was taken for a dropped connection


def test_a_slow_forward_holds_up_no_command(sshd: SSHServer) -> None:
    opened: list[object] = []
    with (
        sshd.transport(connect_timeout=2 * WAIT) as ssh,
        bound() as full,
        socket.socket() as filler,
    ):
        full.listen(0)  # room for one connection, never accepted: further connects hang
        filler.connect(full.getsockname())
        target = full.getsockname()[1]
        assert ssh.run(["true"]).ok
        forward = threading.Thread(
            target=lambda: opened.append(ssh.open_forward("127.0.0.1", target, timeout=2 * WAIT))
        )
        forward.start()
        # sshd is connecting to the target (SYN_SENT) for the forward that is waiting for it.
        until(lambda: any(t[2:] == (target, "02") for t in tcp_table()), "no forward pending")
        assert ssh.run(["echo", "meanwhile"]).stdout == "meanwhile\n"
        assert forward.is_alive()
        full.accept()[0].close()  # room again: sshd's connect (retried) now gets through
        forward.join(2 * WAIT)
    assert len(opened) == 1


# Another user of this computer: binds [::1]:<port> (IPV6_V6ONLY, so 127.0.0.1:<port> being
# taken does not stop it), says so, answers every request "squatted" and prints its request
# line, until its stdin closes.
SQUATTER = r"""
import select, socket, sys
port = int(sys.argv[1])
listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past an earlier run's TIME_WAIT
listener.bind(("::1", port))
listener.listen()
print("listening", flush=True)
while True:
    ready, _, _ = select.select([listener, sys.stdin], [], [], 60)
    if not ready or sys.stdin in ready:
        break
    conn, _ = listener.accept()
    with conn:
        request = conn.recv(65536).decode(errors="replace").splitlines()
        print("got", request[0] if request else "", flush=True)
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 8\r\n\r\nsquatted")
"""


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def as_another_user() -> list[str]:
    """How this test runs a command as another unix user (the students of scripts/test.sh),
    or [] where it may not (the squatter then runs as this user: same sockets, same test)."""
    sudo = ["sudo", "-n", "-u", "dcvstudent2"]
    try:
        ok = subprocess.run([*sudo, "true"], capture_output=True, timeout=WAIT).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return sudo if ok else []


def browser_get(url: str) -> bytes:
    """GET `url` as a browser does: "localhost" is tried at ::1 first, then 127.0.0.1 (Chrome
    and Firefox resolve it themselves), any other host at the addresses it resolves to."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    if parts.hostname == "localhost":
        addresses = ["::1", "127.0.0.1"]
    else:
        addresses = [str(info[4][0]) for info in socket.getaddrinfo(parts.hostname, parts.port)]
    for address in addresses:
        try:
            sock = socket.create_connection((address, parts.port), timeout=WAIT)
        except ConnectionRefusedError:
            continue
        with sock:
            sock.sendall(f"GET {parts.path} HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n".encode())
            return read_all(sock).partition(b"\r\n\r\n")[2]
    raise AssertionError(f"nothing answers {url}")


def test_a_squatter_on_ipv6_loopback_gets_nothing_the_route_gives(
    ssh: SSHTransport, web: int
) -> None:
    """The held tunnel listens on 127.0.0.1:<port>; another user binds [::1]:<port>. The URL the
    tunnel route gives (its secret in the fragment) must reach the tunnel, never the squatter."""
    if not socket.has_ipv6 or not ipv6_loopback():
        pytest.skip("IPv6 is not available on loopback here: no [::1] to squat")
    routes = Routes(ssh)
    desktop = Endpoint("novnc", "127.0.0.1", web, session_id="1")
    try:
        shown = routes.prepare("k", "tunnel", desktop, "4242")
        browser = routes.browser_endpoint("k")
        assert shown.usable and browser is not None, shown.problem
        squatter = subprocess.Popen(
            [*as_another_user(), sys.executable, "-c", SQUATTER, str(browser.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert squatter.stdout is not None and squatter.stdin is not None
            ready, _, _ = select.select([squatter.stdout], [], [], WAIT)
            assert ready and squatter.stdout.readline() == "listening\n", "no squatter"
            # The squat is real: a client that tries ::1 first (as browsers do for
            # "localhost") would have reached it.
            assert browser_get(f"http://localhost:{browser.port}/probe") == b"squatted"

            url = ENGINES["novnc"].connect_url(browser, "the-desktops-secret")
            assert urllib.parse.urlsplit(url).hostname == "127.0.0.1"
            assert browser_get(url) == BODY + b"/vnc.html"  # the desktop's own answer
        finally:
            if squatter.stdin:
                squatter.stdin.close()  # it exits
            heard = squatter.stdout.read() if squatter.stdout else ""
            squatter.wait(WAIT)
        assert heard == "got GET /probe HTTP/1.0\n"  # the squatter saw the probe only
    finally:
        routes.close_all()
