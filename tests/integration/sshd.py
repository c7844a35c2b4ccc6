"""A real OpenSSH server on 127.0.0.1 for the tests and benchmarks of `SSHTransport`.

It runs as the current, unprivileged user with its own host key, one generated client key, and
a known_hosts and ssh_config for the client beside them. A non-root sshd can only log in its own
user: exactly the test user. Used by tests/integration/conftest.py and benchmarks/ssh_poll.py.
"""

from __future__ import annotations

import getpass
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcv_widget.transport.ssh import SSHTransport

SSHD = "/usr/sbin/sshd"
ALIAS = "dcv-loopback"
JUMP_ALIAS = "dcv-loopback-jump"

_CONFIG = """\
ListenAddress 127.0.0.1
Port {port}
HostKey {folder}/host_key
PidFile {folder}/sshd.pid
AuthorizedKeysFile {folder}/client_key.pub
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
Subsystem sftp internal-sftp
LogLevel VERBOSE
"""

_CLIENT_CONFIG = """\
Host {alias} {jump_alias}
    HostName 127.0.0.1
    Port {port}
    User {user}
    IdentityFile {folder}/client_key
    UserKnownHostsFile {folder}/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
Host {jump_alias}
    ProxyJump {alias}
"""


@dataclass
class SSHServer:
    """A running sshd and the client files that log in to it."""

    folder: Path
    port: int
    user: str
    process: subprocess.Popen[bytes]

    @property
    def client_key(self) -> Path:
        return self.folder / "client_key"

    @property
    def known_hosts(self) -> Path:
        """Lists this server's host key; tests of unknown hosts use another file."""
        return self.folder / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        """Defines the aliases `ALIAS` (this server) and `JUMP_ALIAS` (it, through itself)."""
        return self.folder / "ssh_config"

    @property
    def log(self) -> Path:
        return self.folder / "sshd.log"

    def transport(self, **options: Any) -> SSHTransport:
        """An SSHTransport to this server by explicit arguments, not ~/.ssh/config."""
        settings: dict[str, Any] = {
            "port": self.port,
            "user": self.user,
            "key_filename": str(self.client_key),
            "known_hosts": str(self.known_hosts),
            "ssh_config": None,
            **options,
        }
        return SSHTransport("127.0.0.1", **settings)

    def connections(self) -> int:
        """How many SSH logins the server has accepted so far."""
        return self.log.read_text().count("Accepted publickey for")

    def session_pids(self) -> list[int]:
        """The per-connection processes sshd forked; killing one drops that connection."""
        return [int(pid) for pid in re.findall(r"User child is on pid (\d+)", self.log.read_text())]


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dcv-widget-test", "-f", str(path)],
        check=True,
    )


@contextmanager
def running_sshd(
    folder: Path, *, env: dict[str, str] | None = None, start_timeout: float = 15
) -> Iterator[SSHServer]:
    """Start sshd in `folder` (an empty, private folder) and stop it afterwards; `env` is set
    in every session it starts (sshd_config's SetEnv; values without spaces)."""
    if not os.access(SSHD, os.X_OK):
        raise RuntimeError(f"{SSHD} is missing: install openssh-server (scripts/setup-system.sh)")
    port = _free_port()
    user = getpass.getuser()
    _keygen(folder / "host_key")
    _keygen(folder / "client_key")
    host_key = (folder / "host_key.pub").read_text().split()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    settings = " ".join(f"{name}={value}" for name, value in (env or {}).items())
    (folder / "sshd_config").write_text(
        _CONFIG.format(port=port, folder=folder) + (f"SetEnv {settings}\n" if settings else "")
    )
    (folder / "ssh_config").write_text(
        _CLIENT_CONFIG.format(
            alias=ALIAS, jump_alias=JUMP_ALIAS, port=port, user=user, folder=folder
        )
    )
    log = folder / "sshd.log"
    process = subprocess.Popen(
        [SSHD, "-D", "-f", str(folder / "sshd_config"), "-E", str(log)],
        stdin=subprocess.DEVNULL,
    )
    server = SSHServer(folder, port, user, process)
    try:
        deadline = time.monotonic() + start_timeout
        while "Server listening" not in (log.read_text() if log.exists() else ""):
            if process.poll() is not None or time.monotonic() > deadline:
                text = log.read_text() if log.exists() else "(no log)"
                raise RuntimeError(f"sshd did not start on 127.0.0.1:{port}:\n{text}")
            time.sleep(0.05)
        yield server
    finally:
        # Per-connection children outlive the listener: end those still its children (a pid
        # from the log may since belong to another process).
        for pid in server.session_pids():
            if _parent(pid) == process.pid:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        process.terminate()
        process.wait(timeout=10)
