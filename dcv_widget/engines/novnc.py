"""The `novnc` engine: TigerVNC + websockify + noVNC, the desktop any Debian node can run.

The VNC password travels to the browser only in the URL fragment (`#password=`), which browsers
never send to a server, so it cannot land in an access log or a proxy.
"""

from __future__ import annotations

from urllib.parse import quote

from ..request import LaunchRequest
from ..session_file import Endpoint
from .script import render_job_script


class NoVNCEngine:
    name = "novnc"

    def job_script(self, request: LaunchRequest, *, launch_id: str) -> str:
        """The batch script for this desktop (see `render_job_script` for `launch_id`)."""
        return render_job_script(
            self.name, "novnc_job.sh", launch_id=launch_id, GEOMETRY=request.geometry
        )

    def connect_url(self, endpoint: Endpoint, secret: str) -> str:
        """The noVNC page on the node, connecting by itself with the password in the fragment."""
        fragment = "autoconnect=1&resize=remote&reconnect=1&path=websockify&password=" + quote(
            secret, safe=""
        )
        return f"http://{endpoint.host}:{endpoint.port}/vnc.html#{fragment}"
