"""Stand-in for DCV's web server on a node (a test fixture; see README.md).

HTTPS on 127.0.0.1 with a self-signed certificate made at start (written to --cert-dir, so a
client can verify it). What it serves, all on one origin as DCV does:

- `GET /`: a small page in place of DCV's web client. Like DCV's, it reads the token from the
  query (`?authToken=T`) and the session from the fragment (`#S`), then opens its WebSocket
  beside itself (`auth`, relative to the page, so it works under a proxy's path too).
- `GET /auth?authToken=T&sessionId=S` with a WebSocket upgrade: DCV's web client opens its
  channels as WebSockets on the page's own origin and path, the first one for authentication.
  Real DCV carries the token inside its own (undocumented) messages on that channel; the
  stand-in takes it at the upgrade instead, so that a relay is tested on what it must get
  right: the upgrade through its path, the query intact, binary frames both ways. The upgrade
  is refused (403) unless the real verifier accepts the token for the session's owner; once
  accepted, every data frame the client sends comes back unchanged.
- `GET /connect?authToken=T&sessionId=S` (plain HTTPS): the same check; on yes the reply stays
  open until the client hangs up.

An accepted client, by either way, is listed by the fake `dcv list-connections` until it leaves.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import datetime
import hashlib
import ipaddress
import json
import ssl
import struct
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.etree import ElementTree

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost (the local end of a tunnel) and its key, as PEM
    files in `folder`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-dcv")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def ask_verifier(url: str, session_id: str, token: str, client: str) -> str | None:
    """DCV's call to its auth-token-verifier: the user it answered yes for, or None."""
    form = {"sessionId": session_id, "authenticationToken": token, "clientAddress": client}
    with urllib.request.urlopen(url, data=urlencode(form).encode(), timeout=15) as reply:
        auth = ElementTree.fromstring(reply.read())
    if auth.tag != "auth" or auth.get("result") != "yes":
        return None
    return auth.findtext("username")


# The page in place of DCV's web client: it authenticates over its WebSocket, sends one binary
# frame and says on <html data-state> whether it came back ("connected") or not ("refused").
PAGE = b"""<!doctype html>
<html data-state="connecting"><head><meta charset="utf-8"><title>DCV (stand-in)</title></head>
<body><p>Stand-in for DCV's web client (a test fixture).</p><script>
const token = new URLSearchParams(location.search).get("authToken") || "";
const session = decodeURIComponent(location.hash.slice(1));
const url = new URL("auth", location.href);
url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
url.search = new URLSearchParams({authToken: token, sessionId: session}).toString();
const socket = new WebSocket(url);
socket.binaryType = "arraybuffer";
const said = (state) => { document.documentElement.dataset.state = state; };
socket.onopen = () => socket.send(new Uint8Array([0, 1, 2, 255]));
socket.onmessage = (event) =>
  said(new Uint8Array(event.data).join() === "0,1,2,255" ? "connected" : "garbled");
socket.onclose = () => {
  if (document.documentElement.dataset.state !== "connected") said("refused");
};
</script></body></html>
"""
_WEBSOCKET_MAGIC = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
_MAX_FRAME = 1 << 24  # a fixture's bound, far above anything a test sends
_CLOSE, _PING, _PONG = 0x8, 0x9, 0xA


