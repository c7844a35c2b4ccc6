"""What runs on the compute node: each engine renders a job script and builds a connect URL."""

from __future__ import annotations

from typing import Protocol

from ...access.endpoint import Endpoint
from ..display import DisplayChoice
from ..request import LaunchRequest
from .dcv import DCVEngine
from .novnc import NoVNCEngine


class Engine(Protocol):
    name: str
    # Whether the desktop proxy adds the secret to upstream requests itself (novnc's websockify
    # token), so the browser on the Jupyter route never holds it.
    proxy_adds_token: bool

    def job_script(self, request: LaunchRequest, *, launch_id: str) -> str: ...

    # `display`: how the browser chose to show the desktop (noVNC's; None: the engine's own).
    def connect_url(
        self, endpoint: Endpoint, secret: str, display: DisplayChoice | None = None
    ) -> str: ...

    def proxied_page(
        self, prefix: str, session_id: str, secret: str, display: DisplayChoice | None = None
    ) -> str: ...


ENGINES: dict[str, Engine] = {"novnc": NoVNCEngine(), "dcv": DCVEngine()}
