"""Finds this user's running Jupyter server that relays desktops, for `dcv-desktop connect`
in a terminal: the jupyter route's URL is that server's, and only it can open the desktop."""

from __future__ import annotations

import json
import os
import urllib.request
from urllib.parse import urljoin

from . import forwarding

# A server listed in the runtime folder may be long gone (killed, its file left behind).
ASK_TIMEOUT = 2.0


def desktop_server_url() -> str:
    """The URL (ending in "/") of a running Jupyter server of this user whose dcv_widget
    extension answers, as its user's browser reaches it; "" when there is none."""
    from jupyter_server.serverapp import list_running_servers

    for server in list_running_servers():
        url = str(server.get("url", ""))
        if url and _relays_desktops(url, str(server.get("token", ""))):
            return _browser_url(url)
    return ""


def _relays_desktops(url: str, token: str) -> bool:
    if not url.startswith(("http://", "https://")):  # a runtime file names only these
        return False
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        urljoin(url, "dcv-widget/api/info"), headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=ASK_TIMEOUT) as reply:  # noqa: S310
            return json.load(reply).get("proxy") == forwarding.PROXY_ROOT  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return False


def _browser_url(url: str) -> str:
    """Behind JupyterHub the server's own address is internal: the hub's public URL and the
    server's prefix are what a browser opens (when the hub tells its servers its public URL)."""
    public, prefix = (
        os.environ.get("JUPYTERHUB_PUBLIC_URL"),
        os.environ.get("JUPYTERHUB_SERVICE_PREFIX"),
    )
    if public and prefix:
        return urljoin(public, prefix)
    return url if url.endswith("/") else url + "/"
