"""A real novnc desktop on the real local Slurm: launch, ready, answer, connect URL, end."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import stat
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import pytest
import websocket

from dcv_widget.desktops.engines import ENGINES
from dcv_widget.desktops.engines.novnc import NoVNCEngine
from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import DesktopSession, SessionState

# pytest puts tests/ on sys.path (no __init__.py); mypy knows the module by its path.
if TYPE_CHECKING:
    from tests.integration.counting import CountingTransport
    from tests.tls import pinned_context, public_key_of, recorded_cert
else:
    from counting import CountingTransport
    from tls import pinned_context, public_key_of, recorded_cert

ORDER = [s.value for s in SessionState]


def is_ready_or_ended(session: DesktopSession) -> bool:
    return session.state in (SessionState.READY, SessionState.ENDED)


def is_ended(session: DesktopSession) -> bool:
    return session.state == SessionState.ENDED


def secret_of(url: str) -> str:
    fragment = dict(item.split("=", 1) for item in urlsplit(url).fragment.split("&"))
    return fragment["password"]


def websocket_path_of(url: str) -> str:
    """The WebSocket path noVNC opens, with the desktop's token (from the URL's fragment)."""
    fragment = dict(item.split("=", 1) for item in urlsplit(url).fragment.split("&"))
    return unquote(fragment["path"])


def test_desktop_lifecycle_end_to_end(
    manager: SessionManager,
    in_live_queue: Callable[[str], bool],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    manager.subscribe(lambda s: seen.append(s.state.value))

    session = manager.launch(LaunchRequest(partition="dcv", time="10"))
    # launch() returns before sbatch has run: the kernel's thread never waits for Slurm.
    assert session.state == SessionState.SUBMITTING

    session = manager.wait_for(session.key, is_ready_or_ended, timeout=120)
    assert session.state == SessionState.READY, session.detail
    assert session.node == "dcv-node-1"
    assert session.job_id.isdigit()
    # States only move forward through the lifecycle.
    steps = [ORDER.index(state) for state in dict.fromkeys(seen)]
    assert steps == sorted(steps), seen

    url = manager.connect_url(session.key).result(timeout=30)
    parts = urlsplit(url)
    assert parts.scheme == "https" and "encrypt=1" in parts.fragment.split("&")
    secret = secret_of(url)
    assert len(secret) == 8

    # The noVNC page is served over TLS, verified against the certificate the job recorded (its
    # name the URL's address), and websockify bridges to a live VNC server.
    paths = manager.paths()
    session_file = paths.session_file(session.job_id)
    pinned = pinned_context(recorded_cert(session_file))
    page = urllib.request.urlopen(f"https://{parts.netloc}/vnc.html", timeout=10, context=pinned)
    assert page.status == 200 and b"noVNC" in page.read()
    path = websocket_path_of(url)
    token = path.partition("token=")[2]
    assert len(token) >= 32
    ws = websocket.create_connection(
        f"wss://{parts.netloc}/{path}",
        subprotocols=["binary"],
        timeout=10,
        sslopt={"context": pinned},
    )
    try:
        greeting = ws.recv()
        assert isinstance(greeting, bytes) and greeting.startswith(b"RFB 003.")
    finally:
        ws.close()

    # The TLS key lives only in the private run folder, 0600 in 0700.
    run = Path(paths.root, "run", session.job_id)
    key_file = run / "tls.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    key_text = key_file.read_text()
    key_body = "".join(key_text.splitlines()[1:-1])  # the base64 between the PEM lines
    assert "PRIVATE KEY-----" in key_text and len(key_body) > 40

    # The secret lives only in the private session file: not in any process's argv, not in the log.
    assert stat.S_IMODE(os.stat(session_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(paths.sessions).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(paths.root).st_mode) == 0o700
    argv_of_all = subprocess.run(
        ["ps", "-eo", "args"], capture_output=True, text=True, check=True
    ).stdout
    assert secret not in argv_of_all and token not in argv_of_all
    for line in key_text.splitlines()[1:-1]:
        assert line not in argv_of_all
    log_file = paths.log_file(session.job_id)
    assert stat.S_IMODE(os.stat(log_file).st_mode) == 0o600
    log = Path(log_file).read_text()
    assert secret not in log and token not in log
    assert "PRIVATE KEY" not in log and all(line not in log for line in key_text.splitlines()[1:-1])

    manager.end(session.key).result(timeout=30)
    session = manager.wait_for(session.key, is_ended, timeout=60)
    assert session.outcome == "cancelled"
    # Cleaned up: no session file, no private run folder (nor the TLS key in it), job gone from
    # the live queue.
    assert not os.path.exists(session_file)
    assert not run.exists() and not key_file.exists()
    assert not in_live_queue(session.job_id)
    # The job's last word is read, even when it comes after Slurm's "cancelled"; it stays a
    # while for any other manager following the job (the sweep's test is in test_manager_follow).
    end_file = Path(paths.end_file(session.job_id))
    deadline = time.monotonic() + 30
    while not end_file.exists():
        assert time.monotonic() < deadline, "the job wrote no last word"
        time.sleep(0.3)
    assert not Path(paths.started_file(session.job_id)).exists()
    assert "desktop closed" in Path(log_file).read_text()
    # Nothing dcv_widget (or anything else in this process) logged carries the secret.
    assert caplog.records and secret not in caplog.text and token not in caplog.text


def test_a_novnc_desktops_idle_clock_stops_while_a_viewer_is_connected(
    manager: SessionManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real TigerVNC and websockify: a viewer is a WebSocket through websockify to Xvnc (what
    # noVNC opens); the watch's grace and pace shortened through the engine's own settings.
    monkeypatch.setitem(ENGINES, "novnc", NoVNCEngine(idle_grace=0, poll_seconds=2))
    session = manager.launch(LaunchRequest(partition="dcv", time="10", idle_timeout=1))
    session = manager.wait_for(session.key, is_ready_or_ended, timeout=120)
    assert session.state == SessionState.READY, session.detail
    url = manager.connect_url(session.key).result(timeout=30)
    parts = urlsplit(url)
    pinned = pinned_context(recorded_cert(manager.paths().session_file(session.job_id)))
    # Alone from the start: the job says until when, and the session shows it.
    session = manager.wait_for(session.key, lambda s: s.idle_ends_at is not None, timeout=30)
    viewer = websocket.create_connection(
        f"wss://{parts.netloc}/{websocket_path_of(url)}",
        subprotocols=["binary"],
        timeout=10,
        sslopt={"context": pinned},
    )
    try:
        greeting = viewer.recv()
        assert isinstance(greeting, bytes) and greeting.startswith(b"RFB 003.")
        # Someone connected: the idle word goes, and the desktop outlives its minute.
        session = manager.wait_for(session.key, lambda s: s.idle_ends_at is None, timeout=30)
        time.sleep(65)
        assert manager.get(session.key).state == SessionState.READY
        assert manager.get(session.key).idle_ends_at is None
    finally:
        left_at = time.time()
        viewer.close()
    # Alone again: the idle clock restarts at the disconnect, the full timeout. That a novnc
    # desktop then ends itself at its deadline, as "idle stop", is test_isolation's
    # test_another_user_cannot_keep_a_desktop_from_its_idle_stop (waiting for it here too would
    # only add a minute to the suite).
    session = manager.wait_for(session.key, lambda s: s.idle_ends_at is not None, timeout=30)
    assert session.idle_since is not None and session.idle_ends_at is not None
    # The clock runs from the job's last look that saw the viewer (every 2 s, whole seconds),
    # long after the launch.
    assert session.idle_since >= left_at - 3
    assert session.idle_ends_at - session.idle_since == 60


def test_the_stream_is_tls_only_with_the_recorded_certificate(manager: SessionManager) -> None:
    """What websockify serves is the certificate in the session file (same public key, and a
    context trusting only that certificate verifies it); a client speaking plain HTTP gets
    nothing: no page, no WebSocket, no token crosses the network in clear."""
    session = manager.launch(LaunchRequest(partition="dcv", time="10"))
    session = manager.wait_for(session.key, is_ready_or_ended, timeout=120)
    assert session.state == SessionState.READY, session.detail
    connect = manager.connect_url(session.key).result(timeout=30)
    url = urlsplit(connect)
    assert url.hostname and url.port
    recorded = recorded_cert(manager.paths().session_file(session.job_id))

    served = ssl.get_server_certificate((url.hostname, url.port))
    assert public_key_of(served) == public_key_of(recorded)
    with (
        socket.create_connection((url.hostname, url.port), timeout=10) as raw,
        pinned_context(recorded).wrap_socket(raw, server_hostname=url.hostname) as tls,
    ):
        tls.sendall(b"GET /vnc.html HTTP/1.0\r\n\r\n")
        assert tls.recv(100).startswith(b"HTTP/1.")

    with socket.create_connection((url.hostname, url.port), timeout=10) as plain:
        plain.sendall(b"GET /vnc.html HTTP/1.0\r\n\r\n")
        try:
            answer = plain.recv(100)
        except ConnectionResetError:
            answer = b""
    assert answer == b""  # closed without a word
    # The WebSocket in clear, with the right token: cut off the same way.
    with pytest.raises((OSError, websocket.WebSocketException)):
        websocket.create_connection(f"ws://{url.netloc}/{websocket_path_of(connect)}", timeout=10)


def test_unknown_partition_fails_with_slurms_reason(manager: SessionManager) -> None:
    session = manager.launch(LaunchRequest(partition="no-such-partition", time="5"))
    session = manager.wait_for(session.key, is_ended, timeout=30)
    assert session.outcome == "failed to submit"
    assert "invalid partition" in session.detail.lower()
    assert "Check the partition" in session.detail


def test_two_desktops_share_a_node_and_one_squeue_per_poll() -> None:
    transport = CountingTransport()
    manager = SessionManager(transport, fast_poll=0.3, slow_poll=1.0)
    try:
        first = manager.launch(LaunchRequest(partition="dcv", time="10"))
        second = manager.launch(LaunchRequest(partition="dcv", time="10"))
        first = manager.wait_for(first.key, is_ready_or_ended, timeout=120)
        second = manager.wait_for(second.key, is_ready_or_ended, timeout=120)
        assert first.state == second.state == SessionState.READY
        urls = [manager.connect_url(s.key).result(timeout=30) for s in (first, second)]
        assert urlsplit(urls[0]).port != urlsplit(urls[1]).port
        assert secret_of(urls[0]) != secret_of(urls[1])

        transport.commands.clear()
        manager.poll_once()
        assert transport.commands == ["squeue"]
    finally:
        for session in manager.sessions():
            manager.end(session.key).result(timeout=30)
        for session in manager.sessions():
            assert manager.wait_for(session.key, is_ended, timeout=60).outcome == "cancelled"
