"""How commands reach the cluster: an argv list in, text out.

Every layer above talks to a `Transport`, so the same Slurm backend works on the head node
(`LocalTransport`) and from anywhere else over SSH (`SSHTransport`). A transport never takes a
shell string: callers hand it an argv list. Locally it is passed to the OS as is; over SSH,
`remote_command` is the one place it becomes a command line, every item quoted.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import select
import shlex
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import paramiko

T = TypeVar("T")


@dataclass(frozen=True)
class CommandResult:
    """What a finished command said."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class TransportError(Exception):
    """The command could not be run at all (not found, timed out, host unreachable)."""


class Transport(Protocol):
    """Runs argv lists and reads small files as the desktop's owner."""

    def run(
        self,
        argv: list[str],
        *,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> CommandResult:
        """Run `argv` with extra `env` variables, feeding `stdin` (never part of argv, so
        secrets and scripts stay out of `ps`)."""
        ...

    def read_text(self, path: str) -> str | None:
        """The file's text, or None when it does not exist."""
        ...

    def remove(self, path: str) -> None:
        """Delete a file; a missing file is not an error."""
        ...

    def home(self) -> str:
        """The user's home directory on the cluster side."""
        ...

    def make_private_dir(self, path: str) -> None:
        """Create the folder `path` (its parent must exist) with mode 0700; idempotent."""
        ...


def _decode(output: bytes) -> str:
    """Command output as text, the same way for every transport (UTF-8, newlines untouched)."""
    return output.decode("utf-8", errors="replace")


class LocalTransport:
    """Runs commands on this machine as the current user: JupyterLab on the head node."""

    def run(
        self,
        argv: list[str],
        *,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> CommandResult:
        try:
            # Bytes, decoded as SSHTransport does: text=True would turn a "\r" into "\n".
            done = subprocess.run(
                argv,
                input=stdin.encode() if stdin is not None else None,
                env={**os.environ, **env} if env else None,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise TransportError(
                f"{argv[0]!r} was not found on PATH; is this a Slurm head node with the Slurm "
                "client commands installed?"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise TransportError(f"{argv[0]} did not answer within {timeout:g} s") from exc
        return CommandResult(
            tuple(argv), done.returncode, _decode(done.stdout), _decode(done.stderr)
        )

    def read_text(self, path: str) -> str | None:
        try:
            return _decode(Path(path).read_bytes())
        except FileNotFoundError:
            return None

    def remove(self, path: str) -> None:
        Path(path).unlink(missing_ok=True)

    def home(self) -> str:
        return os.path.expanduser("~")

    def make_private_dir(self, path: str) -> None:
        Path(path).mkdir(mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)


# -- over SSH -------------------------------------------------------------------------------------

_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_CHUNK = 32768


def remote_command(argv: list[str]) -> str:
    """The command line that makes a POSIX login shell (sh, bash, dash, zsh) on the far side run
    exactly `argv`: every item goes through `shlex.quote`, so the shell splits the line back into
    the same items and expands nothing in them. The one place dcv_widget builds a command string.
    """
    if not argv:
        raise ValueError("an empty argv names no program to run")
    for index, item in enumerate(argv):
        if "\0" in item:
            raise ValueError(
                f"argument {index} of {argv[0]!r} contains a NUL byte, which no command line "
                "can carry; remove it"
            )
        try:
            item.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"argument {index} of {argv[0]!r} is not valid text (it holds a lone surrogate)"
            ) from None
    return " ".join(shlex.quote(item) for item in argv)


def _with_env(argv: list[str], env: dict[str, str] | None) -> list[str]:
    """`argv` prefixed with `env NAME=VALUE ...`: sshd passes no variables of ours (AcceptEnv)."""
    if not env:
        return argv
    for name in env:
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(
                f"environment variable name {name!r}: use A-Z, 0-9 and '_', not starting with "
                "a digit"
            )
    if argv and "=" in argv[0]:
        raise ValueError(f"program name {argv[0]!r} contains '=', which env would take for a value")
    return ["env", *(f"{name}={value}" for name, value in env.items()), *argv]


@dataclass(frozen=True)
class _Target:
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


def _resolve(
    host: str,
    user: str | None,
    port: int | None,
    key_filename: str | None,
    ssh_config: str | None,
    known_hosts: str | None,
) -> _Target:
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
    return _Target(
        alias=host,
        hostname=hostname,
        port=port,
        user=user or str(found.get("user") or getpass.getuser()),
        key_files=keys,
        proxy_command=proxy,
        known_hosts=user_files,
    )


class _HostKeyPolicy:
    """paramiko's policy for a host key that no known_hosts file lists: refuse, naming the key,
    unless the user opted in, in which case the key is recorded like `ssh` would."""

    def __init__(self, target: _Target, trust: bool) -> None:
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


def _connect_error(target: _Target, exc: Exception) -> TransportError:
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


def _exchange(channel: Any, data: bytes, deadline: float) -> tuple[bytes, bytes]:
    """Feed `data` to a started command and collect its stdout and stderr until it has exited,
    interleaved so neither side can block the other; raises TimeoutError at `deadline`."""
    out, err = bytearray(), bytearray()
    readable = channel.fileno()  # readable while stdout or stderr has data, and after EOF
    if not data:
        channel.shutdown_write()
    while True:
        while channel.recv_ready():
            out += channel.recv(_CHUNK)
        while channel.recv_stderr_ready():
            err += channel.recv_stderr(_CHUNK)
        if channel.exit_status_ready() and (channel.eof_received or channel.closed):
            if not (channel.recv_ready() or channel.recv_stderr_ready()):
                return bytes(out), bytes(err)
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if data and channel.send_ready():
            try:
                sent = channel.send(data[:_CHUNK])
            except OSError:  # the command exited without reading all of its stdin
                sent = len(data)
            data = data[sent:]
            if not data:
                channel.shutdown_write()
        elif channel.eof_received:
            channel.status_event.wait(remaining)  # output is complete; wait for the exit status
        else:
            select.select([readable], [], [], min(remaining, 0.01 if data else remaining))


class SSHTransport:
    """Runs commands as you on a cluster's head node over SSH: JupyterLab anywhere else.

    One connection is kept and shared by every command (each on a new channel of it) and by
    file access (one kept SFTP session), so a poll costs a round trip, not a handshake. After a
    drop it reconnects before sending, but a command whose connection died while it ran is never
    re-run: its outcome is unknown (an sbatch may have submitted), so that raises TransportError.

    `host` may be an alias of ~/.ssh/config (HostName, User, Port, IdentityFile, ProxyCommand,
    ProxyJump, UserKnownHostsFile are honoured); explicit arguments win over it. Host keys are
    checked against /etc/ssh/ssh_known_hosts and the user's known_hosts; an unknown key is
    refused unless `trust_unknown_host=True`, which records it. The remote login shell must be a
    POSIX shell (sh, bash, dash, zsh): that is what `remote_command` quotes for.
    """

    SYSTEM_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
    SFTP_TIMEOUT = 30.0  # seconds for one file operation: a session file is small

    def __init__(
        self,
        host: str,
        *,
        user: str | None = None,
        port: int | None = None,
        key_filename: str | None = None,
        trust_unknown_host: bool = False,
        ssh_config: str | None = "~/.ssh/config",
        known_hosts: str | None = None,
        connect_timeout: float = 15,
    ) -> None:
        self.target = _resolve(host, user, port, key_filename, ssh_config, known_hosts)
        self.trust_unknown_host = trust_unknown_host
        self.connect_timeout = connect_timeout
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.RLock()  # guards the connection; session channels open under it
        self._forward_lock = threading.Lock()  # forward channels open under this one instead
        self._sftp_lock = threading.Lock()  # one SFTP request at a time on the kept session

    def __repr__(self) -> str:
        return f"SSHTransport({self.target})"

    def __enter__(self) -> SSHTransport:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the kept connection; a later call connects again."""
        with self._lock:
            self._drop()

    # -- the connection --------------------------------------------------------------------------

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None
        self._sftp = None

    def _connected(self) -> Any:
        """The kept paramiko Transport, connecting first when there is none or it dropped.
        Called with `_lock` held."""
        if self._client is not None:
            transport = self._client.get_transport()
            if transport is not None and transport.is_active():
                return transport
            self._drop()
        self._client = self._connect()
        return self._client.get_transport()

    def _connect(self) -> paramiko.SSHClient:
        import paramiko

        target = self.target
        client = paramiko.SSHClient()
        for path in (self.SYSTEM_KNOWN_HOSTS, *target.known_hosts):
            if os.path.exists(path):
                client.load_system_host_keys(path)
        client.set_missing_host_key_policy(_HostKeyPolicy(target, self.trust_unknown_host))
        try:
            sock = paramiko.ProxyCommand(target.proxy_command) if target.proxy_command else None
            client.connect(
                target.hostname,
                port=target.port,
                username=target.user,
                key_filename=list(target.key_files) or None,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                channel_timeout=self.connect_timeout,  # opening a channel (SFTP's too)
                sock=sock,
            )
        except TransportError:
            client.close()
            raise
        except Exception as exc:
            client.close()
            raise _connect_error(target, exc) from exc
        transport = client.get_transport()
        transport.set_keepalive(30)  # notice a silently dead link between polls
        if isinstance(transport.sock, socket.socket):
            # Each command is a few small packets; Nagle's algorithm would hold one back for the
            # peer's delayed ACK, adding ~40 ms to every poll.
            transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client

    def _open_channel(self, timeout: float) -> Any:
        """A new session channel on the kept connection."""
        return self._reopening(
            lambda transport, wait: transport.open_session(timeout=wait),
            timeout,
            serial=self._lock,
            refused=lambda exc: TransportError(
                f"sshd on {self.target.hostname} refused a new session ({exc}); too many "
                "at once? (MaxSessions in its sshd_config)"
            ),
        )

    def open_forward(self, host: str, port: int, timeout: float = 15) -> Any:
        """A "direct-tcpip" channel (what `ssh -L` uses) to `host:port` as the SSH server reaches
        it, on the kept connection: how a held tunnel reaches a compute node's desktop port."""
        import paramiko

        where = f"{host}:{port}"

        def refused(exc: Any) -> TransportError:
            if exc.code == paramiko.common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED:
                why = (
                    "the head node's sshd does not allow forwarding (AllowTcpForwarding no or "
                    "PermitOpen in its sshd_config); ask your admin or use the ssh route"
                )
            else:
                why = "the desktop may have ended, or is not listening yet"
            return TransportError(
                f"sshd on {self.target.hostname} refused to forward to {where} ({exc.text}): {why}"
            )

        def slow(wait: float) -> TransportError:
            return TransportError(
                f"sshd on {self.target.hostname} could not reach {where} within {wait:g} s: is "
                "the node up and its desktop port open to the head node?"
            )

        return self._reopening(
            lambda transport, wait: transport.open_channel(
                "direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=wait
            ),
            timeout,
            serial=self._forward_lock,
            refused=refused,
            slow=slow,
        )

    def _reopening(
        self,
        opening: Callable[[Any, float], Any],
        timeout: float,
        *,
        serial: Any,
        refused: Callable[[Any], TransportError],
        slow: Callable[[float], TransportError] | None = None,
    ) -> Any:
        """`opening(transport, wait)`: a new channel on the kept connection. Opening one sends no
        command and no data, so when the connection turns out dead here it is safe to reconnect
        and open again, once. Opens holding the same `serial` lock run one at a time: paramiko
        keeps one "last open failure" per connection, so two failing at once could lose a
        reason, and a lost one reads as a dropped connection. Forwards hold their own lock, so
        a forward to a node that is down holds up no command. With `slow`, running out of time
        on a connection that is still up raises slow(wait) instead of reconnecting: the far
        side is slow, not the connection, and dropping it would cut everything else on it."""
        import paramiko

        wait = min(timeout, self.connect_timeout)
        with serial:
            for attempt in (1, 2):
                with self._lock:
                    transport = self._connected()
                started = time.monotonic()
                try:
                    return opening(transport, wait)
                except paramiko.ChannelException as exc:
                    raise refused(exc) from exc
                except (paramiko.SSHException, EOFError, OSError) as exc:
                    late = time.monotonic() - started >= wait
                    if slow is not None and late and transport.is_active():
                        raise slow(wait) from exc
                    with self._lock:
                        if self._client is not None and self._client.get_transport() is transport:
                            self._drop()  # unless another thread already reconnected
                    if attempt == 2:
                        raise TransportError(
                            f"the SSH connection to {self.target} keeps dropping: {exc}"
                        ) from exc
        raise AssertionError("unreachable")

    # -- the Transport protocol ------------------------------------------------------------------

    def run(
        self,
        argv: list[str],
        *,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> CommandResult:
        import paramiko

        command = remote_command(_with_env(argv, env))
        deadline = time.monotonic() + timeout
        channel = self._open_channel(timeout)
        try:
            try:
                channel.exec_command(command)
                out, err = _exchange(channel, stdin.encode() if stdin else b"", deadline)
            except TimeoutError:
                raise TransportError(
                    f"{argv[0]} did not answer within {timeout:g} s on {self.target.hostname}"
                ) from None
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise self._lost(argv, channel) from exc
            if channel.exit_status == -1:  # closed without an exit status
                raise self._lost(argv, channel)
        finally:
            channel.close()
        return CommandResult(tuple(argv), channel.exit_status, _decode(out), _decode(err))

    def _lost(self, argv: list[str], channel: Any) -> TransportError:
        """The outcome of `argv` is unknown: say why, and that it was not re-run."""
        transport = channel.get_transport()
        if transport is not None and transport.is_active():
            what = f"{argv[0]} ended on {self.target.hostname} without an exit status (killed?)"
        else:
            what = f"the SSH connection to {self.target.hostname} dropped while {argv[0]} ran"
        return TransportError(f"{what}; whether it took effect is unknown, so it was not re-run")

    def read_text(self, path: str) -> str | None:
        def read(sftp: Any) -> str | None:
            try:
                with sftp.open(path, "r") as file:
                    return _decode(bytes(file.read()))
            except FileNotFoundError:
                return None

        return self._with_sftp(f"reading {path}", read)

    def remove(self, path: str) -> None:
        def remove(sftp: Any) -> None:
            with contextlib.suppress(FileNotFoundError):
                sftp.remove(path)

        self._with_sftp(f"removing {path}", remove)

    def home(self) -> str:
        return self._with_sftp("finding the home folder", lambda sftp: str(sftp.normalize(".")))

    def make_private_dir(self, path: str) -> None:
        def make(sftp: Any) -> None:
            try:
                sftp.mkdir(path, 0o700)
            except OSError:
                # SFTP says only "Failure" for an existing path; stat tells (and raises
                # FileNotFoundError when the parent is missing).
                if not stat.S_ISDIR(sftp.stat(path).st_mode):
                    raise FileExistsError(f"{path} exists and is not a folder") from None
            sftp.chmod(path, 0o700)  # the server's umask may have narrowed mkdir's mode

        self._with_sftp(f"creating {path}", make)

    def _with_sftp(self, doing: str, action: Callable[[Any], T]) -> T:
        """`action(sftp)` on the kept SFTP session. Every action here is safe to repeat (read,
        remove-if-present, mkdir-if-absent), so after a dropped connection it runs once more."""
        import paramiko

        with self._sftp_lock:
            for attempt in (1, 2):
                sftp = self._sftp_session()
                try:
                    return action(sftp)
                except TimeoutError:
                    with self._lock:
                        sftp.close()  # a late answer would be taken for the next request's
                        self._sftp = None
                    raise TransportError(
                        f"{self.target.hostname} did not answer within {self.SFTP_TIMEOUT:g} s "
                        f"while {doing}"
                    ) from None
                except (paramiko.SSHException, EOFError, OSError) as exc:
                    dropped = not isinstance(exc, OSError) or sftp.get_channel().closed
                    if not dropped:
                        raise  # a file error (permission denied, ...), as LocalTransport raises
                    with self._lock:
                        self._sftp = None
                    if attempt == 2:
                        raise TransportError(
                            f"the SSH connection to {self.target} dropped while {doing}: {exc}"
                        ) from exc
        raise AssertionError("unreachable")

    def _sftp_session(self) -> Any:
        """The kept SFTP session, opened (and the connection made) when needed."""
        import paramiko

        with self._lock:
            if self._sftp is not None and not self._sftp.get_channel().closed:
                return self._sftp
            transport = self._connected()
            try:
                self._sftp = paramiko.SFTPClient.from_transport(transport)
                self._sftp.get_channel().settimeout(self.SFTP_TIMEOUT)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                self._drop()
                raise TransportError(
                    f"could not open SFTP on {self.target}: {exc}. The host's sshd must offer "
                    "the sftp subsystem (Subsystem sftp in sshd_config)"
                ) from exc
            return self._sftp
