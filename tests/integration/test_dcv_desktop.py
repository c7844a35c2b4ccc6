"""DCV desktops on the real local Slurm, with the stand-in DCV of tests/fakes and the real
verifier: launch, ready, token authentication, end, idle stop, time limit, no leaked token."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import websocket

from dcv_widget.desktops.engines import ENGINES
from dcv_widget.desktops.engines.dcv import DCVEngine
from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import DesktopSession, SessionState

# pytest puts this folder and tests/ on sys.path (no __init__.py); mypy knows them by path.
if TYPE_CHECKING:
    from tests.integration.fake_dcv import FakeNode, recorded_session_id, running_fake_dcv
    from tests.tls import pinned_context
else:
    from fake_dcv import FakeNode, recorded_session_id, running_fake_dcv
    from tls import pinned_context


def is_ready_or_ended(session: DesktopSession) -> bool:
    return session.state in (SessionState.READY, SessionState.ENDED)


def is_ended(session: DesktopSession) -> bool:
    return session.state == SessionState.ENDED


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNode]:
    """The stand-in node, its settings in this process's environment: sbatch hands the
    submitter's whole environment to the job."""
    with running_fake_dcv(tmp_path) as fake:
        monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
        for name, value in fake.env.items():
            monkeypatch.setenv(name, value)
        yield fake


def launch_ready(manager: SessionManager, **options: object) -> DesktopSession:
    session = manager.launch(LaunchRequest(partition="dcv", engine="dcv", **options))  # type: ignore[arg-type]
    session = manager.wait_for(session.key, is_ready_or_ended, timeout=120)
    assert session.state == SessionState.READY, (session.detail, session.log_tail)
    return session


def test_dcv_desktop_end_to_end(
    manager: SessionManager, node: FakeNode, in_live_queue: Callable[[str], bool]
) -> None:
    session = launch_ready(manager, time="10")
    session_id = recorded_session_id(manager, session.job_id)
    assert node.exists(session_id)

    url = manager.connect_url(session.key).result(timeout=30)
    parts = urlsplit(url)
    token = parse_qs(parts.query)["authToken"][0]
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == (
        "https",
        "127.0.0.1",
        node.web_port,
        "/",
    )
    assert parts.fragment == session_id and len(token) >= 40

    # The session file: private, with what the access routes need from instance metadata.
    paths = manager.paths()
    session_file = Path(paths.session_file(session.job_id))
    assert session_file.stat().st_mode & 0o777 == 0o600
    fields = json.loads(session_file.read_text())
    assert fields["session_id"] == session_id and fields["port"] == node.web_port
    assert (fields["instance_id"], fields["private_ip"], fields["public_ip"], fields["region"]) == (
        "i-0123456789abcdef0",
        "10.0.1.23",
        "127.0.0.1",
        "us-east-2",
    )
    # ...and the certificate DCV's web server presents, read by the job on the node: the pin.
    assert fields["cert"] == node.cert

    # The URL authenticates through the real verifier, as the session's owner; while the client
    # is connected, DCV lists it.
    held = node.connect(url)
    assert held is not None
    assert node.connections(session_id) == 1
    held.close()
    for _ in range(50):
        if node.connections(session_id) == 0:
            break
        time.sleep(0.1)
    assert node.connections(session_id) == 0

    # A wrong token, or this token for another session, is refused.
    assert node.connect(url.replace("authToken=", "authToken=x")) is None
    assert node.verifier_says(session_id, token[:-2]) is None
    suffix = session_id.rsplit("-", 1)[1]
    assert node.verifier_says(f"dcvw-{int(session.job_id) + 1}-{suffix}", token) is None
    assert node.verifier_says(f"dcvw-{session.job_id}", token) is None  # the old, guessable name
    # A session of the same job under another name (someone else's creation): not this token's.
    other = f"dcvw-{session.job_id}-{'0' * 16}"
    assert node.dcv("create-session", "--owner", "dcvstudent2", other).returncode == 0
    assert node.verifier_says(other, token) is None

    # The token is in no process's argv, no log, nowhere but the private session file.
    argv_of_all = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert token not in argv_of_all
    log_file = Path(paths.log_file(session.job_id))
    for log in [log_file, *node.logs]:
        assert token not in log.read_text(), log
    assert token not in (node.state / "calls.log").read_text()

    manager.end(session.key).result(timeout=30)
    session = manager.wait_for(session.key, is_ended, timeout=60)
    assert session.outcome == "cancelled"
    # Closed and cleaned: DCV session gone, no session file or run folder, job out of the queue.
    assert f"close-session {session_id}" in (node.state / "calls.log").read_text()
    assert not node.exists(session_id)
    assert not session_file.exists()
    assert not Path(paths.root, "run", session.job_id).exists()
    assert not in_live_queue(session.job_id)
    assert "desktop closed" in log_file.read_text()

    # The ended desktop's token is stale: refused by the verifier itself.
    assert node.verifier_says(session_id, token) is None
    with pytest.raises(RuntimeError) as closed:
        manager.connect_url(session.key).result(timeout=30)
    assert token not in str(closed.value)


