"""The `novnc` engine: TigerVNC + websockify + noVNC, the desktop any Debian node can run.

The VNC password travels to the browser only in the URL fragment (`#password=`), which browsers
never send to a server, so it cannot land in an access log or a proxy.
"""

from __future__ import annotations

import re
from importlib.resources import files
from urllib.parse import quote

from ..request import LaunchRequest
from ..session_file import Endpoint


class NoVNCEngine:
    name = "novnc"

    def job_script(self, request: LaunchRequest, *, launch_id: str) -> str:
        """The batch script for this desktop; only validated values are substituted.

        `launch_id` (hex) goes into the session file, so a file left by an earlier job with the
        same id (a killed job, a rebuilt cluster) is never taken for this desktop's.
        """
        if not re.fullmatch(r"[0-9a-f]{1,64}", launch_id):
            raise ValueError(f"launch_id: {launch_id!r} is not a hex id")
        template = files(__package__).joinpath("novnc_job.sh").read_text()
        return template.replace("@GEOMETRY@", request.geometry).replace("@LAUNCH_ID@", launch_id)

    def connect_url(self, endpoint: Endpoint, secret: str) -> str:
        """The noVNC page on the node, connecting by itself with the password in the fragment."""
        fragment = "autoconnect=1&resize=remote&reconnect=1&path=websockify&password=" + quote(
            secret, safe=""
        )
        return f"http://{endpoint.host}:{endpoint.port}/vnc.html#{fragment}"
