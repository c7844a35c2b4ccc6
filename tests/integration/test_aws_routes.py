"""The SSM routes' AWS lookups through boto3 against the moto server (a real HTTP endpoint on
127.0.0.1), and an SSM desktop on the real local Slurm whose node recorded its own instance."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
import pytest

from dcv_widget.access.endpoint import Endpoint
from dcv_widget.access.instructions import Access
from dcv_widget.access.routes import RouteOptions, Routes
from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import SessionState
from dcv_widget.transport.local import LocalTransport

if TYPE_CHECKING:
    from tests.integration.fake_dcv import FAKES, recorded_session_id, running_fake_dcv, serve
else:
    from fake_dcv import FAKES, recorded_session_id, running_fake_dcv, serve

REGION = "eu-west-3"
NODE = Endpoint("dcv", "10.0.1.23", 8443, session_id="dcvw-57-k3x9q2m4p7z1a8b5")


class Account:
    """Instances in the moto server's account, as the tests arrange them."""

    def __init__(self) -> None:
        self.ec2: Any = boto3.client("ec2", region_name=REGION)
        self.image = self.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    def subnet(self) -> str:
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        return str(self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"])

    def instance(self, private_ip: str, subnet: str = "") -> str:
        reply = self.ec2.run_instances(
            ImageId=self.image,
            MinCount=1,
            MaxCount=1,
            SubnetId=subnet or self.subnet(),
            PrivateIpAddress=private_ip,
        )
        return str(reply["Instances"][0]["InstanceId"])


@pytest.fixture
def account(aws_endpoint: str) -> Account:
    return Account()


def ssm_route(job_id: str = "57", route: str = "ssm", **options: Any) -> tuple[Access, Routes]:
    routes = Routes(LocalTransport(), RouteOptions(**options))
    return routes.prepare("k", route, NODE, job_id), routes


def test_ssm_finds_the_node_by_its_private_ip(account: Account) -> None:
    instance_id = account.instance("10.0.1.23")
    account.instance("10.0.1.24")  # a neighbour, not to be confused with it
    shown, routes = ssm_route(aws_region=REGION)
    assert shown.problem == ""
    assert shown.commands[0].text == (
        f"aws ssm start-session --target {instance_id} --document-name "
        f"AWS-StartPortForwardingSession --region {REGION} --parameters "
        """'{"portNumber":["8443"],"localPortNumber":["18500"]}'"""
    )
    # moto does not implement DescribeInstanceInformation: an agent status that cannot be
    # asked lets the command through rather than blocking a route that may well work.
    browser = routes.browser_endpoint("k")
    assert browser is not None and (browser.host, browser.port) == ("127.0.0.1", 18500)


def test_the_region_comes_from_the_environment_when_not_set(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance_id = account.instance("10.0.1.23")
    monkeypatch.setenv("AWS_REGION", REGION)
    shown, _ = ssm_route()
    assert f"--target {instance_id}" in shown.commands[0].text
    assert f"--region {REGION}" in shown.commands[0].text


def test_no_instance_with_the_ip_is_a_clear_problem(account: Account) -> None:
    account.instance("10.0.1.99")
    stopped = account.instance("10.0.1.23")
    account.ec2.stop_instances(InstanceIds=[stopped])
    shown, routes = ssm_route(aws_region=REGION)
    assert shown.problem.startswith(f"no running EC2 instance has the IP 10.0.1.23 in {REGION}")
    assert shown.commands == () and routes.browser_endpoint("k") is None


def test_several_instances_with_the_ip_are_named(account: Account) -> None:
    first = account.instance("10.0.1.23")
    second = account.instance("10.0.1.23")  # another VPC with the same addresses
    shown, _ = ssm_route(aws_region=REGION)
    assert "several running instances have the IP 10.0.1.23" in shown.problem
    assert first in shown.problem and second in shown.problem


def test_missing_credentials_say_how_to_get_them(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    account.instance("10.0.1.23")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    shown, _ = ssm_route(aws_region=REGION)
    assert shown.problem.startswith("no AWS credentials where JupyterLab runs")
    assert "aws configure" in shown.problem


def test_no_region_anywhere_names_the_setting(aws_endpoint: str) -> None:
    shown, _ = ssm_route()
    assert "set c.DesktopSettings.aws_region" in shown.problem


@pytest.fixture
def head_node_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This machine as an EC2 head node: the stand-in IMDS (instance i-0123456789abcdef0)."""
    imds, port = serve([sys.executable, str(FAKES / "imds.py")], tmp_path / "imds.log", {})
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{port}")
    try:
        yield
    finally:
        imds.terminate()
        imds.wait(timeout=10)


def test_ssm_head_goes_through_this_head_node_to_the_node_ip(
    aws_endpoint: str, head_node_metadata: None
) -> None:
    shown, _ = ssm_route(route="ssm-head")
    assert shown.problem == ""
    bash = shown.commands[0].text
    assert "--target i-0123456789abcdef0" in bash and "--region us-east-2" in bash
    assert "AWS-StartPortForwardingSessionToRemoteHost" in bash
    assert """'{"host":["10.0.1.23"],"portNumber":["8443"],"localPortNumber":["18500"]}'""" in bash


def test_ssm_head_without_metadata_asks_for_the_instance_id() -> None:
    shown, _ = ssm_route(route="ssm-head")
    assert "set c.DesktopSettings.head_node_instance_id" in shown.problem


def test_an_ssm_desktop_shows_the_instance_its_node_recorded(
    manager: SessionManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the real Slurm, a DCV desktop on a node whose (stand-in) metadata names its
    instance: no AWS call is needed, and Connect opens the local end of the forward."""
    with running_fake_dcv(tmp_path) as fake:
        monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
        for name, value in fake.env.items():
            monkeypatch.setenv(name, value)
        session = manager.launch(LaunchRequest(partition="dcv", engine="dcv", access="ssm"))
        ready = manager.wait_for(
            session.key, lambda s: s.state in (SessionState.READY, SessionState.ENDED), 120
        )
        assert ready.state == SessionState.READY, ready.log_tail
        shown = manager.route(session.key).result(timeout=60)
        assert shown is not None and shown.problem == ""
        local = 18443 + int(ready.job_id) % 1000
        assert "--target i-0123456789abcdef0" in shown.commands[0].text
        assert "--region us-east-2" in shown.commands[0].text
        assert f'"localPortNumber":["{local}"]' in shown.commands[0].text
        url = urlsplit(manager.connect_url(session.key).result(timeout=30))
        assert (url.hostname, url.port) == ("127.0.0.1", local)
        assert url.fragment == recorded_session_id(manager, ready.job_id)
        manager.end(session.key).result(timeout=30)
