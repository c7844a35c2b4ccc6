"""The `tunnel` route end to end: JupyterLab "on a laptop" reaches the cluster through the real
sshd, and the widget forwards a local port through that connection to the DCV desktop's node."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import SessionState

# pytest puts this folder on sys.path (no __init__.py); mypy knows it by its path.
if TYPE_CHECKING:
    from tests.integration.fake_dcv import recorded_session_id, running_fake_dcv
    from tests.integration.sshd import running_sshd
else:
    from fake_dcv import recorded_session_id, running_fake_dcv
    from sshd import running_sshd


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


def test_connect_through_the_held_tunnel_which_outlives_a_drop_and_closes_with_the_desktop(
    tmp_path: Path, jobs_of_launch: Callable[[str], list[str]]
) -> None:
    (tmp_path / "sshd").mkdir(mode=0o700)
    (tmp_path / "node").mkdir()
    # The jobs are submitted through sshd: its sessions carry the stand-in node's settings.
    with (
        running_fake_dcv(tmp_path / "node") as node,
        running_sshd(tmp_path / "sshd", env=node.env) as sshd,
    ):
        manager = SessionManager(sshd.transport(), fast_poll=0.3, slow_poll=1.0)
        request = LaunchRequest(partition="dcv", engine="dcv", access="tunnel", time="10")
        key = manager.launch(request).key
        try:
            ready = manager.wait_for(
                key, lambda s: s.state in (SessionState.READY, SessionState.ENDED), 120
            )
            assert ready.state == SessionState.READY, (ready.detail, ready.log_tail)
            shown = manager.route(key).result(timeout=30)
            assert shown is not None and shown.route == "tunnel" and shown.usable
            assert shown.commands == ()  # nothing for the user to run

            url = manager.connect_url(key).result(timeout=30)
            parts = urlsplit(url)
            # The address the tunnel binds, never "localhost" (which may be anyone's [::1]).
            assert parts.hostname == "127.0.0.1" and parts.port != node.web_port
            assert parts.port is not None and f"127.0.0.1:{parts.port}" in shown.instructions
            session_id = recorded_session_id(manager, ready.job_id)
            # Through the forwarded port to the stand-in DCV server (its certificate checked),
            # which asks the real verifier: the token authenticates.
            held = node.connect(url)
            assert held is not None and node.connections(session_id) == 1
            assert node.connect(url.replace("authToken=", "authToken=x")) is None

            logins = sshd.connections()
            for pid in sshd.session_pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)  # drop every SSH connection, as a network blip would
            held.close()
            # The tunnel still listens; the next connection reconnects and gets through.
            again = node.connect(url)
            assert again is not None and sshd.connections() > logins
            again.close()

            manager.end(key).result(timeout=30)
            manager.wait_for(key, lambda s: s.state == SessionState.ENDED, 60)
            deadline = time.monotonic() + 30
            while not refused(parts.port):  # closed when the desktop ends
                assert time.monotonic() < deadline, "the tunnel outlived its desktop"
                time.sleep(0.2)
            assert jobs_of_launch(key) == [ready.job_id]
        finally:
            for session in manager.sessions():
                if session.state != SessionState.ENDED and session.job_id:
                    manager.end(session.key).result(timeout=30)
            manager.routes.close_all()
