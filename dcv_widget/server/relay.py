"""The desktop proxy's handlers: HTTP and WebSocket relayed to a confirmed desktop, streamed.

Every request is Jupyter's to authenticate first (a WebSocket without a logged-in user gets
403 before anything else happens: jupyter-server-proxy's GHSA-w3vc-fx9p-wp4v), and Jupyter's
origin checks apply. Then the job id alone leads to the upstream (`Upstreams`), TLS to it is
pinned to the certificate its job recorded, and `forwarding` decides what crosses.

Responses stream through (tornado's client hands over each chunk as it arrives); request
bodies, small for a desktop's web client, are read whole first. tornado's client gives a POST
without a Content-Type the form type; desktop web clients always send one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import urlencode

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import httputil, web, websocket
from tornado.escape import xhtml_escape
from tornado.httpclient import HTTPClientError, HTTPRequest

from ..desktops.display import NAMES as DISPLAY_NAMES
from ..desktops.display import DisplayChoice
from ..desktops.engines import ENGINES
from ..desktops.request import InvalidRequest
from ..desktops.upstream import DesktopNotFound, Upstream, Upstreams, UpstreamUnavailable
from . import forwarding

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
# A desktop page's largest file (noVNC's, DCV's web client) arrives well within this.
REQUEST_TIMEOUT = 300.0
# Keep-alive pings to the desktop, below the idle timeouts of common proxies (60 s); the
# browser's leg has Jupyter's own (ws_ping_interval, 30 s by default).
PING_SECONDS = 25.0
# Frames as large as a 4K desktop's full update; tornado's default is 10 MiB.
MAX_MESSAGE = 64 * 1024 * 1024
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Jupyter counts every `*_last_activity` setting as activity (JupyterHub's idle culler reads it):
# someone in a desktop is using this server. Marked at most this often.
ACTIVITY_KEY = "dcv_widget_last_activity"
ACTIVITY_EVERY = 5.0
_CERT_MISMATCH = (
    "the desktop's TLS certificate is not the one its job recorded, so nothing was relayed "
    "(another program may be listening on its port); end this desktop and launch a new one"
)


class _DesktopHandler(JupyterHandler):
    """What the proxy's handlers share: the upstream of the job in the URL, or a clear error."""

    @property
    def upstreams(self) -> Upstreams:
        return cast(Upstreams, self.settings["dcv_widget_upstreams"])

    async def _upstream(self, job_id: str) -> Upstream:
        try:
            return await asyncio.get_running_loop().run_in_executor(
                None, self.upstreams.find, job_id
            )
        except DesktopNotFound as exc:
            raise web.HTTPError(404, str(exc).replace("%", "%%")) from None
        except UpstreamUnavailable as exc:
            raise web.HTTPError(502, str(exc).replace("%", "%%")) from None

    def _mark_activity(self) -> None:
        """Tell Jupyter (and JupyterHub's idle culler) that its user is in a desktop."""
        last = self.settings.get(ACTIVITY_KEY)
        now = datetime.now(timezone.utc)
        if last is None or (now - last).total_seconds() >= ACTIVITY_EVERY:
            self.settings[ACTIVITY_KEY] = now

    @property
    def content_security_policy(self) -> str:
        """Desktop pages open in a JupyterLab tab, an iframe of the same origin, which
        JupyterHub's default (`frame-ancestors 'none'`) would refuse; no other site may frame
        them."""
        return "frame-ancestors 'self'"

    def set_default_headers(self) -> None:
        super().set_default_headers()
        # Jupyter lets a site's configured CSP header win over `content_security_policy`.
        self.set_header("Content-Security-Policy", self.content_security_policy)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """The reason in words (Jupyter's 404 page would only say the page does not exist)."""
        exception = kwargs.get("exc_info", (None, None, None))[1]
        message = ""
        if isinstance(exception, web.HTTPError) and exception.log_message:
            message = exception.log_message % exception.args
        title = f"{status_code} {HTTPStatus(status_code).phrase}"
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body style='font-family: sans-serif; margin: 2em'><h1>Desktop: {title}</h1>"
            f"<p>{xhtml_escape(message or 'The request could not be served.')}</p></body></html>"
        )

    def _require_user(self, *, websocket_request: bool = False) -> bool:
        """True when someone is logged in; else a GET is sent to log in, anything else is 403."""
        if self.current_user is not None:
            return True
        if websocket_request or self.request.method not in ("GET", "HEAD"):
            raise web.HTTPError(403, "log in to JupyterLab first")
        self.redirect(self.get_login_url() + "?" + urlencode({"next": self.request.uri or "/"}))
        return False


