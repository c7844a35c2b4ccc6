"""What the desktop proxy forwards (dcv_widget/server/forwarding.py): pure rules, tried with
hostile input."""

from __future__ import annotations

import ssl
import string
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dcv_widget.desktops.upstream import DesktopNotFound, Upstreams, confirmed_host
from dcv_widget.server import forwarding
from dcv_widget.transport.local import LocalTransport

# pytest puts tests/ on sys.path (no __init__.py); mypy knows the module by its path.
if TYPE_CHECKING:
    from tests.fakes.dcv_web import self_signed
else:
    from fakes.dcv_web import self_signed

ORIGIN = "https://10.0.1.23:5901"
PREFIX = "/user/ana/dcv-widget/desktops/42/"


def test_the_prefix_lives_under_the_base_url() -> None:
    assert forwarding.desktop_prefix("/", "42") == "/dcv-widget/desktops/42/"
    assert forwarding.desktop_prefix("/user/ana/", "42") == PREFIX


@given(
    path=st.text(alphabet=string.printable + "\\\u00e9\u202e", max_size=200),
    query=st.text(alphabet=string.printable, max_size=100),
)
def test_no_path_or_query_leaves_the_desktops_origin(path: str, query: str) -> None:
    try:
        url = forwarding.upstream_url(ORIGIN, path, query)
    except ValueError:
        return  # refused outright is fine too
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port) == ("https", "10.0.1.23", 5901)
    assert "\r" not in url and "\n" not in url and " " not in url and "\\" not in url


@pytest.mark.parametrize(
    "path",
    [
        "//evil.example/x",
        "/@evil.example/",
        "http://evil.example/",
        "/..%2F..%2Fapi",
        "/a\r\nHost: x",
    ],
)
def test_hostile_paths_become_paths_on_the_desktop(path: str) -> None:
    url = forwarding.upstream_url(ORIGIN, path, "")
    assert url.startswith(ORIGIN + "/")
    assert urlsplit(url).netloc == "10.0.1.23:5901"


def test_jupyters_query_parameters_stay_and_the_desktops_are_added() -> None:
    url = forwarding.upstream_url(
        ORIGIN, "/websockify", "token=jupyter&_xsrf=x&keep=1", add=[("token", "desktop")]
    )
    assert url == f"{ORIGIN}/websockify?keep=1&token=desktop"


def test_jupyters_credentials_and_the_connections_headers_stay() -> None:
    sent = [
        ("Cookie", "a=b"), ("Authorization", "token t"), ("X-XSRFToken", "x"),
        ("Origin", "https://lab"), ("Referer", "https://lab/?token=t"), ("Host", "lab"),
        ("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Key", "k"),
        ("Accept", "*/*"), ("User-Agent", "ua"), ("X-Forwarded-For", "1.2.3.4"),
    ]  # fmt: skip
    assert forwarding.request_headers(sent) == [("Accept", "*/*"), ("User-Agent", "ua")]


def test_the_desktops_headers_cannot_act_on_the_jupyter_origin() -> None:
    got = forwarding.response_headers(
        [
            ("Content-Type", "text/html"),
            ("Content-Length", "12"),
            ("Set-Cookie", "s=1; Domain=lab.example; Path=/"),
            ("Strict-Transport-Security", "max-age=1"),
            ("Clear-Site-Data", '"*"'),
            ("X-Frame-Options", "DENY"),
            ("Location", f"{ORIGIN}/next"),
            ("Transfer-Encoding", "chunked"),
        ],
        prefix=PREFIX,
        origin=ORIGIN,
    )
    assert got == [
        ("Content-Type", "text/html"),
        ("Set-Cookie", f"s=1; Path={PREFIX}"),
        ("Location", f"{PREFIX}next"),
    ]


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [
        ("a=1", f"a=1; Path={PREFIX}"),
        ("a=1; Path=/sub; HttpOnly", f"a=1; Path={PREFIX}sub; HttpOnly"),
        ("a=1; path=relative", f"a=1; Path={PREFIX}"),
        ("a=1; domain=.example.org; Secure", f"a=1; Path={PREFIX}; Secure"),
    ],
)
def test_cookies_are_held_to_the_desktops_path(cookie: str, expected: str) -> None:
    assert forwarding.scoped_cookie(cookie, PREFIX) == expected


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/vnc.html?a=1#f", f"{PREFIX}vnc.html?a=1#f"),
        (f"{ORIGIN}/x", f"{PREFIX}x"),
        ("relative.html", "relative.html"),
        ("https://evil.example/x", PREFIX),
        ("//evil.example/x", PREFIX),
        ("https://10.0.1.23:9999/x", PREFIX),  # the node, another port: not this desktop
    ],
)
def test_redirects_stay_under_the_desktop(location: str, expected: str) -> None:
    assert forwarding.local_location(location, prefix=PREFIX, origin=ORIGIN) == expected


def test_the_pinned_context_verifies_and_trusts_only_the_pin(tmp_path: Path) -> None:
    cert, _key = self_signed(tmp_path)
    context = forwarding.pinned_context(cert.read_text())
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert not context.check_hostname  # the pin is the certificate; the host comes from Slurm
    assert context.cert_store_stats()["x509"] == 1  # the pin, and no system CA


def test_an_address_the_job_recorded_must_be_its_nodes() -> None:
    from dcv_widget.desktops.upstream import UpstreamUnavailable

    assert confirmed_host("127.0.0.1", "localhost") == "127.0.0.1"
    assert confirmed_host("vm-node-1", "127.0.0.1") == "127.0.0.1"  # a name: Slurm's address
    with pytest.raises(UpstreamUnavailable, match="not an address of its node"):
        confirmed_host("10.9.9.9", "127.0.0.1")


@pytest.mark.parametrize("job_id", ["", "12a", "../1", "1/2", "9" * 13, "-1"])
def test_only_job_ids_are_looked_up(job_id: str) -> None:
    with pytest.raises(DesktopNotFound, match="is not a Slurm job id"):
        Upstreams(LocalTransport()).find(job_id)
