"""A desktop followed from "a laptop": the manager talks to Slurm through the real sshd."""

from __future__ import annotations

import contextlib
import os
import time
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dcv_widget.api import DesktopHandle
from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import SessionState

# pytest puts tests/ on sys.path (no __init__.py); mypy knows the module by its path.
if TYPE_CHECKING:
    from tests.integration.sshd import SSHServer
    from tests.tls import pinned_context, recorded_cert
else:
    from tls import pinned_context, recorded_cert


def test_a_desktop_over_ssh_survives_a_dropped_connection(
    sshd: SSHServer, jobs_of_launch: Callable[[str], list[str]]
) -> None:
    manager = SessionManager(sshd.transport(), fast_poll=0.3, slow_poll=1.0)
    handle = DesktopHandle(manager, manager.launch(LaunchRequest(partition="dcv", time="10")).key)
    try:
        handle.wait_ready(timeout=120)
        url = handle.connect_url()
        logins = sshd.connections()
        for pid in sshd.session_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)  # drop every SSH connection, as a network blip would
        time.sleep(0.5)
        manager.poll_now()
        # The manager reconnects by itself and keeps following the same desktop.
        deadline = time.monotonic() + 30
        while sshd.connections() == logins:
            assert time.monotonic() < deadline, "the manager did not reconnect"
            time.sleep(0.2)
        assert handle.state == SessionState.READY
        assert handle.connect_url() == url
        pinned = pinned_context(recorded_cert(manager.paths().session_file(handle.job_id)))
        page = urllib.request.urlopen(
            f"https://{urlsplit(url).netloc}/vnc.html", timeout=10, context=pinned
        )
        assert page.status == 200
        assert jobs_of_launch(handle.key) == [handle.job_id]  # no duplicate job
    finally:
        handle.end()
    assert handle.session.outcome == "cancelled"