def test_dcvs_web_client_and_its_websocket_with_the_recorded_certificate(
    manager: SessionManager, node: FakeNode
) -> None:
    """Over TLS pinned to what the job recorded: the web client's page, then its WebSocket,
    let in with the desktop's token only, carrying binary frames both ways (what a relay must
    pass through), and counted by DCV as a connection while open."""
    session = launch_ready(manager, time="10")
    session_id = recorded_session_id(manager, session.job_id)
    url = urlsplit(manager.connect_url(session.key).result(timeout=30))
    token = parse_qs(url.query)["authToken"][0]
    fields = json.loads(Path(manager.paths().session_file(session.job_id)).read_text())
    pinned = pinned_context(fields["cert"])

    with urllib.request.urlopen(url.geturl(), timeout=10, context=pinned) as page:
        assert page.status == 200 and b"DCV" in page.read()

    def auth(token: str) -> websocket.WebSocket:
        query = urlencode({"authToken": token, "sessionId": session_id})
        return websocket.create_connection(
            f"wss://{url.netloc}/auth?{query}", timeout=10, sslopt={"context": pinned}
        )

    ws = auth(token)
    try:
        assert node.connections(session_id) == 1
        for frame in (b"\x00\x01\xff", bytes(range(256)) * 300):  # short, and 16-bit length
            ws.send_binary(frame)
            assert ws.recv() == frame
    finally:
        ws.close()
    for _ in range(50):
        if node.connections(session_id) == 0:
            break
        time.sleep(0.1)
    assert node.connections(session_id) == 0

    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        auth(token[:-2])
    assert refused.value.status_code == 403


def test_idle_desktops_end_themselves_but_not_while_someone_is_connected(
    manager: SessionManager, node: FakeNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The watch's grace and polling shortened through the engine's own (rendered) settings.
    monkeypatch.setitem(ENGINES, "dcv", DCVEngine(idle_grace=5, poll_seconds=5))
    idle = launch_ready(manager, time="10", idle_timeout=1)
    used = launch_ready(manager, time="10", idle_timeout=1)
    idle_session = recorded_session_id(manager, idle.job_id)
    used_session = recorded_session_id(manager, used.job_id)
    assert idle_session.rsplit("-", 1)[1] != used_session.rsplit("-", 1)[1]  # random names
    held = node.connect(manager.connect_url(used.key).result(timeout=30))
    assert held is not None

    # Nobody connected: the job says until when (its idle word, no secret, private like the
    # job's other files), and the session shows it; then the job ends itself, not before.
    idle = manager.wait_for(idle.key, lambda s: s.idle_ends_at is not None, timeout=60)
    assert idle.idle_since is not None and idle.idle_ends_at is not None
    assert idle.idle_ends_at - idle.idle_since == 60
    word = Path(manager.paths().idle_file(idle.job_id))
    assert word.stat().st_mode & 0o777 == 0o600
    assert set(json.loads(word.read_text())) == {"job_id", "launch", "since", "ends_at"}
    deadline = idle.idle_ends_at
    idle = manager.wait_for(idle.key, is_ended, timeout=150)
    assert idle.outcome == "idle stop", idle.detail
    assert "nobody connected for 1 min" in idle.detail
    assert idle.since >= deadline - 1  # the job's clock says whole seconds
    assert not node.exists(idle_session)
    assert not word.exists()
    # The other desktop outlived the same timeout because a client stayed connected...
    time.sleep(10)
    assert manager.get(used.key).state == SessionState.READY
    assert manager.get(used.key).idle_ends_at is None
    # ...and once left alone its idle clock starts then, not at its launch: its card shows the
    # full timeout from the disconnect. (Ending at the deadline is the first desktop's part;
    # waiting for it again would only add a minute to the suite.)
    left_at = time.time()
    held.close()
    used = manager.wait_for(used.key, lambda s: s.idle_ends_at is not None, timeout=60)
    assert used.idle_since is not None and used.idle_ends_at is not None
    # From the job's last look that saw the client (every 5 s, whole seconds), long after the
    # launch.
    assert used.idle_since >= left_at - 6
    assert used.idle_ends_at - used.idle_since == 60
    manager.end(used.key).result(timeout=30)
    used = manager.wait_for(used.key, is_ended, timeout=60)
    assert not node.exists(used_session)


def test_time_limit_ends_the_desktop_cleanly(manager: SessionManager, node: FakeNode) -> None:
    session = launch_ready(manager, time="1")
    session_id = recorded_session_id(manager, session.job_id)
    session = manager.wait_for(session.key, is_ended, timeout=180)
    assert session.outcome == "time limit reached", session.detail
    assert f"close-session {session_id}" in (node.state / "calls.log").read_text()
    assert not node.exists(session_id)
    assert not Path(manager.paths().session_file(session.job_id)).exists()
    log = Path(manager.paths().log_file(session.job_id)).read_text()
    assert "desktop closed: stopped by Slurm" in log


def test_the_session_starts_at_the_launch_geometry(
    manager: SessionManager, node: FakeNode, in_live_queue: Callable[[str], bool]
) -> None:
    """The job sets the session's layout once it exists, as DCV's admin guide does it
    (`dcv set-display-layout --session ID WxH+X+Y`); DCV then reports it."""
    session = launch_ready(manager, time="10", geometry="1280x720")
    session_id = recorded_session_id(manager, session.job_id)
    calls = (node.state / "calls.log").read_text().splitlines()
    layout = f"set-display-layout --session {session_id} 1280x720+0+0"
    assert layout in calls
    created = next(
        i for i, c in enumerate(calls) if c.startswith("create-session") and session_id in c
    )
    assert created < calls.index(layout)  # the session first, then its layout
    described = json.loads(node.dcv("describe-session", session_id, "--json").stdout)
    assert described["display-layout"] == "1280x720+0+0"
    log = Path(manager.paths().log_file(session.job_id)).read_text()
    assert f"DCV session {session_id} display layout 1280x720" in log
    manager.end(session.key).result(timeout=30)
    manager.wait_for(session.key, is_ended, timeout=60)
    assert not in_live_queue(session.job_id)
