"""TEST FIXTURE, not a proxy to use: an HTTP proxy on 127.0.0.1 in front of the moto server that
throttles like EC2 (see README.md).

The first --fail requests get EC2's throttling answer (HTTP 503, `RequestLimitExceeded` in EC2's
XML error body); the rest are forwarded to --target unchanged. `GET /throttling-proxy/stats`
answers {"refused": n, "forwarded": m}, so a test can show that botocore retried.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

STATS_PATH = "/throttling-proxy/stats"
# Hop-by-hop headers (RFC 9110 7.6.1) and the length, which is set again for the body sent on.
_NOT_FORWARDED = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}
_THROTTLED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
    "<Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
    "</Error></Errors><RequestID>{request_id}</RequestID></Response>"
)


class ThrottlingProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, target: str, fail: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        parts = urlsplit(target)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost"):
            raise SystemExit("--target must be http:// on loopback (the moto server)")
        self.target = (parts.hostname, parts.port or 80)
        self.fail = fail
        self.refused = 0
        self.forwarded = 0
        self.lock = threading.Lock()

    def throttles(self) -> bool:
        """Whether this request is one of the first --fail (counted either way)."""
        with self.lock:
            if self.refused < self.fail:
                self.refused += 1
                return True
            self.forwarded += 1
            return False


class _Handler(BaseHTTPRequestHandler):
    server: ThrottlingProxy
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == STATS_PATH:
            with self.server.lock:
                stats = {"refused": self.server.refused, "forwarded": self.server.forwarded}
            self._send(200, {"Content-Type": "application/json"}, json.dumps(stats).encode())
            return
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.server.throttles():
            error = _THROTTLED.format(request_id=uuid.uuid4()).encode()
            self._send(503, {"Content-Type": "text/xml;charset=UTF-8"}, error)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _NOT_FORWARDED}
        upstream = http.client.HTTPConnection(*self.server.target, timeout=30)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            reply = upstream.getresponse()
            data = reply.read()
            kept = {k: v for k, v in reply.getheaders() if k.lower() not in _NOT_FORWARDED}
            self._send(reply.status, kept, data)
        finally:
            upstream.close()

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the counts are in STATS_PATH."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", required=True, help="the moto server's URL")
    parser.add_argument("--fail", required=True, type=int, help="how many requests to throttle")
    args = parser.parse_args()
    server = ThrottlingProxy(args.target, args.fail)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
