"""A real JupyterHub on loopback in front of JupyterLab, for the e2e tests that follow a person
who reaches JupyterLab through a hub (`/user/<name>/...` behind the hub's proxy and login).

Everything runs as the test user, no root: `jupyterhub` from the test virtualenv, its
`configurable-http-proxy` (npm; scripts/setup-system.sh installs it into the same virtualenv),
the shared-password authenticator with a password made per run, and the local-process spawner,
which starts the single-user JupyterLab as that same user (its "set the user's groups" step
fails without root and is skipped: the log says "Failed to set groups", harmless here).

The hub's folder (sqlite database, proxy pid file, the 0600 config that holds the password) is
a fresh temporary one; the cookie secret and the proxy's token reach the hub through its
environment, never argv or a log. The hub, its proxy and the single-user server log to one file
(their lines carry their names), which the fixture puts among the test artifacts.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page, expect

from .lab import LAB_ARGS, VENV_BIN, free_port, lab_environment, stop, wait_until_up

# The first visit starts the single-user JupyterLab (the hub's spawn page waits for it): slow
# on a loaded machine, so the hub and the login wait longer than for a plain JupyterLab.
SPAWN_TIMEOUT = 180


@dataclass(frozen=True)
class Hub:
    url: str  # the proxy's public URL, the only origin a browser uses
    user: str
    password: str = field(repr=False)
    root: Path  # the single-user server's root folder
    config: Path  # its JUPYTER_CONFIG_DIR: its jupyter_dcv_widget_config reaches new kernels
    log: Path  # the hub's, its proxy's and the single-user server's

    def user_url(self, path: str) -> str:
        """`path` (e.g. "/lab") under the user's server: /user/<name>/lab."""
        return f"{self.url}/user/{self.user}{path}"


@contextmanager
def running_hub(
    root: Path, home: Path, log_path: Path, base_env: Mapping[str, str] | None = None
) -> Iterator[Hub]:
    """JupyterHub whose single-user JupyterLab serves `root` with the environment a plain
    test JupyterLab gets (lab.py: `base_env` and Jupyter folders under `home`), all logging to
    `log_path`. On the way out the hub stops its proxy and the user's server; anything still
    running after that is ended and reported as an error."""
    folder = home / "hub"
    folder.mkdir(mode=0o700)
    user = pwd.getpwuid(os.getuid()).pw_name
    password = secrets.token_urlsafe(16)
    url = f"http://127.0.0.1:{free_port()}"
    config = {
        "JupyterHub": {
            "bind_url": url,
            "hub_bind_url": f"http://127.0.0.1:{free_port()}",
            "db_url": f"sqlite:///{folder / 'jupyterhub.sqlite'}",
            "authenticator_class": "shared-password",
            "spawner_class": "localprocess",
        },
        "ConfigurableHTTPProxy": {
            "command": [str(VENV_BIN / "configurable-http-proxy")],
            "api_url": f"http://127.0.0.1:{free_port()}",
        },
        "Authenticator": {"allowed_users": [user]},
        "SharedPasswordAuthenticator": {"user_password": password},
        "Spawner": {
            "cmd": [str(VENV_BIN / "jupyterhub-singleuser")],
            "args": LAB_ARGS,
            "default_url": "/lab",
            "notebook_dir": str(root),
            "environment": lab_environment(home, base_env),
            "start_timeout": SPAWN_TIMEOUT,
            "http_timeout": SPAWN_TIMEOUT,
        },
    }
    config_file = folder / "jupyterhub_config.json"
    config_file.touch(mode=0o600)
    config_file.write_text(json.dumps(config))
    env = {
        **os.environ,
        "JPY_COOKIE_SECRET": secrets.token_hex(32),
        "CONFIGPROXY_AUTH_TOKEN": secrets.token_hex(32),
    }
    with open(log_path, "w") as log:
        hub = subprocess.Popen(
            [str(VENV_BIN / "jupyterhub"), f"--config={config_file}"],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            # Through the proxy: the proxy runs and routes to the hub.
            wait_until_up(hub, f"{url}/hub/health", "JupyterHub", log_path)
            yield Hub(url, user, password, root, home / "config", log_path)
        finally:
            stop(hub)
            _end_leftovers(folder, log_path)


def log_in(page: Page, hub: Hub) -> None:
    """Log in on the hub's login page as a person would and wait until JupyterLab's shell is
    there, at /user/<name>/lab (the first login waits for the hub to start the server).

    Tests then open their notebook in a workspace of their own (/lab/workspaces/<name>/...):
    the default one would bring back another test's tabs."""
    page.goto(f"{hub.url}/hub/login")
    page.get_by_label("Username:").fill(hub.user)
    page.get_by_label("Password:").fill(hub.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(
        re.compile(rf"^{re.escape(hub.user_url('/lab'))}"), timeout=SPAWN_TIMEOUT * 1000
    )
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=60_000)


def _end_leftovers(folder: Path, log_path: Path) -> None:
    """End the proxy and single-user server the hub left running (it was killed, or failed to
    stop them), by the pids it recorded, and fail: a leftover server would serve the next run's
    port, and its kernels would hold desktops."""
    left = [pid for pid in _recorded_pids(folder) if _alive(pid)]
    if not left:
        return
    for pid in left:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in left) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in left:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    raise RuntimeError(f"JupyterHub left processes {left} running (now ended); see {log_path}")


def _recorded_pids(folder: Path) -> list[int]:
    """The proxy's pid (its pid file, removed when the hub stops it) and the single-user
    servers' (the local-process spawner's state in the hub's database, cleared likewise)."""
    pids = []
    pid_file = folder / "jupyterhub-proxy.pid"
    if pid_file.exists():
        pids.append(int(pid_file.read_text().strip() or 0))
    database = folder / "jupyterhub.sqlite"
    if database.exists():
        with closing(sqlite3.connect(database)) as db:
            states = db.execute("SELECT state FROM spawners").fetchall()
        pids.extend(int(json.loads(state or "{}").get("pid") or 0) for (state,) in states)
    return [pid for pid in pids if pid > 0]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
