"""Loads the desktop proxy and the Desktops panel's REST API (rest.py) into a Jupyter server
(enabled on install by jupyter-config/jupyter_server_config.d/dcv_widget.json).

It also tells the kernels and terminals this server starts that the proxy runs
(`JUPYTER_ROUTE_ENV`, with the server's base URL): `DesktopSettings.access` then defaults to the
`jupyter` route, and `dcv-desktop connect` prints the proxied URL.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.utils import url_path_join
from tornado.httpclient import AsyncHTTPClient

from ..access.instructions import JUPYTER_ROUTE_ENV
from ..desktops.upstream import Upstreams
from ..managers import transport_for
from ..settings import load_settings
from . import forwarding, rest
from .panel import Desktops
from .relay import DesktopProxyHandler, InfoHandler, OpenDesktopHandler

HTTP_CONCURRENCY = 64


def _load_jupyter_server_extension(serverapp: Any) -> None:
    web_app = serverapp.web_app
    base_url = web_app.settings["base_url"]
    upstreams = Upstreams(transport_for(load_settings()))
    web_app.settings["dcv_widget_upstreams"] = upstreams
    # The panel's desktops: one SessionManager for the server, made on the API's first use.
    web_app.settings["dcv_widget_desktops"] = Desktops()
    # A client of its own: a desktop page loads ~40 files at once, and tornado's shared client
    # (other extensions use it too) runs 10 requests at a time.
    web_app.settings["dcv_widget_http"] = AsyncHTTPClient(
        force_instance=True, max_clients=HTTP_CONCURRENCY
    )
    web_app.add_handlers(
        ".*$",
        [
            (
                url_path_join(base_url, forwarding.PROXY_ROOT, r"([0-9]+)(/.*)?"),
                DesktopProxyHandler,
            ),
            (url_path_join(base_url, r"dcv-widget/open/([0-9]+)/?"), OpenDesktopHandler),
            (url_path_join(base_url, "dcv-widget/api/info"), InfoHandler),
            *[
                (url_path_join(base_url, rest.API_ROOT, pattern), handler)
                for pattern, handler in rest.HANDLERS
            ],
        ],
    )
    os.environ[JUPYTER_ROUTE_ENV] = base_url
    serverapp.log.info("dcv_widget: desktops are relayed under %s", forwarding.PROXY_ROOT)
