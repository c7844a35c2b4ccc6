"""What the desktop proxy forwards, and what it never does: pure functions, tested alone.

The proxy stands between two origins that must not mix. Jupyter's credentials (its cookies,
`Authorization`, XSRF token, `?token=`) never go to a desktop; a desktop's cookies, redirects
and security headers never reach the rest of the Jupyter origin. The upstream URL is built from
the confirmed desktop alone, and the request only contributes a path under it.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

PROXY_ROOT = "dcv-widget/desktops"

# Hop-by-hop headers (RFC 9110 7.6.1) and those the HTTP and WebSocket clients set themselves.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
_SET_BY_CLIENT = {
    "host",
    "content-length",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-accept",
    "sec-websocket-protocol",
}
# Jupyter's credentials and the page's context on the Jupyter origin: never upstream.
_JUPYTER_ONLY = {
    "cookie",
    "authorization",
    "x-xsrftoken",
    "x-csrftoken",
    "origin",
    "referer",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
}
# Upstream headers that would act on the whole Jupyter origin (or break the Lab tab's iframe).
_ORIGIN_WIDE = {
    "strict-transport-security",
    "clear-site-data",
    "alt-svc",
    "x-frame-options",
    "public-key-pins",
    "set-cookie2",
}
# Jupyter's own query parameters (its token, its XSRF value): never upstream.
_JUPYTER_PARAMS = {"token", "_xsrf"}
# What may appear unescaped in the forwarded path: RFC 3986's pchar plus "/" and "%" (escapes
# are kept as they came); anything else (a backslash, a space, a non-ASCII byte) is escaped.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


def desktop_prefix(base_url: str, job_id: str) -> str:
    """The URL path the desktop of `job_id` lives under on the Jupyter server, ending in "/"."""
    return f"{base_url.rstrip('/')}/{PROXY_ROOT}/{job_id}/"


def upstream_url(origin: str, path: str, query: str, *, add: Iterable[tuple[str, str]] = ()) -> str:
    """`origin` + the request's path under the desktop + its query without Jupyter's parameters,
    plus `add` (e.g. novnc's websockify token). The result always names `origin`'s host and
    port: a path can only ever be a path on the desktop's own server."""
    safe_path = "/" + quote(path.lstrip("/"), safe=_PATH_SAFE)
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in _JUPYTER_PARAMS]
    kept += list(add)
    url = origin + safe_path + (f"?{urlencode(kept)}" if kept else "")
    expected, got = urlsplit(origin), urlsplit(url)
    if (got.scheme, got.netloc) != (expected.scheme, expected.netloc):  # defence in depth
        raise ValueError(f"refusing a path that leaves the desktop: {path[:80]!r}")
    return url


def request_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The browser's headers that go upstream: none of Jupyter's, none of the connection's."""
    drop = _HOP_BY_HOP | _SET_BY_CLIENT | _JUPYTER_ONLY
    return [(name, value) for name, value in headers if name.lower() not in drop]


def response_headers(
    headers: Iterable[tuple[str, str]], *, prefix: str, origin: str
) -> list[tuple[str, str]]:
    """The desktop's headers that go to the browser: cookies held to the desktop's path,
    redirects kept under it, nothing that acts on the whole Jupyter origin."""
    kept = []
    for name, value in headers:
        lowered = name.lower()
        if lowered in _HOP_BY_HOP or lowered in _ORIGIN_WIDE or lowered == "content-length":
            continue
        if lowered == "set-cookie":
            value = scoped_cookie(value, prefix)
        elif lowered in ("location", "content-location"):
            value = local_location(value, prefix=prefix, origin=origin)
        kept.append((name, value))
    return kept


def scoped_cookie(header: str, prefix: str) -> str:
    """A Set-Cookie value held to the desktop's path: its own Path (if under "/") moves under
    `prefix`, Domain goes (host-only), so it never reaches Jupyter or another desktop."""
    name_value, *attributes = (part.strip() for part in header.split(";"))
    kept = []
    path = "/"
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        if key.strip().lower() == "domain":
            continue
        if key.strip().lower() == "path":
            path = value.strip() if value.strip().startswith("/") else "/"
            continue
        kept.append(attribute)
    return "; ".join([name_value, f"Path={prefix}{path.lstrip('/')}", *kept])


def local_location(value: str, *, prefix: str, origin: str) -> str:
    """A redirect of the desktop's server, under `prefix`: to its own origin or a path on it.
    A redirect to any other host is dropped to the desktop's root (never followed elsewhere)."""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        if f"{parts.scheme}://{parts.netloc}".lower() != origin.lower():
            return prefix
    elif not parts.path.startswith("/"):
        return value  # relative to the current page: already under the prefix
    tail = parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")
    return prefix + tail + (f"#{parts.fragment}" if parts.fragment else "")


@lru_cache(maxsize=64)
def pinned_context(cert: str) -> ssl.SSLContext:
    """A TLS client context that trusts exactly `cert` (the one the job recorded), whoever
    signed it: verification stays on, the pin is the certificate itself. Host names are not
    checked: the host comes from Slurm, and a self-signed desktop certificate names an address
    that differs behind a tunnel."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=cert)
    context.check_hostname = False
    # The leaf itself is the trust anchor (it need not be a CA), and OpenSSL's strict mode would
    # refuse self-signed certificates made without a CA's extensions (DCV's own default one).
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return context
