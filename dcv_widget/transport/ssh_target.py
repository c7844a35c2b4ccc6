"""Where and how an SSH connection logs in: ~/.ssh/config merged with the caller's arguments
(as `ssh host` sees them, ProxyJump included), the known-hosts policy, and connection failures
said in words with what to do."""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .base import TransportError
from .quoting import remote_command

if TYPE_CHECKING:
    import paramiko


@dataclass(frozen=True)
class Target:
    """Where and how to log in, after ~/.ssh/config and the caller's arguments are merged."""

    alias: str
    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...]
    proxy_command: str | None
    known_hosts: tuple[str, ...]  # the user's files; the first one records trusted keys

    def __str__(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"


def resolve_target(
    host: str,
    user: str | None,
    port: int | None,
    key_filename: str | None,
    ssh_config: str | None,
    known_hosts: str | None,
) -> Target:
    """Merge the caller's arguments over ~/.ssh/config, as `ssh host` would see them."""
    import paramiko

    found: dict[str, Any] = {}
    config_path = os.path.expanduser(ssh_config) if ssh_config else None
    if config_path and os.path.exists(config_path):
        found = dict(paramiko.SSHConfig.from_path(config_path).lookup(host))
    hostname = str(found.get("hostname", host))
    port = port or int(found.get("port", 22))
    if key_filename:
        if not os.path.exists(os.path.expanduser(key_filename)):
            raise TransportError(f"the SSH key file {key_filename} does not exist")
        keys: tuple[str, ...] = (os.path.expanduser(key_filename),)
    else:
        # Like ssh, skip IdentityFile entries that do not exist (the defaults often do not).
        keys = tuple(f for f in found.get("identityfile", []) if os.path.exists(f))
    proxy = found.get("proxycommand")
    jump = found.get("proxyjump")
    if not proxy and jump and jump.lower() != "none":
        # What OpenSSH itself does for ProxyJump: `ssh -W host:port` through the jump host(s).
        *first, last = jump.split(",")
        proxy_argv = ["ssh", "-o", "BatchMode=yes"]
        if config_path and os.path.exists(config_path):
            proxy_argv += ["-F", config_path]
        if first:
            proxy_argv += ["-J", ",".join(first)]
        proxy = remote_command([*proxy_argv, "-W", f"[{hostname}]:{port}", "--", last])
    if known_hosts:
        user_files: tuple[str, ...] = (os.path.expanduser(known_hosts),)
    else:
        user_files = tuple(
            os.path.expanduser(f)
            for f in str(found.get("userknownhostsfile", "~/.ssh/known_hosts")).split()
        )
    return Target(
        alias=host,
        hostname=hostname,
        port=port,
        user=user or str(found.get("user") or getpass.getuser()),
        key_files=keys,
        proxy_command=proxy,
        known_hosts=user_files,
    )


class HostKeyPolicy:
    """paramiko's policy for a host key that no known_hosts file lists: refuse, naming the key,
    unless the user opted in, in which case the key is recorded like `ssh` would."""

    def __init__(self, target: Target, trust: bool) -> None:
        self.target = target
        self.trust = trust

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        what = f"{key.get_name()} key {key.fingerprint}"
        record_in = self.target.known_hosts[0]
        if not self.trust:
            raise TransportError(
                f"{hostname} is not a known SSH host (its {what} is in no known_hosts file). "
                "Check that fingerprint with your cluster admin, then log in once by hand "
                f"(ssh -p {self.target.port} {self.target.user}@{self.target.hostname}) and accept "
                f"it, or pass trust_unknown_host=True to record it in {record_in}"
            )
        os.makedirs(os.path.dirname(record_in) or ".", mode=0o700, exist_ok=True)
        fd = os.open(record_in, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as file:
            file.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(hostname, key.get_name(), key)


def connect_error(target: Target, exc: Exception) -> TransportError:
    """A paramiko or socket failure to connect, as a TransportError that says what to do."""
    import paramiko

    if isinstance(exc, paramiko.BadHostKeyException):
        return TransportError(
            f"the SSH host key of {target.hostname} has CHANGED (now {exc.key.fingerprint}): "
            "either the host was reinstalled or someone is intercepting the connection. Ask "
            f"your cluster admin; if it was reinstalled, run ssh-keygen -R {target.hostname}"
        )
    if isinstance(exc, paramiko.PasswordRequiredException):
        return TransportError(
            f"the SSH key for {target} is protected by a passphrase: load it into ssh-agent "
            "(ssh-add) and try again"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return TransportError(
            f"could not log in as {target}: no key was accepted. `ssh {target.alias}` must work "
            "without a password: put your public key in ~/.ssh/authorized_keys there, or name "
            "the key with key_filename= or IdentityFile in ~/.ssh/config"
        )
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return TransportError(
            f"{target.hostname} refused the SSH connection on port {target.port}: is that the "
            "right host and port, and is sshd running there?"
        )
    if isinstance(exc, socket.gaierror):
        return TransportError(f"cannot resolve the host name {target.hostname!r}: check it")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return TransportError(
            f"{target.hostname}:{target.port} did not answer in time: check the network or VPN"
        )
    via = f" through {target.proxy_command!r}" if target.proxy_command else ""
    return TransportError(f"could not connect to {target}{via}: {exc}")
