"""Commands on the cluster's head node over one kept SSH connection (paramiko): JupyterLab
anywhere else. Files are read and written over the same connection's SFTP channel."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import stat
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import paramiko

from .base import CommandNotFound, CommandResult, TransportError, decode
from .quoting import remote_command, with_env
from .ssh_target import HostKeyPolicy, connect_error, resolve_target

T = TypeVar("T")


_CHUNK = 32768


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
        self.target = resolve_target(host, user, port, key_filename, ssh_config, known_hosts)
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
        client.set_missing_host_key_policy(HostKeyPolicy(target, self.trust_unknown_host))
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
            raise connect_error(target, exc) from exc
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

        command = remote_command(with_env(argv, env))
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
        if channel.exit_status == 127:  # the remote shell's (or env's) "command not found"
            raise CommandNotFound(
                f"{argv[0]!r} is not on the PATH of SSH logins to {self.target.hostname}",
                host=self.target.alias,
            )
        return CommandResult(tuple(argv), channel.exit_status, decode(out), decode(err))

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
                    return decode(bytes(file.read()))
            except FileNotFoundError:
                return None

        return self._with_sftp(f"reading {path}", read)

    def remove(self, path: str) -> None:
        def remove(sftp: Any) -> None:
            with contextlib.suppress(FileNotFoundError):
                sftp.remove(path)

        self._with_sftp(f"removing {path}", remove)

    def list_files(self, folder: str) -> dict[str, float]:
        def list_files(sftp: Any) -> dict[str, float]:
            try:
                return {a.filename: float(a.st_mtime or 0) for a in sftp.listdir_attr(folder)}
            except FileNotFoundError:
                return {}

        return self._with_sftp(f"listing {folder}", list_files)

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
