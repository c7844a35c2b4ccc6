"""The `dcv` engine: a NICE DCV virtual session, opened with a one-desktop token.

The job (dcv_job.sh) creates the session `dcvw-<job id>-<random suffix>` (unguessable, so no one
can take the name first) and a random token that the node's verifier (dcv_widget/node/verifier.py)
accepts for that session's owner only; both are recorded in the session file. DCV takes the token in
the URL's query (`?authToken=`) and the session in its fragment: DCV's own convention, which its
web client reads. The token is as private as the session file it comes from: shown only on
Connect, useless for any other desktop, and void once the job ends.
"""

from __future__ import annotations

from urllib.parse import quote

from ...access.endpoint import Endpoint
from ..display import DisplayChoice
from ..request import LaunchRequest
from .script import IdleWatch, render_job_script


class DCVEngine:
    """`idle_grace` and `poll_seconds`: see `IdleWatch` (a look every 30 s at the clients DCV
    reports)."""

    name = "dcv"
    proxy_adds_token = False  # DCV's web client sends the token itself, from its page's URL

    def __init__(self, *, idle_grace: int = 120, poll_seconds: int = 30) -> None:
        self.watch = IdleWatch(idle_grace, poll_seconds)

    def job_script(self, request: LaunchRequest, *, launch_id: str) -> str:
        """The batch script for this desktop (see `render_job_script` for `launch_id`); the
        session starts at `request.geometry` (`dcv set-display-layout`), which the web client
        changes when it fits the window."""
        return render_job_script(
            self.name,
            "dcv_job.sh",
            launch_id=launch_id,
            GEOMETRY=request.geometry,
            **self.watch.values(request),
        )

    def connect_url(
        self, endpoint: Endpoint, secret: str, display: DisplayChoice | None = None
    ) -> str:
        """DCV's web client on the node, authenticating with the token, opening the session the
        job recorded (its name is random, so it comes from the session file, never the job id).
        `display` is noVNC's: DCV's web client has its own display settings (README)."""
        token = quote(secret, safe="")
        session = quote(endpoint.session_id, safe="")
        return f"https://{endpoint.host}:{endpoint.port}/?authToken={token}#{session}"

    def proxied_page(
        self, prefix: str, session_id: str, secret: str, display: DisplayChoice | None = None
    ) -> str:
        """DCV's web client under the desktop proxy's `prefix` (a URL path ending in "/"),
        with the token and session as on the node itself (`display`: see `connect_url`)."""
        return f"{prefix}?authToken={quote(secret, safe='')}#{quote(session_id, safe='')}"
