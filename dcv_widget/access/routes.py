"""Works out, for each ready desktop, how the browser reaches it, and holds the tunnels.

`prepare` does the I/O a route needs (AWS lookups, binding a local port) once per desktop, on
the manager's action threads, and keeps the result: the card's instructions (`instructions.py`) and
the endpoint Connect opens. A missing prerequisite becomes the card's problem, said with what
to do; preparing again (a Connect click) retries it.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import ipaddress
import logging
import os
import re
import socket
import threading
from dataclasses import dataclass, replace
from typing import Any

from ..transport.base import TransportError
from . import instructions as access
from .aws import Aws, AwsError, Instance, instance_metadata
from .endpoint import Endpoint
from .instructions import Access
from .tunnel import HeldTunnel, TunnelError

log = logging.getLogger(__name__)

LOCAL_PORT_BASE = 18443
TUNNEL_PORT_TRIES = 10


class RouteProblem(Exception):
    """A route's prerequisite is missing; the message says which and what to do."""


@dataclass(frozen=True)
class RouteOptions:
    """The settings the routes use (`DesktopSettings` of the same names)."""

    head_node: str = ""
    head_node_instance_id: str = ""
    aws_region: str = ""
    aws_profile: str = ""
    local_port_base: int = LOCAL_PORT_BASE
    ssm_document: str = access.DEFAULT_SSM_DOCUMENT
    ssm_remote_document: str = access.DEFAULT_SSM_REMOTE_DOCUMENT


@dataclass(frozen=True)
class _Prepared:
    endpoint: Endpoint  # the desktop's, as the manager knows it
    access: Access
    browser: Endpoint | None = None  # where Connect points; None while there is a problem
    tunnel: HeldTunnel | None = None

    @property
    def local_port(self) -> int:
        """The local port this route uses (0: none)."""
        browser = self.browser
        return browser.port if browser is not None and browser.host == access.LOOPBACK else 0


