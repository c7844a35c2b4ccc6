"""Route preparation without AWS or SSH: where Connect points, and prerequisites said plainly."""

from __future__ import annotations

import getpass
from dataclasses import replace

from dcv_widget.access.aws import ping_status
from dcv_widget.access.endpoint import Endpoint
from dcv_widget.access.routes import RouteOptions, Routes, agent_problem, this_host
from dcv_widget.transport.local import LocalTransport

NODE = Endpoint("dcv", "10.0.1.23", 8443, session_id="dcvw-1234")
EC2_NODE = Endpoint("dcv", "10.0.1.23", 8443, instance_id="i-0123456789abcdef0", region="us-east-2")


def routes(**options: object) -> Routes:
    return Routes(LocalTransport(), RouteOptions(**options))  # type: ignore[arg-type]


def test_direct_opens_the_public_ip_when_the_node_has_one() -> None:
    r = routes()
    shown = r.prepare("k", "direct", replace(EC2_NODE, public_ip="203.0.113.7"), "1")
    assert shown.usable and "203.0.113.7:8443" in shown.then
    browser = r.browser_endpoint("k")
    assert browser is not None and browser.host == "203.0.113.7"


def test_direct_on_a_cluster_without_ec2_opens_the_node_address() -> None:
    r = routes()
    assert r.prepare("k", "direct", NODE, "1").usable
    assert r.browser_endpoint("k") == NODE


def test_direct_to_an_ec2_node_without_public_ip_is_refused_with_the_way_out() -> None:
    r = routes()
    shown = r.prepare("k", "direct", EC2_NODE, "1")
    assert "has no public IP" in shown.problem and "access='ssm'" in shown.problem
    assert r.browser_endpoint("k") is None


def test_ssh_tunnel_uses_a_stable_local_port_per_job() -> None:
    shown = routes(head_node="head.example.org").prepare("k", "ssh", NODE, "1234")
    assert shown.commands[0].text == (
        "ssh -N -L 127.0.0.1:18677:10.0.1.23:8443 -o ExitOnForwardFailure=yes "
        f"{getpass.getuser()}@head.example.org"
    )
    # Connect names the address ssh binds, not "localhost" (which may be [::1], anyone's).
    r = routes(head_node="head.example.org")
    r.prepare("k", "ssh", NODE, "1234")
    browser = r.browser_endpoint("k")
    assert browser is not None and (browser.host, browser.port) == ("127.0.0.1", 18677)
    # Another desktop here whose job id has the same last three digits gets the next port.
    r = routes(head_node="head.example.org")
    r.prepare("a", "ssh", NODE, "1234")
    assert "-L 127.0.0.1:18678:" in r.prepare("b", "ssh", NODE, "2234").commands[0].text
    # The same job after a kernel restart: the same command (the user's tunnel still fits).
    again = routes(head_node="head.example.org", local_port_base=20000).prepare(
        "k2", "ssh", NODE, "1234"
    )
    assert "-L 127.0.0.1:20234:" in again.commands[0].text


def test_ssh_tunnel_defaults_to_this_host_as_the_head_node() -> None:
    shown = routes().prepare("k", "ssh", NODE, "7")
    assert shown.commands[0].text.endswith(f"@{this_host()}")


def test_the_held_tunnel_needs_an_ssh_connection() -> None:
    shown = routes().prepare("k", "tunnel", NODE, "7")
    assert "set c.DesktopSettings.ssh_host" in shown.problem


def test_a_problem_is_looked_at_again_and_closing_forgets() -> None:
    r = routes()
    assert r.prepare("k", "direct", EC2_NODE, "1").problem
    assert r.prepare("k", "direct", NODE, "1").usable  # e.g. the endpoint was learnt anew
    r.close("k")
    assert r.access("k") is None and r.browser_endpoint("k") is None


def test_an_offline_or_unregistered_ssm_agent_is_a_problem_with_the_way_out() -> None:
    reply = {"InstanceInformationList": [{"InstanceId": "i-1", "PingStatus": "ConnectionLost"}]}
    status = ping_status(reply, "i-1")
    assert status == "ConnectionLost"
    problem = agent_problem(status, "the node (i-1)", "use access='ssm-head'")
    assert problem.startswith("the SSM agent of the node (i-1) is ConnectionLost")
    assert "use access='ssm-head'" in problem
    unregistered = agent_problem(ping_status({"InstanceInformationList": []}, "i-1"), "x", "y")
    assert "is not registered with Systems Manager" in unregistered
    assert agent_problem("Online", "x", "y") == ""


def test_the_site_documents_reach_the_ssm_commands() -> None:
    """RouteOptions.ssm_document / ssm_remote_document (the DesktopSettings of those names)
    name the document of each SSM route's command."""
    r = routes(ssm_document="DcvWidget-PortForwardToNode", aws_region="us-east-2")
    shown = r.prepare("k", "ssm", EC2_NODE, "57")
    assert "--document-name DcvWidget-PortForwardToNode " in shown.commands[0].text
    assert '"host"' not in shown.commands[0].text
    browser = r.browser_endpoint("k")
    assert browser is not None and (browser.host, browser.port) == ("127.0.0.1", 18500)
