"""Where the Jupyter route relays a desktop's traffic, found from nothing but a job id.

Nothing in a browser's request names a host or a port (the desktop proxy's first rule, see
docs/security.md). The job id leads to this user's own desktop job in Slurm (`squeue --me`:
another user's job is simply not there), which must be running; the job's session file (0600,
written by the job on its node) gives the port, the certificate to pin and the secret; the host
is the job's node as Slurm knows it (NodeAddr), and a job that recorded an address must have
recorded that one. Answers are kept a few seconds, so a page that loads forty files asks Slurm
once; a desktop that ended is refused as soon as its answer expires, and its web server is gone
before that anyway.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from dataclasses import dataclass, field, replace

from ..access.tunnel import HeldTunnel, TunnelError
from ..transport.base import Transport, TransportError
from .session_file import SessionFileError, SessionPaths, parse_session_file
from .slurm import SlurmBackend, SlurmError, parse_job_comment

# How long an answer is kept: a page load's burst of requests and WebSocket reconnects cost one
# squeue; an ended job is refused at most this long after it ended (its web server is gone).
KEEP_SECONDS = 10.0
_JOB_ID = re.compile(r"[0-9]{1,12}")


class DesktopNotFound(Exception):
    """No running, ready desktop of this user has that job id (the proxy answers 404)."""


class UpstreamUnavailable(Exception):
    """The desktop may exist but cannot be reached or confirmed now (the proxy answers 502)."""


@dataclass(frozen=True)
class Upstream:
    """A confirmed desktop web server: where it listens, the certificate it must present, and
    the secret the proxy adds for engines that take it server-side (novnc's websockify token)."""

    job_id: str
    engine: str
    host: str
    port: int
    cert: str = field(repr=False)
    session_id: str = ""
    secret: str = field(default="", repr=False)

    @property
    def origin(self) -> str:
        """scheme://host:port, the host bracketed when it is an IPv6 address."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"


def confirmed_host(recorded: str, node_address: str) -> str:
    """The address to connect to: the node's, as Slurm knows it. A job that recorded an IP
    address (novnc binds exactly one) must have recorded one of the node's; a host name (dcv
    records the node's name) is not trusted as an address at all."""
    try:
        recorded_ip = ipaddress.ip_address(recorded)
    except ValueError:
        return node_address
    if str(recorded_ip) in _addresses_of(node_address):
        return str(recorded_ip)
    raise UpstreamUnavailable(
        f"the desktop's session file names {recorded_ip}, which is not an address of its node "
        f"({node_address}); end this desktop and launch a new one"
    )


def _addresses_of(host: str) -> set[str]:
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        raise UpstreamUnavailable(f"cannot resolve the desktop's node {host!r}: {exc}") from exc


class Upstreams:
    """This user's desktops as the proxy reaches them, by job id; thread-safe and blocking (the
    server calls it from worker threads). Over the SSH transport each desktop gets a held
    tunnel, so the proxy's connections go through the kept SSH connection's forwarding."""

    def __init__(self, transport: Transport, *, keep_seconds: float = KEEP_SECONDS) -> None:
        self.transport = transport
        self.slurm = SlurmBackend(transport)
        self.keep_seconds = keep_seconds
        self._paths: SessionPaths | None = None
        self._known: dict[str, tuple[float, Upstream]] = {}
        self._tunnels: dict[str, HeldTunnel] = {}
        self._lock = threading.Lock()  # guards _known and _tunnels
        self._finding: dict[str, threading.Lock] = {}  # one lookup per job at a time

    def find(self, job_id: str) -> Upstream:
        """The desktop of `job_id`, confirmed at most `keep_seconds` ago."""
        if not _JOB_ID.fullmatch(job_id):
            raise DesktopNotFound(f"{job_id[:40]!r} is not a Slurm job id")
        with self._lock:
            finding = self._finding.setdefault(job_id, threading.Lock())
        with finding:
            with self._lock:
                kept = self._known.get(job_id)
            if kept and time.monotonic() - kept[0] < self.keep_seconds:
                return kept[1]
            try:
                upstream = self._reachable(self._confirm(job_id))
            except DesktopNotFound:
                self.forget(job_id)
                raise
            with self._lock:
                self._known[job_id] = (time.monotonic(), upstream)
            return upstream

    def forget(self, job_id: str) -> None:
        """Drop what is known of `job_id` and close its tunnel (the desktop ended)."""
        with self._lock:
            self._known.pop(job_id, None)
            tunnel = self._tunnels.pop(job_id, None)
        if tunnel is not None:
            tunnel.close()

    def close(self) -> None:
        with self._lock:
            jobs = list(self._known) + list(self._tunnels)
        for job_id in jobs:
            self.forget(job_id)

    def _confirm(self, job_id: str) -> Upstream:
        try:
            job = self.slurm.jobs().get(job_id)
        except SlurmError as exc:
            raise UpstreamUnavailable(f"Slurm did not answer ({exc}); try again shortly") from exc
        if job is None or parse_job_comment(job.comment) is None:
            raise DesktopNotFound(
                f"job {job_id} is not one of your desktops (an unknown job, another user's, or "
                "one that ended long ago); launch a desktop and connect from its card"
            )
        if job.state != "RUNNING":
            raise DesktopNotFound(
                f"desktop {job_id} is {job.state.lower()}, not running: connect once its card "
                "says Ready"
            )
        try:
            text = self.transport.read_text(self._session_paths().session_file(job_id))
            if text is None:
                raise DesktopNotFound(
                    f"desktop {job_id} is not ready yet (its job has not published it): "
                    "connect once its card says Ready"
                )
            recorded = parse_session_file(text)
            node_address = self.slurm.node_address(job.nodes)
        except (SessionFileError, SlurmError, OSError, TransportError) as exc:
            raise UpstreamUnavailable(f"desktop {job_id}: {exc}") from exc
        endpoint = recorded.endpoint
        if not endpoint.cert:
            raise UpstreamUnavailable(
                f"desktop {job_id} recorded no TLS certificate, so its stream cannot be relayed "
                "safely (a job of an older dcv_widget, or its node's web server certificate "
                "could not be read: see its log); end it and launch a new one"
            )
        return Upstream(
            job_id=job_id,
            engine=endpoint.engine,
            host=confirmed_host(endpoint.host, node_address),
            port=endpoint.port,
            cert=endpoint.cert,
            session_id=endpoint.session_id,
            secret=recorded.secret,
        )

    def _reachable(self, upstream: Upstream) -> Upstream:
        """`upstream` as this machine reaches it: through a held tunnel over SSH."""
        if not hasattr(self.transport, "open_forward"):
            return upstream
        with self._lock:
            tunnel = self._tunnels.get(upstream.job_id)
        if tunnel is None or (tunnel.host, tunnel.port) != (upstream.host, upstream.port):
            if tunnel is not None:
                tunnel.close()
            tunnel = HeldTunnel(self.transport, upstream.host, upstream.port)  # type: ignore[arg-type]
            try:
                tunnel.start()
            except TunnelError as exc:
                raise UpstreamUnavailable(str(exc)) from exc
            with self._lock:
                self._tunnels[upstream.job_id] = tunnel
        return replace(upstream, host="127.0.0.1", port=tunnel.local_port)

    def _session_paths(self) -> SessionPaths:
        if self._paths is None:
            self._paths = SessionPaths(self.transport.home())
        return self._paths
