"""A JupyterLab server of its own on loopback (its own config, runtime and settings folders),
for the e2e tests and the browser benchmarks."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Flags for a closed network: no background calls home, no sandbox (it needs user namespaces).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=AutofillServerCommunication",
]
# The servers and commands of the test run's virtualenv (jupyter, jupyterhub, the hub's proxy).
VENV_BIN = Path(sys.executable).parent
# JupyterLab's options for every test server: no news, no update check (no call home).
LAB_ARGS = ["--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]


@dataclass(frozen=True)
class Lab:
    url: str
    token: str
    root: Path
    config: Path  # JUPYTER_CONFIG_DIR: its jupyter_dcv_widget_config reaches new kernels

    def page_url(self, path: str) -> str:
        return f"{self.url}{path}?token={self.token}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(folder: Path) -> Path:
    """JupyterLab user settings: no news toast over screenshots (and no call home); widget
    state saved into notebooks, as a user who shares notebooks would have it."""
    news = folder / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}'
    )
    widgets = folder / "@jupyter-widgets" / "jupyterlab-manager"
    widgets.mkdir(parents=True)
    (widgets / "plugin.jupyterlab-settings").write_text('{"saveState": true}')
    return folder


@contextmanager
def running_lab(
    root: Path, home: Path, log_path: Path, base_env: Mapping[str, str] | None = None
) -> Iterator[Lab]:
    """JupyterLab (and Notebook 7, same server) serving `root`, logging to `log_path`, its
    kernels with `base_env` (default: this process's environment)."""
    token, port = secrets.token_hex(16), free_port()
    env = lab_environment(home, base_env)
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                str(VENV_BIN / "jupyter"),
                "lab",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                *LAB_ARGS,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_up(server, f"{url}/api/status?token={token}", "JupyterLab", log_path)
            yield Lab(url, token, root, home / "config")
        finally:
            stop(server)


def lab_environment(home: Path, base_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a test Jupyter server and its kernels: `base_env` (default: this
    process's) with Jupyter's config, runtime and settings folders under `home`."""
    return {
        **(os.environ if base_env is None else base_env),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "JUPYTERLAB_SETTINGS_DIR": str(_settings(home / "settings")),
    }


def wait_until_up(
    server: subprocess.Popen[bytes], url: str, name: str, log_path: Path, timeout: float = 60
) -> None:
    """Return once `url` answers without an error status; fail with the log's path if
    `server` exits or `url` does not answer within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"{name} exited; see {log_path}") from None
            time.sleep(0.5)
    raise RuntimeError(f"{name} did not answer within {timeout:.0f} s; see {log_path}")


def stop(server: subprocess.Popen[bytes]) -> None:
    """Terminate a server and wait for it; kill it if it is still shutting its kernels down
    after 30 s (after a failed test): the run goes on."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=30)


def connect_target(html: str) -> str:
    """Where the proxy's Connect entry page (`…/dcv-widget/open/<job>`) leads: the desktop's
    page, with what its web client needs (the page moves on by script, not by a redirect)."""
    found = re.search(r"location\.replace\((\"[^<]*?\")\);", html)
    assert found, html[:500]
    return str(json.loads(found.group(1)))