class Routes:
    """The access routes of one manager's desktops, by session key."""

    def __init__(
        self, transport: Any, options: RouteOptions | None = None, aws: Aws | None = None
    ) -> None:
        self.transport = transport
        self.options = options or RouteOptions()
        self.aws = aws or Aws(profile=self.options.aws_profile, region=self.options.aws_region)
        self._prepared: dict[str, _Prepared] = {}
        self._lock = threading.Lock()  # guards _prepared
        self._preparing = threading.Lock()  # one preparation at a time: lookups, port choice

    def access(self, key: str) -> Access | None:
        with self._lock:
            prepared = self._prepared.get(key)
        return prepared.access if prepared else None

    def browser_endpoint(self, key: str) -> Endpoint | None:
        with self._lock:
            prepared = self._prepared.get(key)
        return prepared.browser if prepared else None

    def prepare(self, key: str, route: str, endpoint: Endpoint, job_id: str) -> Access:
        """The route's access for this desktop, worked out now unless already done (a problem
        found earlier is looked at again)."""
        with self._preparing:
            with self._lock:
                known = self._prepared.get(key)
            if known and known.endpoint == endpoint and known.access.usable:
                return known.access
            self.close(key)
            try:
                prepared = self._resolve(route, endpoint, job_id, self._local_port(key, job_id))
            except (RouteProblem, AwsError, TunnelError, TransportError, ValueError) as exc:
                prepared = _Prepared(endpoint, access.problem(route, str(exc)))
            except Exception as exc:  # never leave the card "finding how to reach…" for good
                log.exception("working out the %s route failed", route)
                prepared = _Prepared(
                    endpoint,
                    access.problem(
                        route,
                        f"unexpected {type(exc).__name__} while working out this route (see the "
                        "kernel's log); click Connect to try again",
                    ),
                )
            with self._lock:
                self._prepared[key] = prepared
            return prepared.access

    def close(self, key: str, endpoint: Endpoint | None = None) -> None:
        """Forget the desktop's route and close its tunnel, if any; with `endpoint`, only the
        route prepared for that endpoint (not a newer one)."""
        with self._lock:
            prepared = self._prepared.get(key)
            if prepared is None or (endpoint is not None and prepared.endpoint != endpoint):
                return
            del self._prepared[key]
        if prepared.tunnel:
            prepared.tunnel.close()

    def _local_port(self, key: str, job_id: str) -> int:
        """`local_port_base + job id % 1000`: stable across kernel restarts (a tunnel the user
        started still fits); the next one up when another desktop here has it already."""
        with self._lock:
            taken = {p.local_port for k, p in self._prepared.items() if k != key}
        port = self.options.local_port_base + _job_number(job_id) % 1000
        while port in taken:
            port += 1
        return port

    def close_all(self) -> None:
        with self._lock:
            keys = list(self._prepared)
        for key in keys:
            self.close(key)

    # -- the routes ---------------------------------------------------------------------------

    def _resolve(self, route: str, endpoint: Endpoint, job_id: str, local: int) -> _Prepared:
        port = endpoint.port
        if route == "jupyter":
            if not jupyter_route_base():
                raise RouteProblem(
                    "this notebook's Jupyter server does not relay desktops (the dcv_widget "
                    "server extension is not enabled there); ask your admin to run `jupyter "
                    "server extension enable dcv_widget` and restart JupyterLab, or launch with "
                    "another access route"
                )
            return _Prepared(endpoint, access.through_jupyter(job_id), endpoint)
        if route == "direct":
            if endpoint.instance_id and not endpoint.public_ip:
                raise RouteProblem(
                    f"the desktop's node ({endpoint.instance_id}) has no public IP, so a browser "
                    "outside its VPC cannot reach it; launch with access='ssm' or 'ssh'"
                )
            host = endpoint.public_ip or endpoint.host
            return _Prepared(endpoint, access.direct(host, port), replace(endpoint, host=host))
        if route == "tunnel":
            tunnel = self._hold_tunnel(endpoint, local)
            shown = access.held_tunnel(endpoint.host, port, tunnel.local_port)
            at_local = replace(endpoint, host=access.LOOPBACK, port=tunnel.local_port)
            return _Prepared(endpoint, shown, at_local, tunnel)
        if route == "ssh":
            shown = access.ssh_tunnel(endpoint.host, port, local, *self._ssh_destination())
        elif route == "ssm":
            node = self._node_instance(endpoint)
            self._check_agent(node, "the node", "use access='ssm-head' (through the head node)")
            shown = access.ssm_forward(
                node.instance_id, node.region, port, local, document=self.options.ssm_document
            )
        elif route == "ssm-head":
            head = self._head_instance()
            self._check_agent(head, "the head node", "use access='ssh'")
            shown = access.ssm_forward(
                head.instance_id,
                head.region,
                port,
                local,
                remote_host=_private_ip(endpoint),
                document=self.options.ssm_remote_document,
            )
        else:
            raise RouteProblem(f"unknown access route {route!r}")
        # The URL names the address the forward binds (never "localhost": see instructions.py).
        return _Prepared(endpoint, shown, replace(endpoint, host=access.LOOPBACK, port=local))

    def _hold_tunnel(self, endpoint: Endpoint, first_port: int) -> HeldTunnel:
        if not hasattr(self.transport, "open_forward"):
            raise RouteProblem(
                "the tunnel route forwards a port through this notebook's SSH connection to the "
                "cluster, and there is none; set c.DesktopSettings.ssh_host (JupyterLab on your "
                "computer), or on the head node itself use access='direct' or 'ssh'"
            )
        for port in range(first_port, first_port + TUNNEL_PORT_TRIES - 1):
            tunnel = HeldTunnel(self.transport, endpoint.host, endpoint.port, local_port=port)
            with contextlib.suppress(TunnelError):  # in use: try the next port
                tunnel.start()
                return tunnel
        last = HeldTunnel(self.transport, endpoint.host, endpoint.port, local_port=port + 1)
        last.start()  # its TunnelError names the port and what to do
        return last

    def _ssh_destination(self) -> tuple[str, int]:
        """Where the user's `ssh -L` goes, and its port: the head_node setting; else, when
        JupyterLab reaches the cluster over SSH from the user's computer, the same ssh_host
        (an alias of their ~/.ssh/config keeps its User, Port and ProxyJump); else this host."""
        target = getattr(self.transport, "target", None)
        user = target.user if target is not None else getpass.getuser()
        if self.options.head_node:
            return f"{user}@{self.options.head_node}", 22
        if target is None:
            return f"{user}@{this_host()}", 22
        if target.alias != target.hostname:
            return target.alias, 22
        return f"{user}@{target.hostname}", target.port

    def _node_instance(self, endpoint: Endpoint) -> Instance:
        """The node's instance: recorded by the job from its metadata, else looked up."""
        if endpoint.instance_id and endpoint.region:
            return Instance(endpoint.instance_id, endpoint.region)
        region = self.aws.region(endpoint.region)
        return self.aws.instance_by_ip(_private_ip(endpoint), region)

    def _head_instance(self) -> Instance:
        """The head node's instance: the setting, this machine's metadata when JupyterLab runs
        on the head node, else the instance the SSH connection reaches."""
        if self.options.head_node_instance_id:
            return Instance(self.options.head_node_instance_id, self.aws.region())
        target = getattr(self.transport, "target", None)
        if target is None:
            found = instance_metadata(("instance-id", "placement/region"))
            if not found.get("instance-id"):
                raise RouteProblem(
                    "the head node's instance id is unknown (this machine has no EC2 instance "
                    "metadata); set c.DesktopSettings.head_node_instance_id"
                )
            return Instance(found["instance-id"], self.aws.region(found["placement/region"]))
        address = _ipv4(target.hostname)
        private = ipaddress.ip_address(address).is_private
        return self.aws.instance_by_ip(address, self.aws.region(), public=not private)

    def _check_agent(self, instance: Instance, what: str, otherwise: str) -> None:
        """Refuse a route whose SSM agent is known to be offline; an unknown status (no right
        to ask, or SSM not answering) lets the command through."""
        try:
            status = self.aws.ssm_ping_status(instance.instance_id, instance.region)
        except AwsError as exc:
            log.info("could not check the SSM agent of %s: %s", instance.instance_id, exc)
            return
        problem = agent_problem(status, f"{what} ({instance.instance_id})", otherwise)
        if problem:
            raise RouteProblem(problem)


