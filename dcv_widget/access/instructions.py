"""How the browser reaches a desktop: what the card shows for each route. Pure: no I/O here
(routes.py does the lookups and holds tunnels, then builds its card text with these).

- `jupyter`: the browser opens the desktop through the Jupyter server's own URL; its server
  extension (dcv_widget/server/) relays it. Nothing to run, no port opened.
- `direct`: the browser opens the node (its public IP on EC2, else Slurm's NodeAddr).
- `ssh`: the user runs an SSH tunnel through the head node on their computer; Connect opens
  127.0.0.1.
- `ssm`: the user runs AWS SSM port forwarding to the node's instance (no inbound rule at all).
- `ssm-head`: SSM port forwarding through the head node's instance to the node's private IP,
  for nodes without the SSM agent.
- `tunnel`: the widget forwards a local port through its own SSH connection to the head node.

Every local forward binds, and every URL names, 127.0.0.1 (`LOOPBACK`), never `localhost`:
where `localhost` resolves to ::1 first, another user of the same computer who bound
[::1]:<port> (free while only the IPv4 address is taken) would get the request, and the secret
in its URL.

Nothing here carries a secret: the card is synced to the browser and saved in the notebook.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from dataclasses import dataclass

__all__ = [
    "DEFAULT_SSM_DOCUMENT",
    "DEFAULT_SSM_REMOTE_DOCUMENT",
    "JUPYTER_ROUTE_ENV",
    "LOOPBACK",
    "ROUTES",
    "Access",
    "Command",
    "check_document_name",
    "ssm_argv",
    "ssm_commands",
]

ROUTES = ("jupyter", "direct", "ssh", "ssm", "ssm-head", "tunnel")
# Set by the Jupyter server extension (dcv_widget/server/) for the kernels and terminals of its
# server, to that server's base URL: the `jupyter` route works there, and is the default.
JUPYTER_ROUTE_ENV = "DCV_WIDGET_JUPYTER_BASE_URL"
LOOPBACK = "127.0.0.1"  # what local forwards bind and Connect URLs name: one address family
DEFAULT_SSM_DOCUMENT = "AWS-StartPortForwardingSession"
DEFAULT_SSM_REMOTE_DOCUMENT = "AWS-StartPortForwardingSessionToRemoteHost"

LABELS = {
    "jupyter": "Through JupyterLab",
    "direct": "Direct connection",
    "ssh": "SSH tunnel",
    "ssm": "AWS SSM port forwarding",
    "ssm-head": "AWS SSM through the head node",
    "tunnel": "Tunnel held by this notebook",
}
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}|[0-9A-Fa-f:.]{2,45}")
_DESTINATION = re.compile(r"([A-Za-z0-9._][A-Za-z0-9._-]{0,31}@)?[A-Za-z0-9][A-Za-z0-9._-]{0,252}")
_INSTANCE_ID = re.compile(r"(mi|i)-[0-9a-f]{8,17}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
_DOCUMENT = re.compile(r"[a-zA-Z0-9_\-.:/]{3,128}")  # a name, or the ARN of a shared one


@dataclass(frozen=True)
class Command:
    """One command to copy, as typed in one shell."""

    shell: str
    text: str


@dataclass(frozen=True)
class Access:
    """What a person needs to know (and run) before Connect works on this route.

    `pending`: still being worked out (an AWS lookup); Connect is not offered yet. `problem`: a
    prerequisite is missing, said with what to do; no URL is shown, and Connect looks again.
    """

    route: str
    label: str
    pending: bool = False
    problem: str = ""
    instructions: str = ""
    commands: tuple[Command, ...] = ()
    then: str = ""
    # The jupyter route: where Connect goes, relative to JupyterLab's base URL (no secret: the
    # Jupyter server finds the desktop from the job id and adds what the desktop needs).
    open_path: str = ""

    @property
    def usable(self) -> bool:
        return not self.pending and not self.problem


def pending(route: str) -> Access:
    return Access(route, LABELS[route], pending=True)


def problem(route: str, text: str) -> Access:
    return Access(route, LABELS[route], problem=text)


def through_jupyter(job_id: str) -> Access:
    """The desktop through this Jupyter server's own URL: nothing to run, no port opened."""
    if not job_id.isdigit():
        raise ValueError(f"{job_id!r} is not a Slurm job id")
    return Access(
        "jupyter",
        LABELS["jupyter"],
        instructions="JupyterLab's server relays the desktop (the dcv_widget server extension "
        "runs there): no port to open, nothing to run on your computer.",
        then="Connect opens the desktop in a JupyterLab tab; ↗ opens it in a browser tab.",
        open_path=f"dcv-widget/open/{job_id}",
    )


def direct(host: str, port: int) -> Access:
    return Access("direct", LABELS["direct"], then=f"Connect opens the desktop at {host}:{port}.")


