"""Access routes: what the user runs, and where the browser then connects."""

from __future__ import annotations

from dcv_widget.access import access_for, browser_endpoint
from dcv_widget.session_file import Endpoint

NODE = Endpoint("dcv", "10.0.1.17", 8443, session_id="dcvw-7")


def test_direct_needs_nothing_and_opens_the_node() -> None:
    assert access_for("direct", NODE) is None
    assert browser_endpoint("direct", NODE) == NODE


def test_ssh_tunnel_through_the_head_node_then_localhost() -> None:
    access = access_for("ssh", NODE, head_node="head.example.org", user="ada")
    assert access is not None
    assert access.command == "ssh -N -L 8443:10.0.1.17:8443 ada@head.example.org"
    assert browser_endpoint("ssh", NODE).host == "localhost"
    assert browser_endpoint("ssh", NODE).port == 8443
