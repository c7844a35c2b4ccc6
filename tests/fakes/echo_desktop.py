"""Test fixture, never shipped: a desktop web server whose every answer says what it received,
so the desktop proxy's tests see exactly what crossed it.

HTTPS only, on 127.0.0.1, with the certificate and key given (`--cert`, `--key`). Prints
`listening on 127.0.0.1:PORT` once it serves, then `request METHOD PATH` for each request.

- `GET|POST /echo…` answers JSON: method, path, query, headers, body length.
- `GET /gated` sends one chunk, then the rest only after `GET /open-gate`: a relay that
  buffered whole responses would deliver nothing before the gate opens.
- `GET /cookie` sets cookies (Path=/, Path=/sub, a Domain one); `GET /redirect?to=URL` answers
  302 to URL; `GET /big?mb=N` streams N MiB in 64 KiB chunks.
- WebSocket `/ws`: echoes every frame (binary as binary), picks the subprotocol "binary" when
  offered, and its first frame is the JSON of the upgrade request (path, query, headers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
from typing import Any

from tornado import web, websocket

CHUNK = b"\x5a" * 65536


def _request_facts(handler: web.RequestHandler) -> dict[str, Any]:
    return {
        "method": handler.request.method,
        "path": handler.request.path,
        "query": handler.request.query,
        "headers": [[k, v] for k, v in handler.request.headers.get_all()],
        "body_length": len(handler.request.body or b""),
    }


GATE = asyncio.Event()


class Gated(web.RequestHandler):
    async def get(self) -> None:
        self.write(CHUNK)
        await self.flush()
        await GATE.wait()
        self.write(CHUNK)


class OpenGate(web.RequestHandler):
    def get(self) -> None:
        GATE.set()
        self.finish("open")


def _log(handler: web.RequestHandler) -> None:
    print(f"request {handler.request.method} {handler.request.uri}", flush=True)


class Echo(web.RequestHandler):
    def get(self, _rest: str = "") -> None:
        self.finish(_request_facts(self))

    post = put = delete = get


class Cookie(web.RequestHandler):
    def get(self) -> None:
        self.add_header("Set-Cookie", "root=1; Path=/; HttpOnly")
        self.add_header("Set-Cookie", "sub=2; Path=/sub; Secure")
        self.add_header("Set-Cookie", "wide=3; Domain=example.org; Path=/")
        self.add_header("Strict-Transport-Security", "max-age=31536000")
        self.add_header("Clear-Site-Data", '"cookies"')
        self.add_header("X-Frame-Options", "DENY")
        self.finish("cookies set")


class Redirect(web.RequestHandler):
    def get(self) -> None:
        self.redirect(self.get_argument("to"))


class Big(web.RequestHandler):
    async def get(self) -> None:
        for _ in range(int(self.get_argument("mb")) * 16):
            self.write(CHUNK)
            await self.flush()


class EchoSocket(websocket.WebSocketHandler):
    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return "binary" if "binary" in subprotocols else None

    def open(self) -> None:
        self.write_message(json.dumps(_request_facts(self)))

    async def on_message(self, message: str | bytes) -> None:
        await self.write_message(message, binary=isinstance(message, bytes))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    app = web.Application(
        [
            (r"/ws", EchoSocket),
            (r"/cookie", Cookie),
            (r"/redirect", Redirect),
            (r"/big", Big),
            (r"/gated", Gated),
            (r"/open-gate", OpenGate),
            (r"/echo(.*)", Echo),
        ],
        websocket_max_message_size=64 * 1024 * 1024,
        log_function=_log,
    )
    server = app.listen(0, "127.0.0.1", ssl_options=context)
    port = next(iter(server._sockets.values())).getsockname()[1]
    print(f"listening on 127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