def ssh_tunnel(
    node: str, port: int, local_port: int, destination: str, ssh_port: int = 22
) -> Access:
    """`destination` is user@host or an ssh config alias; every part is checked first: the
    command is pasted into a shell by the user."""
    if not _HOST.fullmatch(node):
        raise ValueError(f"{node!r} is not a host name or address")
    if not _DESTINATION.fullmatch(destination):
        raise ValueError(f"{destination!r} is not a user@host or ssh alias")
    target = f"[{node}]" if ":" in node else node  # an IPv6 address, bracketed for -L
    # The bind address is explicit: ssh's default (loopback in both families, going on when
    # one is taken) could leave [::1]:<port> to another user of the same computer. And ssh
    # exits if it cannot bind, rather than run while someone else holds 127.0.0.1:<port>.
    argv = ["ssh", "-N", "-L", f"{LOOPBACK}:{local_port}:{target}:{port}"]
    argv += ["-o", "ExitOnForwardFailure=yes"]
    argv += ["-p", str(ssh_port)] if ssh_port != 22 else []
    return Access(
        "ssh",
        LABELS["ssh"],
        instructions="The desktop's node is not reachable from your browser. On your own "
        "computer, run this and leave it running:",
        commands=(Command("ssh", shlex.join([*argv, destination])),),
        then=_then_local(local_port),
    )


def ssm_forward(
    instance_id: str,
    region: str,
    port: int,
    local_port: int,
    *,
    remote_host: str = "",
    document: str = "",
) -> Access:
    """The SSM route to the node's own instance, or through `instance_id` (the head node) to
    `remote_host` (the node's private IP). `document`: the site's session document (settings
    ssm_document / ssm_remote_document); empty: AWS's."""
    route = "ssm-head" if remote_host else "ssm"
    how = "through the head node's SSM agent" if remote_host else "to the node's instance"
    return Access(
        route,
        LABELS[route],
        instructions=f"No inbound port is needed: AWS Session Manager forwards a port {how}. "
        "On your computer (AWS CLI v2 with the Session Manager plugin, credentials allowed to "
        "start sessions), run this and leave it running:",
        commands=ssm_commands(
            ssm_argv(instance_id, region, port, local_port, remote_host, document=document)
        ),
        then=_then_local(local_port),
    )


def held_tunnel(node: str, port: int, local_port: int) -> Access:
    return Access(
        "tunnel",
        LABELS["tunnel"],
        instructions=f"This notebook forwards {LOOPBACK}:{local_port} to {node}:{port} through "
        "its SSH connection while the desktop runs; nothing to run yourself.",
        then=_then_local(local_port),
    )


def _then_local(local_port: int) -> str:
    return f"Then click Connect: it opens {LOOPBACK}:{local_port}."


def ssm_argv(
    instance_id: str,
    region: str,
    port: int,
    local_port: int,
    remote_host: str = "",
    *,
    document: str = "",
) -> list[str]:
    """`aws ssm start-session` for port forwarding, as an argv list (--parameters last).
    Every value is checked first: the command is pasted into a shell by the user.

    Only the through-the-head-node document takes `host`: AWS's to-the-node document has no
    such parameter, and the site's own (docs/access-routes.md) fixes it to 127.0.0.1."""
    if not _INSTANCE_ID.fullmatch(instance_id):
        raise ValueError(f"{instance_id!r} is not an EC2 instance id")
    if not _REGION.fullmatch(region):
        raise ValueError(f"{region!r} is not an AWS region name")
    if remote_host:
        ipaddress.ip_address(remote_host)  # raises ValueError naming the value
    parameters: dict[str, list[str]] = {}
    if remote_host:
        parameters["host"] = [remote_host]
    parameters["portNumber"] = [str(port)]
    parameters["localPortNumber"] = [str(local_port)]
    default = DEFAULT_SSM_REMOTE_DOCUMENT if remote_host else DEFAULT_SSM_DOCUMENT
    document = check_document_name(document or default)
    return [
        "aws", "ssm", "start-session", "--target", instance_id, "--document-name", document,
        "--region", region, "--parameters", json.dumps(parameters, separators=(",", ":")),
    ]  # fmt: skip


def check_document_name(name: str, field: str = "document") -> str:
    """`name` if it is an SSM document's name or ARN, else a ValueError naming `field`."""
    if not _DOCUMENT.fullmatch(name):
        raise ValueError(
            f"{field}: {name!r} is not an SSM document name; use 3-128 letters, digits and "
            "_ - . : / (a name such as DcvWidget-PortForwardToNode, or a shared document's ARN)"
        )
    return name


def ssm_commands(argv: list[str]) -> tuple[Command, ...]:
    """The same argv as typed in bash/zsh, PowerShell and cmd, so its JSON survives each.

    PowerShell 7.3+ hands a '…' literal to aws.exe intact. Windows PowerShell 5.1 strips the
    JSON's inner quotes whatever the quoting (and `--%` is not reliable across versions), so
    its users take the cmd line, run in cmd.exe (docs/access-routes.md).
    """
    words = " ".join(argv[:-1])  # all but the JSON, which is the last item
    value = argv[-1]
    return (
        Command("bash / zsh", shlex.join(argv)),
        Command("PowerShell 7.3+", f"{words} '{value.replace(chr(39), chr(39) * 2)}'"),
        Command("cmd", f"{words} {_windows_quote(value)}"),
    )


def _windows_quote(item: str) -> str:
    """Quoted for the Windows C runtime's argv rules: "…" with each " written \\" (the values
    here never hold a backslash, which would need doubling before a quote)."""
    if '"' not in item and " " not in item:
        return item
    if "\\" in item:
        raise ValueError(f"cannot quote {item!r} for Windows")
    return '"' + item.replace('"', '\\"') + '"'
