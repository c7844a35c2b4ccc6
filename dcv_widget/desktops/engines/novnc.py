"""The `novnc` engine: TigerVNC + websockify + noVNC, the desktop any Debian node can run.

The session file's secret is the desktop's websockify token (192 random bits): websockify lets
a WebSocket through to the VNC server only with it, so another user on the node or the network
cannot reach VNC's own (8-character, DES) password check at all, nor lock the owner out with
failed logins. The VNC password is derived from the token (`vnc_password`), so one secret
opens the desktop. Both travel to the browser only in the URL fragment, which browsers never
send to a server: noVNC reads the WebSocket path (`websockify?token=…`) and the password from it.

websockify serves TLS only, with a self-signed certificate the job makes for the address it
listens on and records in the session file (`cert`): the Jupyter server's proxy pins it, and a
browser that connects directly is asked once to accept it (docs/access-routes.md).
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import quote

from ...access.endpoint import Endpoint
from ..display import DisplayChoice
from ..request import LaunchRequest, time_limit_seconds
from .script import IdleWatch, render_job_script

# Keep in step with novnc_job.sh, which derives the password the same way.
_PASSWORD_SALT = b"dcv-widget vnc password:"
# The certificate outlives the job: at least this many days, else its time limit and a day more
# (an admin may extend a running job's limit; a pinned certificate that expires is refused).
_MIN_CERT_DAYS = 30


def vnc_password(token: str) -> str:
    """The desktop's VNC password: 8 characters (all VNC authentication uses) of a hash."""
    digest = hashlib.sha256(_PASSWORD_SALT + token.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:8]


class NoVNCEngine:
    """`idle_grace` and `poll_seconds`: see `IdleWatch` (a look every 5 s: counting viewers is
    one `ss`, and the desktop's end shows as soon as it did)."""

    name = "novnc"
    proxy_adds_token = True

    def __init__(self, *, idle_grace: int = 120, poll_seconds: int = 5) -> None:
        self.watch = IdleWatch(idle_grace, poll_seconds)

    def job_script(self, request: LaunchRequest, *, launch_id: str) -> str:
        """The batch script for this desktop (see `render_job_script` for `launch_id`).

        websockify listens on loopback only for the `ssm` route (the SSM agent on the node
        connects there); every other route reaches it at the node's address.
        """
        limit_days = -(-time_limit_seconds(request.time) // 86400)  # rounded up
        return render_job_script(
            self.name,
            "novnc_job.sh",
            launch_id=launch_id,
            GEOMETRY=request.geometry,
            LISTEN="loopback" if request.access == "ssm" else "node",
            CERT_DAYS=str(max(_MIN_CERT_DAYS, limit_days + 1)),
            **self.watch.values(request),
        )

    def connect_url(
        self, endpoint: Endpoint, secret: str, display: DisplayChoice | None = None
    ) -> str:
        """The noVNC page on the node over TLS, connecting by itself (WebSocket over TLS too:
        `encrypt=1`) with the token and the password, shown as `display` says."""
        fragment = _fragment(f"websockify?token={secret}", secret, display, "encrypt=1")
        return f"https://{endpoint.host}:{endpoint.port}/vnc.html#{fragment}"

    def proxied_page(
        self, prefix: str, session_id: str, secret: str, display: DisplayChoice | None = None
    ) -> str:
        """The noVNC page under the desktop proxy's `prefix` (a URL path ending in "/"): its
        WebSocket goes to the proxy, which adds websockify's token itself, so the browser
        holds only the VNC password (in the fragment). noVNC encrypts when the page is https."""
        websocket_path = prefix.lstrip("/") + "websockify"
        return f"{prefix}vnc.html#{_fragment(websocket_path, secret, display)}"


def _fragment(websocket_path: str, secret: str, display: DisplayChoice | None, *extra: str) -> str:
    """What noVNC's page reads from its fragment: connect at once to `websocket_path` (relative
    to the page's host) with the desktop's VNC password, shown as the browser chose (`display`);
    without a choice (the CLI, the API) the desktop is resized to the window, and quality and
    compression are what noVNC's own settings panel last kept in that browser."""
    shown = display.params() if display else ("resize=remote",)
    return "&".join(
        (
            "autoconnect=1",
            *extra,
            *shown,
            "reconnect=1",
            "path=" + quote(websocket_path, safe=""),
            "password=" + quote(vnc_password(secret), safe=""),
        )
    )
