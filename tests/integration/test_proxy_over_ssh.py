"""The jupyter route with JupyterLab "on a laptop": the Jupyter server reaches the cluster over
SSH (c.DesktopSettings.ssh_host), so the proxy confirms the desktop through that connection and
relays its stream through the connection's forwarding, as the tunnel route does."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import websocket

from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import SessionState

if TYPE_CHECKING:
    from tests.e2e.lab import running_lab
    from tests.integration.sshd import ALIAS, running_sshd
else:
    from e2e.lab import running_lab
    from sshd import ALIAS, running_sshd


def _clients_of(port: int) -> set[str]:
    """The names of the processes connected to 127.0.0.1:`port` (this user's)."""
    listed = subprocess.run(
        ["ss", "-Htnp", "state", "established", "dst", f"127.0.0.1:{port}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {part.split('"')[1] for part in listed.split("users:((")[1:]}


def test_the_proxy_reaches_the_desktop_through_the_ssh_connection(
    tmp_path: Path, artifacts: Path
) -> None:
    (tmp_path / "sshd").mkdir(mode=0o700)
    with running_sshd(tmp_path / "sshd") as sshd:
        manager = SessionManager(sshd.transport(), fast_poll=0.3, slow_poll=1.0)
        key = manager.launch(LaunchRequest(partition="dcv", time="10", access="jupyter")).key
        try:
            ready = manager.wait_for(
                key, lambda s: s.state in (SessionState.READY, SessionState.ENDED), 120
            )
            assert ready.state == SessionState.READY, (ready.detail, ready.log_tail)
            websockify_port = json.loads(
                Path(manager.paths().session_file(ready.job_id)).read_text()
            )["port"]
            # The laptop: its own home with the ssh alias, and the site setting naming it.
            laptop = tmp_path / "laptop"
            (laptop / ".ssh").mkdir(parents=True, mode=0o700)
            (laptop / ".ssh" / "config").write_text(sshd.ssh_config.read_text())
            config = laptop / "config"
            config.mkdir()
            (config / "jupyter_dcv_widget_config.json").write_text(
                json.dumps({"DesktopSettings": {"ssh_host": ALIAS}})
            )
            (laptop / "root").mkdir()
            logins = sshd.connections()
            with running_lab(
                laptop / "root",
                laptop,
                artifacts / "ssh-lab.log",
                {**os.environ, "HOME": str(laptop)},
            ) as lab:
                assert lab.config == config
                prefix = f"{lab.url}/dcv-widget/desktops/{ready.job_id}/"
                login = {"Authorization": f"token {lab.token}"}
                page = urllib.request.urlopen(
                    urllib.request.Request(prefix + "vnc.html", headers=login), timeout=60
                )
                assert page.status == 200 and b"noVNC" in page.read()
                ws = websocket.create_connection(
                    prefix.replace("http://", "ws://") + "websockify",
                    header=[f"Authorization: token {lab.token}"],
                    subprotocols=["binary"],
                    timeout=30,
                )
                assert ws.recv() == b"RFB 003.008\n"
                # The stream enters the desktop from sshd (the forwarding), not from the
                # Jupyter server itself, which logged in over SSH to confirm the desktop.
                assert _clients_of(websockify_port) == {"sshd"}
                assert sshd.connections() > logins
                ws.close()
        finally:
            manager.end(key).result(timeout=60)
            deadline = time.monotonic() + 10
            while manager.get(key).state != SessionState.ENDED and time.monotonic() < deadline:
                time.sleep(0.2)
