"""Stand-in for DCV's web server on a node (a test fixture; see README.md).

HTTPS on 127.0.0.1 with a self-signed certificate made at start (written to --cert-dir, so a
client can verify it). `GET /connect?authToken=T&sessionId=S` does what DCV does with a client:
the real verifier is asked over HTTP; on yes, the connection is held and listed by the fake
`dcv list-connections` until the client hangs up.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import ssl
import urllib.request
import uuid
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


class FakeDCVWeb(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, verifier: str, state: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.verifier = verifier
        self.state = state


class _Handler(BaseHTTPRequestHandler):
    server: FakeDCVWeb

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        session_id, token = query.get("sessionId", ""), query.get("authToken", "")
        session = self.server.state / "sessions" / f"{session_id}.json"
        if url.path != "/connect" or not session_id or "/" in session_id:
            self._reply(404, "use /connect?authToken=T&sessionId=S\n")
            return
        user = ask_verifier(self.server.verifier, session_id, token, self.client_address[0])
        if user is None or not session.exists():
            self._reply(403, "refused\n")
            return
        if json.loads(session.read_text())["owner"] != user:
            self._reply(403, "refused: not the session's owner\n")
            return
        self._hold(session_id, user)

    def _reply(self, status: int, text: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(text.encode())
        self.wfile.flush()

    def _hold(self, session_id: str, user: str) -> None:
        """Accept, and count as a connected client (listed first) until the client hangs up."""
        folder = self.server.state / "connections" / session_id
        folder.mkdir(parents=True, exist_ok=True)
        connection = {"id": uuid.uuid4().hex[:8], "username": user, "client-address": "127.0.0.1"}
        entry = folder / f"{connection['id']}.json"
        temporary = folder / f".{connection['id']}.tmp"
        temporary.write_text(json.dumps(connection))
        temporary.rename(entry)
        try:
            self._reply(200, f"accepted {user}\n")
            while self.connection.recv(1024):
                pass
        except OSError:
            pass
        finally:
            entry.unlink()

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