class OpenDesktopHandler(_DesktopHandler):
    """`<base>dcv-widget/open/<job>`: where Connect points. Leads into the desktop's page under
    the proxy, with what its web client needs in the URL (novnc's VNC password in the page's
    fragment, which browsers never send anywhere; DCV's token in its query, as DCV expects).

    A small page that moves on by script, not a redirect: a redirect's `Location` is logged by
    some servers (JupyterHub's single-user server logs where each 302 leads, fragment and all).
    """

    async def get(self, job_id: str) -> None:
        if not self._require_user():
            return
        display = self._display()
        upstream = await self._upstream(job_id)
        prefix = forwarding.desktop_prefix(self.base_url, job_id)
        engine = ENGINES[upstream.engine]
        page = engine.proxied_page(prefix, upstream.session_id, upstream.secret, display)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        # json.dumps, then "<" escaped: the URL cannot end the script element.
        target = json.dumps(page).replace("<", "\\u003c")
        self.finish(
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>Desktop {job_id}</title></head><body style='font-family: sans-serif'>"
            f"<p>Opening desktop {job_id}…</p><script>location.replace({target});</script>"
            "</body></html>"
        )

    def _display(self) -> DisplayChoice | None:
        """How the browser chose to show the desktop (`?resize=scale&quality=2&compression=8`,
        js/src/display.ts; not a secret), or None when it chose nothing."""
        given = {name: self.get_query_argument(name, None) for name in DISPLAY_NAMES}
        if all(value is None for value in given.values()):
            return None
        try:
            return DisplayChoice.from_params(given)
        except InvalidRequest as exc:
            message = f"display {exc}; choose again under Display on the desktop's card"
            raise web.HTTPError(400, message.replace("%", "%%")) from None


class InfoHandler(_DesktopHandler):
    """`<base>dcv-widget/api/info`: tells a client (the CLI, a test) that the extension runs."""

    @web.authenticated
    def get(self) -> None:
        from .. import __version__

        self.finish({"version": __version__, "proxy": forwarding.PROXY_ROOT})


