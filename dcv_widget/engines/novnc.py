"""The `novnc` engine: TigerVNC + websockify + noVNC, the desktop any Debian node can run.

The VNC password travels to the browser only in the URL fragment (`#password=`), which browsers
never send to a server, so it cannot land in an access log or a proxy.
"""

from __future__ import annotations

from importlib.resources import files
from urllib.parse import quote

from ..request import LaunchRequest
from ..session_file import Endpoint


class NoVNCEngine:
    name = "novnc"

    def job_script(self, request: LaunchRequest) -> str:
        """The batch script for this desktop; only validated values are substituted."""
        template = files(__package__).joinpath("novnc_job.sh").read_text()
        return template.replace("@GEOMETRY@", request.geometry)

    def connect_url(self, endpoint: Endpoint, secret: str) -> str:
        """The noVNC page on the node, connecting by itself with the password in the fragment."""
        fragment = "autoconnect=1&resize=remote&reconnect=1&path=websockify&password=" + quote(
            secret, safe=""
        )
        return f"http://{endpoint.host}:{endpoint.port}/vnc.html#{fragment}"
