"""A held tunnel: with JupyterLab on a laptop, the browser reaches a compute node's desktop
through the kept SSH connection to the head node. Each connection to 127.0.0.1:<local_port>
gets its own "direct-tcpip" channel, opened when it arrives, so after the SSH connection
dropped the next one simply reconnects."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import threading
import time
from typing import Any, Protocol

log = logging.getLogger(__name__)

_CHUNK = 65536
_POLL = 0.2  # how soon the accept thread sees close(); accept() cannot be woken portably


class TunnelError(Exception):
    """The tunnel cannot start; the message says what went wrong and what to do."""


class ForwardOpener(Protocol):
    def open_forward(self, host: str, port: int, timeout: float = 15) -> Any:
        """A connected, socket-like channel to host:port (SSHTransport.open_forward)."""
        ...


class HeldTunnel:
    """Forwards 127.0.0.1:<local_port> on this machine to host:port through an SSH connection."""

    def __init__(self, opener: ForwardOpener, host: str, port: int, *, local_port: int = 0) -> None:
        self.opener, self.host, self.port = opener, host, port
        self._port = local_port
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        # Guards _closed and _live, and orders each close and half-close of a channel: paramiko
        # sends a half-close's EOF outside its own lock, and an EOF after our CLOSE makes sshd
        # drop the whole SSH connection ("ieof packet referred to nonexistent channel").
        self._lock = threading.Lock()
        self._closed = False
        self._live: set[Any] = set()  # client sockets and channels that close() must close

    @property
    def local_port(self) -> int:
        return self._port

    def start(self) -> int:
        """Listen on 127.0.0.1 only (the port must not be offered to the network, even though
        the desktop's URL carries a token) and serve in a daemon thread; returns the port.

        [::1] with the same port stays free for anyone on this computer: the URLs that lead
        here must name 127.0.0.1, never "localhost" (routes.py does)."""
        if self._closed or self._listener is not None:
            raise RuntimeError("a HeldTunnel starts once")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if os.name == "posix":
            # Only lets this port be bound again while connections of a closed tunnel linger
            # in TIME_WAIT (else reopening it fails for a minute); a second listener on the
            # same address is still refused. On Windows it would allow exactly that sharing.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        elif hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        try:
            listener.bind(("127.0.0.1", self._port))
            listener.listen()
        except OSError as exc:
            listener.close()
            if exc.errno in (errno.EADDRINUSE, 10048):  # 10048: WSAEADDRINUSE
                raise TunnelError(
                    f"port {self._port} is in use on this computer (another program or "
                    "tunnel); free it or set c.DesktopSettings.local_port_base to another port"
                ) from None
            raise TunnelError(f"cannot listen on 127.0.0.1:{self._port}: {exc}") from exc
        listener.settimeout(_POLL)
        self._listener, self._port = listener, int(listener.getsockname()[1])
        self._accepting = self._thread(self._accept, "accept")
        return self._port

    def close(self) -> None:
        """Stop listening and cut every forwarded connection; idempotent. When it returns, the
        port refuses connections."""
        with self._lock:
            self._closed = True
            for end in self._live:
                _close(end)
            self._live.clear()
        if self._accepting is not None and self._accepting is not threading.current_thread():
            self._accepting.join()  # it closes the listener: no accept() still holds it

    def _thread(self, target: Any, what: str, *args: Any) -> threading.Thread:
        name = f"dcv-widget-tunnel-{self._port}-{what}"
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        return thread

    def _keep(self, end: Any) -> bool:
        """Track `end` for close(); False (and `end` closed) when the tunnel closed already."""
        with self._lock:
            if not self._closed:
                self._live.add(end)
                return True
        _close(end)
        return False

    def _accept(self) -> None:
        assert self._listener is not None
        with self._listener:
            while not self._closed:
                try:
                    client, _ = self._listener.accept()
                except TimeoutError:
                    continue
                except OSError as exc:  # out of file descriptors, ...: wait, then go on
                    log.warning("tunnel on port %d: accept failed: %s", self._port, exc)
                    time.sleep(_POLL)
                    continue
                if self._keep(client):
                    self._thread(self._serve, "conn", client)

    def _serve(self, client: socket.socket) -> None:
        """One connection: its own channel, then a thread per direction (neither side's pause
        stalls the other)."""
        try:
            channel = self.opener.open_forward(self.host, self.port)
        except Exception as exc:  # never kill the tunnel: this connection just fails
            log.warning("tunnel on port %d to %s:%d: %s", self._port, self.host, self.port, exc)
            self._forget(client)
            return
        if self._keep(channel):
            self._thread(self._upstream, "up", client, channel)
            self._pump(channel, client)  # the desktop closed (or failed): the connection is over
            self._forget(client, channel)

    def _upstream(self, client: socket.socket, channel: Any) -> None:
        if not self._pump(client, channel):  # the browser went away: end the desktop's side
            self._forget(client, channel)

    def _pump(self, source: Any, sink: Any) -> bool:
        """Copy `source` to `sink` until it ends; True when it ended with an end-of-file, which
        is passed on as a half-close (a request sent, the answer still to come)."""
        try:
            while data := source.recv(_CHUNK):
                sink.sendall(data)
            with self._lock:
                sink.shutdown(socket.SHUT_WR)  # nothing once closed: paramiko sent its EOF
        except Exception:  # a socket or channel error: either end is gone
            return False
        return True

    def _forget(self, *ends: Any) -> None:
        with self._lock:
            self._live.difference_update(ends)
            for end in ends:
                _close(end)


def _close(end: Any) -> None:
    """Close a socket or channel. A socket's shutdown() wakes a thread blocked in its recv(); a
    channel's close() does that itself, and its shutdown() could race the remote's CLOSE."""
    if isinstance(end, socket.socket):
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        end.close()
