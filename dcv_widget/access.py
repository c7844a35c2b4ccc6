"""How the browser reaches a desktop: the route's URL endpoint and what the user must run first.

- `direct`: the browser opens the node's address (Slurm's NodeAddr) itself: the node's port is
  reachable from where the browser runs (a security group open on 8443, a campus network).
- `ssh`: the node is private; the user runs an SSH tunnel through the head node on their own
  computer, then the browser opens localhost.

Instructions never carry a secret: they are synced to the browser and saved in the notebook.
"""

from __future__ import annotations

import functools
import getpass
import socket
from dataclasses import dataclass, replace

from .request import ROUTES
from .session_file import Endpoint

__all__ = ["ROUTES", "Access", "access_for", "browser_endpoint"]


@dataclass(frozen=True)
class Access:
    """What a person needs to do before Connect works on this route."""

    label: str
    instructions: str
    command: str
    then: str


def browser_endpoint(route: str, endpoint: Endpoint) -> Endpoint:
    """Where the browser connects: the node itself, or the local end of the user's tunnel."""
    if route == "ssh":
        return replace(endpoint, host="localhost")
    return endpoint


@functools.cache
def _this_host() -> str:
    """This machine's name as users know it (getfqdn() says "localhost" on some set-ups)."""
    fqdn = socket.getfqdn()
    return socket.gethostname() if fqdn.startswith("localhost") else fqdn


def access_for(
    route: str, endpoint: Endpoint, *, head_node: str = "", user: str = ""
) -> Access | None:
    """The route's instructions for a ready desktop, or None when Connect needs nothing first."""
    if route != "ssh":
        return None
    head = head_node or _this_host()
    login = user or getpass.getuser()
    port = endpoint.port
    return Access(
        label="SSH tunnel",
        instructions="The desktop's node is not reachable from your browser. On your own "
        "computer, run this and leave it running:",
        command=f"ssh -N -L {port}:{endpoint.host}:{port} {login}@{head}",
        then=f"then click Connect (it opens localhost:{port}).",
    )
