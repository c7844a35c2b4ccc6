"""TLS as the tests speak it to a desktop: pinned to the certificate its job recorded.

Every test that talks to a desktop's web server (websockify for `novnc`, DCV's or its stand-in
for `dcv`) verifies the server against the PEM the job wrote into the session file (`"cert"`),
the same pin the Jupyter server's proxy holds: never with verification off, never against the
system's CAs.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization


def pinned_context(cert: str, *, check_hostname: bool = True) -> ssl.SSLContext:
    """A client context that trusts exactly `cert` (PEM) and nothing else.

    `VERIFY_X509_PARTIAL_CHAIN` makes the pinned certificate itself the trust anchor, whether it
    is self-signed (the novnc job's) or a leaf a CA signed (DCV's at some sites). Host names are
    checked unless `check_hostname` is false: for a URL whose host the certificate cannot name
    (a DCV node's name, a tunnel's local end), where the pin alone says who answers.
    """
    assert "-----BEGIN CERTIFICATE-----" in cert, "no certificate recorded"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=cert)
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.check_hostname = check_hostname
    return context


def recorded_cert(session_file: str | Path) -> str:
    """The certificate (PEM) a job recorded in its session file."""
    cert = json.loads(Path(session_file).read_text())["cert"]
    assert isinstance(cert, str)
    return cert


def public_key_of(pem: str) -> bytes:
    """The certificate's public key, DER: to compare what a server presents with the pin."""
    key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