class DesktopProxyHandler(WebSocketMixin, websocket.WebSocketHandler, _DesktopHandler):
    """`<base>dcv-widget/desktops/<job>/<path>`: HTTP and WebSocket to the desktop's server."""

    upstream: Upstream | None = None
    upstream_ws: websocket.WebSocketClientConnection | None = None

    def initialize(self) -> None:
        self._relaying: asyncio.Task[None] | None = None

    async def prepare(self) -> None:  # type: ignore[override]
        # Jupyter's authentication without its login redirect; `_require_user` decides below.
        result: Any = JupyterHandler.prepare(self, _redirect_to_login=False)
        while asyncio.iscoroutine(result) or asyncio.isfuture(result):
            result = await result

    def check_xsrf_cookie(self) -> None:
        """A desktop's web client cannot know Jupyter's XSRF token: for its POSTs, Jupyter's
        same-origin check stands in (a forged cross-site request carries a foreign Origin).
        Requests authenticated with Jupyter's token skip it, as in Jupyter itself: browsers do
        not add that header by themselves."""
        if not hasattr(self, "_jupyter_current_user"):
            return  # called by tornado before `prepare` authenticated anyone: it calls again
        if not self.check_origin():
            raise web.HTTPError(403, "cross-origin requests to a desktop are refused")

    def _is_websocket(self) -> bool:
        return self.request.headers.get("Upgrade", "").lower() == "websocket"

    # -- HTTP ----------------------------------------------------------------------------------

    async def get(self, job_id: str, path: str | None = None) -> None:
        if self._is_websocket():
            self._require_user(websocket_request=True)
            # Before anything reaches the desktop: the handshake below checks the origin too,
            # but only after the upstream connection would have been opened.
            origin = self.request.headers.get("Origin")
            if origin is not None and not self.check_origin(origin):
                raise web.HTTPError(403, "cross-origin WebSockets to a desktop are refused")
            await self._open_upstream_websocket(job_id, path or "/")
            try:
                await websocket.WebSocketHandler.get(self)
            finally:
                if self.ws_connection is None and self.upstream_ws is not None:
                    self.upstream_ws.close()  # the browser's handshake failed: none to relay
            return
        await self._relay_http(job_id, path)

    async def head(self, job_id: str, path: str | None = None) -> None:
        await self._relay_http(job_id, path)

    async def post(self, job_id: str, path: str | None = None) -> None:
        await self._relay_http(job_id, path)

    async def put(self, job_id: str, path: str | None = None) -> None:
        await self._relay_http(job_id, path)

    async def patch(self, job_id: str, path: str | None = None) -> None:
        await self._relay_http(job_id, path)

    async def delete(self, job_id: str, path: str | None = None) -> None:
        await self._relay_http(job_id, path)

    async def options(self, job_id: str, path: str | None = None) -> None:
        await self._relay_http(job_id, path)

    async def _relay_http(self, job_id: str, path: str | None) -> None:
        if not self._require_user():
            return
        if path is None:  # the desktop's root needs its slash, or relative links go astray
            self.redirect(forwarding.desktop_prefix(self.base_url, job_id), permanent=False)
            return
        upstream = await self._upstream(job_id)
        self._mark_activity()
        prefix = forwarding.desktop_prefix(self.base_url, job_id)
        url = self._url(upstream, path)
        started: list[bool] = []
        pending: list[str] = []

        def on_header(line: str) -> None:
            if not line.strip():  # the end of a header block (1xx blocks are skipped)
                status = pending[0].split(" ", 2) if pending else []
                code = int(status[1]) if len(status) > 1 and status[1].isdigit() else 502
                if code >= 200:
                    self._start_response(code, pending[1:], prefix, upstream.origin)
                    started.append(True)
                pending.clear()
            else:
                pending.append(line.rstrip("\r\n"))

        def on_chunk(chunk: bytes) -> None:
            self.write(chunk)
            self.flush()

        method = self.request.method or "GET"
        request = HTTPRequest(
            url,
            method=method,
            headers=self._upstream_headers(),
            body=self.request.body if method in _BODY_METHODS else None,
            allow_nonstandard_methods=True,
            follow_redirects=False,
            decompress_response=False,
            ssl_options=forwarding.pinned_context(upstream.cert),
            connect_timeout=CONNECT_TIMEOUT,
            request_timeout=REQUEST_TIMEOUT,
            header_callback=on_header,
            streaming_callback=on_chunk,
        )
        try:
            await self.settings["dcv_widget_http"].fetch(request, raise_error=False)
        except ssl.SSLError:
            self._upstream_failed(job_id, _CERT_MISMATCH, started)
            return
        except (OSError, HTTPClientError) as exc:
            self._upstream_failed(job_id, f"the desktop did not answer ({exc})", started)
            return
        if not started:
            self._upstream_failed(job_id, "the desktop sent no response", started)
            return
        self.finish()

    def _url(self, upstream: Upstream, path: str) -> str:
        add = [("token", upstream.secret)] if ENGINES[upstream.engine].proxy_adds_token else []
        try:
            return forwarding.upstream_url(upstream.origin, path, self.request.query, add=add)
        except ValueError as exc:
            raise web.HTTPError(400, str(exc).replace("%", "%%")) from None

    def _upstream_headers(self) -> httputil.HTTPHeaders:
        headers = httputil.HTTPHeaders()
        for name, value in forwarding.request_headers(self.request.headers.get_all()):
            headers.add(name, value)
        return headers

    def _start_response(self, code: int, lines: list[str], prefix: str, origin: str) -> None:
        headers = httputil.HTTPHeaders()
        for line in lines:
            headers.parse_line(line)
        self.set_status(code)
        self.clear_header("Content-Type")
        for name, value in forwarding.response_headers(
            headers.get_all(), prefix=prefix, origin=origin
        ):
            self.add_header(name, value)
        self.set_header("Referrer-Policy", "no-referrer")

    def _upstream_failed(self, job_id: str, reason: str, started: list[bool]) -> None:
        self.upstreams.forget(job_id)  # look again next time: the desktop may have moved
        log.warning("desktop %s: %s", job_id, reason)
        if started:  # the response was under way: cut it short, so it is not taken as whole
            stream = getattr(self.request.connection, "stream", None)
            if stream is not None:
                stream.close()
            return
        raise web.HTTPError(502, reason.replace("%", "%%"))

    # -- WebSocket -----------------------------------------------------------------------------

    async def _open_upstream_websocket(self, job_id: str, path: str) -> None:
        upstream = await self._upstream(job_id)
        protocols = [
            p.strip()
            for p in self.request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if p.strip()
        ]
        request = HTTPRequest(
            self._url(upstream, path).replace("https://", "wss://", 1),
            headers=self._upstream_headers(),
            ssl_options=forwarding.pinned_context(upstream.cert),
            connect_timeout=CONNECT_TIMEOUT,
            request_timeout=CONNECT_TIMEOUT,
        )
        try:
            self.upstream_ws = await websocket.websocket_connect(
                request,
                subprotocols=protocols or None,
                ping_interval=PING_SECONDS,
                max_message_size=MAX_MESSAGE,
            )
        except ssl.SSLError:
            self._upstream_failed(job_id, _CERT_MISMATCH, [])
        except HTTPClientError as exc:
            self._upstream_failed(job_id, f"the desktop refused the WebSocket ({exc})", [])
        except OSError as exc:
            self._upstream_failed(job_id, f"the desktop did not answer ({exc})", [])
        self.upstream = upstream

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        """The subprotocol the desktop chose (the browser offered it, the desktop picked)."""
        return self.upstream_ws.selected_subprotocol if self.upstream_ws else None

    @property
    def max_message_size(self) -> int:
        return MAX_MESSAGE

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)  # Jupyter's keep-alive pings to the browser start here
        # Small frames (input, RFB requests) leave at once, both ways: with Nagle's algorithm
        # on (tornado's default) they wait for the peer's delayed ACK, up to 40 ms each
        # (benchmarks/proxy_throughput.py: 0.7x jupyter-server-proxy's throughput without).
        self.set_nodelay(True)
        if self.upstream_ws is not None and self.upstream_ws.protocol is not None:
            self.upstream_ws.protocol.set_nodelay(True)
        self._relaying = asyncio.ensure_future(self._relay_from_desktop())

    async def _relay_from_desktop(self) -> None:
        """Desktop → browser, one frame at a time: the next is read only once the browser's
        side took the last (back-pressure)."""
        upstream_ws = self.upstream_ws
        assert upstream_ws is not None
        while True:
            message = await upstream_ws.read_message()
            if message is None:
                self.close(*_forwardable_close(upstream_ws.close_code, upstream_ws.close_reason))
                return
            try:
                await self.write_message(message, binary=isinstance(message, bytes))
            except websocket.WebSocketClosedError:
                upstream_ws.close()
                return

    async def on_message(self, message: str | bytes) -> None:
        """Browser → desktop; tornado delivers the next frame once this one is written."""
        if self.upstream_ws is None:
            return
        self._mark_activity()
        try:
            await self.upstream_ws.write_message(message, binary=isinstance(message, bytes))
        except websocket.WebSocketClosedError:
            self.close()

    def on_close(self) -> None:
        if self.upstream_ws is not None:
            self.upstream_ws.close(*_forwardable_close(self.close_code, self.close_reason))
        super().on_close()


def _forwardable_close(code: int | None, reason: str | None) -> tuple[int | None, str | None]:
    """A close code one side gave, as the other may send it: 1005, 1006 and 1015 only say that
    no code or no clean close happened and must never be sent (RFC 6455 7.4.1)."""
    if code is None or code in (1005, 1006, 1015):
        return None, None
    return code, reason
