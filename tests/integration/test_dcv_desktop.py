"""DCV desktops on the real local Slurm, with the stand-in DCV of tests/fakes and the real
verifier: launch, ready, token authentication, end, idle stop, time limit, no leaked token."""

from __future__ import annotations

import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.etree import ElementTree

import pytest

from dcv_widget.engines import ENGINES
from dcv_widget.engines.dcv import DCVEngine
from dcv_widget.manager import SessionManager
from dcv_widget.request import LaunchRequest
from dcv_widget.session import DesktopSession, SessionState

FAKES = Path(__file__).resolve().parent.parent / "fakes"


def is_ready_or_ended(session: DesktopSession) -> bool:
    return session.state in (SessionState.READY, SessionState.ENDED)


def is_ended(session: DesktopSession) -> bool:
    return session.state == SessionState.ENDED


@dataclass
class FakeNode:
    """The stand-in DCV node: fake `dcv` state, the real verifier, the fake web server."""

    state: Path
    logs: list[Path]
    verifier_url: str
    web_port: int
    tls: ssl.SSLContext

    def dcv(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["dcv", *args], capture_output=True, text=True, check=False)

    def connect(self, url: str) -> http.client.HTTPResponse | None:
        """What DCV's web client does with a connect URL: the token from the query, the session
        from the fragment. Accepted: the open reply, connected until closed. Refused: None."""
        parts = urlsplit(url)
        token = parse_qs(parts.query)["authToken"][0]
        query = urlencode({"authToken": token, "sessionId": parts.fragment})
        assert parts.hostname is not None and parts.port is not None
        client = http.client.HTTPSConnection(
            parts.hostname, parts.port, context=self.tls, timeout=15
        )
        client.request("GET", f"/connect?{query}")
        reply = client.getresponse()
        line = reply.readline().decode()
        if reply.status == 200 and line.startswith("accepted "):
            return reply  # holds the connection: http.client handed it over to the reply
        reply.close()
        assert reply.status == 403 and "refused" in line, (reply.status, line)
        return None

    def verifier_says(self, session_id: str, token: str) -> str | None:
        form = urlencode({"sessionId": session_id, "authenticationToken": token}).encode()
        with urllib.request.urlopen(self.verifier_url, data=form, timeout=10) as reply:
            auth = ElementTree.fromstring(reply.read())
        return auth.findtext("username") if auth.get("result") == "yes" else None

    def connections(self, session_id: str) -> int:
        listed = self.dcv("list-connections", "-j", session_id)
        return len(json.loads(listed.stdout)) if listed.returncode == 0 else -1

    def exists(self, session_id: str) -> bool:
        return self.dcv("describe-session", session_id).returncode == 0


def serve(argv: list[str], log: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start a server that logs `listening on 127.0.0.1:PORT`; return it and its port."""
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    for _ in range(100):
        found = re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text())
        if found:
            return process, int(found.group(1))
        assert process.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"{argv[1:3]} did not start: {log.read_text()}")


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNode]:
    """The fakes first on PATH and their settings in the environment, which sbatch hands to
    the job as it does the submitter's whole environment."""
    state = tmp_path / "dcv-state"
    state.mkdir()
    monkeypatch.setenv("PATH", f"{FAKES / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DCV_STATE", str(state))
    env = dict(os.environ)
    python = sys.executable
    logs = [tmp_path / name for name in ("imds.log", "verifier.log", "web.log")]
    imds, imds_port = serve([python, str(FAKES / "imds.py")], logs[0], env)
    verifier, verifier_port = serve(
        [python, "-m", "dcv_widget.verifier", "--port", "0"], logs[1], env
    )
    verifier_url = f"http://127.0.0.1:{verifier_port}/"
    web, web_port = serve(
        [python, str(FAKES / "dcv_web.py"), "--verifier", verifier_url, "--state", str(state),
         "--cert-dir", str(tmp_path)],
        logs[2],
        env,
    )  # fmt: skip
    (tmp_path / "dcv.conf").write_text(f"[connectivity]\nweb-port={web_port}\n")
    monkeypatch.setenv("DCV_WIDGET_DCV_CONF", str(tmp_path / "dcv.conf"))
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{imds_port}")
    tls = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
    try:
        yield FakeNode(state, logs, verifier_url, web_port, tls)
    finally:
        for process in (web, verifier, imds):
            process.terminate()
            process.wait(timeout=10)


def launch_ready(manager: SessionManager, **options: object) -> DesktopSession:
    session = manager.launch(LaunchRequest(partition="dcv", engine="dcv", **options))  # type: ignore[arg-type]
    session = manager.wait_for(session.key, is_ready_or_ended, timeout=120)
    assert session.state == SessionState.READY, (session.detail, session.log_tail)
    return session


def test_dcv_desktop_end_to_end(
    manager: SessionManager, node: FakeNode, in_live_queue: Callable[[str], bool]
) -> None:
    session = launch_ready(manager, time="10")
    session_id = f"dcvw-{session.job_id}"
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
        "203.0.113.7",
        "us-east-2",
    )

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
    assert node.verifier_says(f"dcvw-{int(session.job_id) + 1}", token) is None

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


def test_idle_desktops_end_themselves_but_not_while_someone_is_connected(
    manager: SessionManager, node: FakeNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The watch's grace and polling shortened through the engine's own (rendered) settings.
    monkeypatch.setitem(ENGINES, "dcv", DCVEngine(idle_grace=5, poll_seconds=5))
    idle = launch_ready(manager, time="10", idle_timeout=1)
    used = launch_ready(manager, time="10", idle_timeout=1)
    held = node.connect(manager.connect_url(used.key).result(timeout=30))
    assert held is not None

    idle = manager.wait_for(idle.key, is_ended, timeout=150)
    assert idle.outcome == "idle stop", idle.detail
    assert "nobody connected for 1 min" in idle.detail
    assert not node.exists(f"dcvw-{idle.job_id}")
    # The other desktop outlived the same timeout because a client stayed connected...
    time.sleep(10)
    assert manager.get(used.key).state == SessionState.READY
    # ...and ends itself once it is left alone for the idle timeout.
    held.close()
    used = manager.wait_for(used.key, is_ended, timeout=150)
    assert used.outcome == "idle stop", used.detail
    assert not node.exists(f"dcvw-{used.job_id}")


def test_time_limit_ends_the_desktop_cleanly(manager: SessionManager, node: FakeNode) -> None:
    session = launch_ready(manager, time="1")
    session = manager.wait_for(session.key, is_ended, timeout=180)
    assert session.outcome == "time limit reached", session.detail
    session_id = f"dcvw-{session.job_id}"
    assert f"close-session {session_id}" in (node.state / "calls.log").read_text()
    assert not node.exists(session_id)
    assert not Path(manager.paths().session_file(session.job_id)).exists()
    log = Path(manager.paths().log_file(session.job_id)).read_text()
    assert "desktop closed: stopped by Slurm" in log
