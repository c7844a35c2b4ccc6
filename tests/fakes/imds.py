"""Stand-in for the EC2 instance metadata service, IMDSv2 only (a test fixture).

`PUT /latest/api/token` gives a token; `GET /latest/meta-data/<name>` answers only with that
token in `X-aws-ec2-metadata-token`, as an instance configured with HttpTokens=required does.
"""

from __future__ import annotations

import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = secrets.token_urlsafe(16)
METADATA = {
    "instance-id": "i-0123456789abcdef0",
    "local-ipv4": "10.0.1.23",
    "public-ipv4": "203.0.113.7",
    "placement/region": "us-east-2",
}


class _Handler(BaseHTTPRequestHandler):
    def do_PUT(self) -> None:
        if (
            self.path == "/latest/api/token"
            and self.headers["X-aws-ec2-metadata-token-ttl-seconds"]
        ):
            self._reply(200, TOKEN)
        else:
            self._reply(400, "")

    def do_GET(self) -> None:
        name = self.path.removeprefix("/latest/meta-data/")
        if self.headers["X-aws-ec2-metadata-token"] != TOKEN:
            self._reply(401, "")
        elif name in METADATA:
            self._reply(200, METADATA[name])
        else:
            self._reply(404, "")

    def _reply(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""


if __name__ == "__main__":
    # NAME=VALUE arguments replace an answer; NAME= removes it (an instance without it).
    for item in sys.argv[1:]:
        name, _, value = item.partition("=")
        METADATA[name] = value
        if not value:
            del METADATA[name]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