def agent_problem(status: str, what: str, otherwise: str) -> str:
    """What is wrong with an SSM agent of this PingStatus ("" registered but never seen), or ""
    when it is online."""
    if status == "Online":
        return ""
    state = f"is {status}" if status else "is not registered with Systems Manager"
    return (
        f"the SSM agent of {what} {state}, so no session can start; {otherwise}, or ask your "
        "admin to run amazon-ssm-agent with the AmazonSSMManagedInstanceCore policy "
        "(docs/access-routes.md)"
    )


def _job_number(job_id: str) -> int:
    return int(re.sub(r"\D", "", job_id) or 0)


def _private_ip(endpoint: Endpoint) -> str:
    return endpoint.private_ip or _ipv4(endpoint.host)


def _ipv4(host: str) -> str:
    try:
        return socket.gethostbyname(host)
    except OSError as exc:
        raise RouteProblem(f"cannot resolve {host!r} to an address: {exc}") from exc


def jupyter_route_base() -> str:
    """The base URL of the Jupyter server that started this process when that server relays
    desktops (its extension sets JUPYTER_ROUTE_ENV for its kernels and terminals); else ""."""
    return os.environ.get(access.JUPYTER_ROUTE_ENV, "")


@functools.cache
def this_host() -> str:
    """This machine's name as users know it (getfqdn() says "localhost" on some set-ups)."""
    fqdn = socket.getfqdn()
    return socket.gethostname() if fqdn.startswith("localhost") else fqdn