class FakeDCVWeb(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, verifier: str, state: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.verifier = verifier
        self.state = state


class _Handler(BaseHTTPRequestHandler):
    server: FakeDCVWeb
    protocol_version = "HTTP/1.1"  # WebSocket upgrades need it

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/":
            self._reply(200, PAGE, "text/html; charset=utf-8")
            return
        if url.path not in ("/connect", "/auth"):
            self._reply(404, b"not found: the stand-in serves /, /auth and /connect\n")
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        session_id, token = query.get("sessionId", ""), query.get("authToken", "")
        if url.path == "/auth" and self.headers.get("Upgrade", "").lower() != "websocket":
            self._reply(400, b"/auth takes a WebSocket upgrade\n")
            return
        user = self._owner_accepting(session_id, token)
        if user is None:
            self._reply(403, b"refused\n")
        elif url.path == "/auth":
            self._echo_websocket(session_id, user)
        else:
            with self._connected(session_id, user), contextlib.suppress(OSError):
                self._reply(200, f"accepted {user}\n".encode(), hold=True)
                while self.connection.recv(1024):
                    pass

    def _owner_accepting(self, session_id: str, token: str) -> str | None:
        """The user the real verifier accepts `token` for, if that user owns the session."""
        session = self.server.state / "sessions" / f"{session_id}.json"
        if not session_id or "/" in session_id or not session.exists():
            return None
        user = ask_verifier(self.server.verifier, session_id, token, self.client_address[0])
        if user is None or json.loads(session.read_text())["owner"] != user:
            return None
        return user

    def _reply(
        self, status: int, body: bytes, kind: str = "text/plain", hold: bool = False
    ) -> None:
        """A reply with `body`, the last on its connection. With `hold` its length is left
        out, so the reply lasts until the connection ends: a client reading it stays connected."""
        self.send_response(status)
        self.send_header("Content-Type", kind)
        if not hold:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    @contextlib.contextmanager
    def _connected(self, session_id: str, user: str) -> Iterator[None]:
        """Listed by the fake `dcv list-connections` (as DCV lists a client) while inside."""
        folder = self.server.state / "connections" / session_id
        folder.mkdir(parents=True, exist_ok=True)
        connection = {"id": uuid.uuid4().hex[:8], "username": user, "client-address": "127.0.0.1"}
        entry = folder / f"{connection['id']}.json"
        temporary = folder / f".{connection['id']}.tmp"
        temporary.write_text(json.dumps(connection))
        temporary.rename(entry)
        try:
            yield
        finally:
            entry.unlink()

    def _echo_websocket(self, session_id: str, user: str) -> None:
        """Accept the upgrade (RFC 6455), then send every data frame back until the client
        closes. Client frames must be masked, as the RFC requires: a relay that forwards
        unmasked frames is refused with 1002, so a test notices."""
        key = self.headers.get("Sec-WebSocket-Key", "")
        try:
            nonce = base64.b64decode(key, validate=True)
        except binascii.Error:
            nonce = b""
        if self.headers.get("Sec-WebSocket-Version") != "13" or len(nonce) != 16:
            self._reply(400, b"not a WebSocket version 13 upgrade\n")
            return
        accept = base64.b64encode(hashlib.sha1(key.encode() + _WEBSOCKET_MAGIC).digest())
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept.decode())
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        with self._connected(session_id, user), contextlib.suppress(OSError, EOFError):
            while True:
                first, opcode, masked, payload = self._read_frame()
                if not masked:
                    self._send_frame(0x80 | _CLOSE, struct.pack(">H", 1002))
                    return
                if opcode == _CLOSE:
                    self._send_frame(0x80 | _CLOSE, payload[:2])
                    return
                if opcode == _PING:
                    self._send_frame(0x80 | _PONG, payload)
                elif opcode != _PONG:
                    self._send_frame(first, payload)  # data: same FIN bit and opcode

    def _read_frame(self) -> tuple[int, int, bool, bytes]:
        """(first byte, opcode, masked, unmasked payload) of the next frame."""
        head = self._read(2)
        length = head[1] & 0x7F
        if length == 126:
            length = struct.unpack(">H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", self._read(8))[0]
        if length > _MAX_FRAME:
            raise EOFError("frame too large for the stand-in")
        masked = bool(head[1] & 0x80)
        mask = self._read(4) if masked else b""
        payload = self._read(length)
        if masked and payload:
            keystream = int.from_bytes((mask * (length // 4 + 1))[:length], "big")
            payload = (int.from_bytes(payload, "big") ^ keystream).to_bytes(length, "big")
        return head[0], head[0] & 0x0F, masked, payload

    def _read(self, n: int) -> bytes:
        data = self.rfile.read(n)
        if len(data) < n:
            raise EOFError("the client hung up")
        return bytes(data)

    def _send_frame(self, first: int, payload: bytes) -> None:
        """A server frame (never masked): `first` is the FIN bit and opcode."""
        n = len(payload)
        if n < 126:
            head = struct.pack(">BB", first, n)
        elif n < 1 << 16:
            head = struct.pack(">BBH", first, 126, n)
        else:
            head = struct.pack(">BBQ", first, 127, n)
        self.wfile.write(head + payload)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines carry tokens, as DCV's own URLs do."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--verifier", required=True, help="the verifier's URL")
    parser.add_argument("--state", required=True, type=Path, help="the fake dcv's state folder")
    parser.add_argument("--cert-dir", required=True, type=Path)
    args = parser.parse_args()
    cert, key = self_signed(args.cert_dir)
    server = FakeDCVWeb(args.verifier, args.state)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
