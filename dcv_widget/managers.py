"""The managers built from the site's settings: the kernel's shared desktop manager (one poll
loop per kernel, whatever the number of widgets) and the EC2 instances' managers.

Here, not beside the managers, because the settings sit above the layers they configure.
"""

from __future__ import annotations

import hashlib
import os
import threading

from .access.aws import Aws
from .access.routes import RouteOptions
from .desktops.manager import SessionManager
from .instances.ec2 import Ec2Backend
from .instances.manager import InstancesManager
from .settings import DesktopSettings, InstanceSettings, load_settings
from .transport.base import Transport
from .transport.local import LocalTransport
from .transport.ssh import SSHTransport

_default: SessionManager | None = None
_default_lock = threading.Lock()


def notebook_origin() -> str:
    """A short hash of the notebook this kernel runs (jupyter_server tells kernels their
    notebook's path in JPY_SESSION_NAME); empty outside a notebook."""
    path = os.environ.get("JPY_SESSION_NAME", "")
    return hashlib.sha256(path.encode()).hexdigest()[:12] if path else ""


def transport_for(settings: DesktopSettings) -> Transport:
    """How commands reach the cluster, as the settings say: here, or over SSH (ssh_host)."""
    if settings.ssh_host:
        return SSHTransport(settings.ssh_host, trust_unknown_host=settings.ssh_trust_unknown_host)
    return LocalTransport()


def session_manager(settings: DesktopSettings, *, origin: str = "") -> SessionManager:
    """A manager as the settings say: local or over SSH, with their poll intervals."""
    return SessionManager(
        transport_for(settings),
        fast_poll=settings.fast_poll,
        slow_poll=settings.slow_poll,
        startup_timeout=settings.startup_timeout,
        origin=origin,
        max_desktops=settings.max_desktops,
        routes=RouteOptions(
            head_node=settings.head_node,
            head_node_instance_id=settings.head_node_instance_id,
            aws_region=settings.aws_region,
            aws_profile=settings.aws_profile,
            local_port_base=settings.local_port_base,
            ssm_document=settings.ssm_document,
            ssm_remote_document=settings.ssm_remote_document,
        ),
    )


def default_manager() -> SessionManager:
    """The kernel's shared manager: every widget in a kernel shares one poll loop."""
    global _default
    with _default_lock:
        if _default is None:
            _default = session_manager(load_settings(), origin=notebook_origin())
        return _default


def instances_manager(settings: InstanceSettings, owner: str) -> InstancesManager:
    """A manager as the settings say (region, profile, tags, route, poll intervals)."""
    aws = Aws(
        profile=settings.profile,
        region=settings.region,
        profile_setting="c.InstanceSettings.profile",
        region_setting="c.InstanceSettings.region",
    )
    project = (settings.project_tag, settings.project_value) if settings.project_tag else None
    # The region is found on the first call: a panel shows what is missing, never a traceback.
    backend = Ec2Backend(aws, "", owner=owner, owner_tag=settings.owner_tag, project=project)
    return InstancesManager(
        backend,
        access=settings.access,
        ssm_document=settings.ssm_document,
        local_port_base=settings.local_port_base,
        fast_poll=settings.fast_poll,
        slow_poll=settings.slow_poll,
    )
