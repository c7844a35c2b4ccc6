"""`Instances()` driven as the browser would, against the moto server: launch from a template,
the card follows the instance until its DCV answers (a real HTTPS server on the instance's
loopback address), Connect's route, Stop, Start, Terminate with the card's actions."""

from __future__ import annotations

import http.server
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dcv_widget.access.aws import AwsNotSetUp
from dcv_widget.managers import instances_manager
from dcv_widget.settings import InstanceSettings
from dcv_widget.ui.instances import Instances

# pytest puts tests/ on sys.path (no __init__.py); mypy knows it by its path.
if TYPE_CHECKING:
    from tests.aws_server import ec2_client, launch_template, loopback_subnet
else:
    from aws_server import ec2_client, launch_template, loopback_subnet

REGION = "eu-west-1"
FAKES = Path(__file__).resolve().parent.parent / "fakes"


class RecordingInstances(Instances):
    """The real widget; custom messages to the browser are recorded instead of sent."""

    def __init__(self, **kwargs: Any) -> None:
        self.sent: list[dict[str, Any]] = []
        super().__init__(**kwargs)

    def send(self, content: dict[str, Any], buffers: Any = None) -> None:
        self.sent.append(content)


def eventually(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


def ada(**settings: Any) -> InstanceSettings:
    """Ada's instance settings in REGION from the template the tests create, polling fast."""
    return InstanceSettings(
        region=REGION, launch_template="dcv-workstation", owner="ada", fast_poll=1.0, **settings
    )


def click(widget: Instances, action: str, **extra: Any) -> None:
    widget._on_message(widget, {"action": action, **extra}, None)


@pytest.fixture
def template(aws_endpoint: str) -> str:
    """A launch template, and a subnet whose instances' addresses are loopback."""
    ec2 = ec2_client(aws_endpoint, REGION)
    launch_template(ec2, "dcv-workstation")
    return loopback_subnet(ec2)


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    """A self-signed certificate, made by the stand-in DCV server's own helper."""
    code = "import sys, pathlib, dcv_web; dcv_web.self_signed(pathlib.Path(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=FAKES, check=True)
    return tmp_path


@pytest.fixture
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_https(host: str, port: int, folder: Path) -> Iterator[None]:
    """Something answering HTTPS on host:port, as DCV's web server does once it is up."""
    server = http.server.ThreadingHTTPServer((host, port), http.server.SimpleHTTPRequestHandler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def test_an_instance_from_launch_to_terminate(
    template: str, certificate: Path, free_port: int
) -> None:
    """The direct route: the card waits for DCV to answer on the instance's address; this one
    has no public IP, which its card says instead of offering a URL that cannot work."""
    settings = ada(subnet_id=template, idle_value="team-a")
    manager = instances_manager(settings, "ada")
    manager.port = free_port
    widget = RecordingInstances(manager=manager, settings=settings, instance_type="t3.large")
    click(widget, "set", field="name", value="cad")
    click(widget, "launch")
    click(widget, "launch")  # a double click launches once
    eventually(lambda: len(widget.cards) == 1 and widget.launcher["can_launch"])
    card = widget.cards[0]
    instance_id = card["key"]
    assert card["title"] == f"cad · {instance_id}"
    assert "t3.large" in card["detail"] and card["state"] == "launching"
    assert "connect" not in card["actions"]  # DCV does not answer yet
    ec2 = ec2_client(os.environ["AWS_ENDPOINT_URL"], REGION)
    raw = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert {"Key": "dcv-widget:idle", "Value": "team-a"} in raw["Tags"]  # the idle policy's tag
    behaviour = ec2.describe_instance_attribute(
        InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior"
    )
    assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "stop"

    private_ip = manager.desktops()[0].private_ip
    assert private_ip.startswith("127.0.0.")
    server = serve_https(private_ip, free_port, certificate)
    next(server)
    try:
        eventually(lambda: widget.cards[0]["state"] == "ready")
        card = widget.cards[0]
        assert card["actions"] == ["connect", "stop", "reboot", "terminate"]
        assert card["access"]["route"] == "direct"
        assert "has no public IP" in card["access"]["problem"]
        click(widget, "connect", key=instance_id, request="r1")
        eventually(lambda: bool(widget.sent))
        assert widget.sent == [{"event": "open-failed", "request": "r1"}]
        assert "c.InstanceSettings.access = 'ssm'" in widget.cards[0]["error"]
    finally:
        next(server, None)

    click(widget, "stop", key=instance_id)
    eventually(lambda: widget.cards[0]["state"] == "stopped")
    assert widget.cards[0]["actions"] == ["start", "terminate"]
    click(widget, "start", key=instance_id)
    eventually(lambda: widget.cards[0]["state"] in ("launching", "ready"))
    click(widget, "terminate", key=instance_id)
    eventually(lambda: widget.cards[0]["state"] == "ended")
    assert widget.cards[0]["outcome"] == "Ended: terminated"
    assert len(ec2.describe_instances()["Reservations"]) == 1  # one launch for two clicks
    widget.close()


def test_on_the_ssm_route_a_running_instance_is_ready_without_inbound_access(
    aws_endpoint: str,
) -> None:
    """A private subnet (not loopback): nothing is probed from here; Connect opens the local
    end of the forward the card's command starts."""
    ec2 = ec2_client(aws_endpoint, REGION)
    launch_template(ec2, "dcv-workstation")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    settings = ada(subnet_id=subnet, access="ssm")
    widget = RecordingInstances(settings=settings)
    click(widget, "launch")
    eventually(lambda: bool(widget.cards) and widget.cards[0]["state"] == "ready")
    card = widget.cards[0]
    instance_id = card["key"]
    assert card["access"]["route"] == "ssm" and card["access"]["problem"] == ""
    assert f"--target {instance_id}" in card["access"]["commands"][0]["text"]
    click(widget, "connect", key=instance_id, request="r1")
    eventually(lambda: bool(widget.sent))
    local = 19443 + int(instance_id[-5:], 16) % 1000
    assert widget.sent == [{"event": "open", "request": "r1", "url": f"https://127.0.0.1:{local}/"}]
    widget.close()


def test_a_bad_form_value_is_named_and_nothing_is_launched(template: str) -> None:
    settings = InstanceSettings(region=REGION, owner="ada")
    widget = RecordingInstances(settings=settings)
    assert widget.launcher["can_launch"] is False  # no template configured
    assert widget.launcher["fields"][0]["error"].startswith("Launch template: ")
    click(widget, "set", field="template", value="dcv-workstation")
    click(widget, "set", field="instance_type", value="huge; reboot")
    assert widget.launcher["fields"][1]["error"].startswith("Instance type: 'huge; reboot'")
    click(widget, "launch")
    assert "Instance type" in widget.launcher["message"]
    ec2 = ec2_client(os.environ["AWS_ENDPOINT_URL"], REGION)
    assert ec2.describe_instances()["Reservations"] == []  # nothing reached AWS


def test_an_unknown_template_says_so(template: str) -> None:
    settings = InstanceSettings(region=REGION, owner="ada", launch_template="no-such-template")
    widget = RecordingInstances(settings=settings)
    click(widget, "launch")
    eventually(lambda: widget.launcher["message"].startswith("Launch failed"))
    assert "no-such-template" in widget.launcher["message"]


def test_without_aws_the_panel_says_what_to_set_and_keeps_launch_failures_apart() -> None:
    """No region, credentials or instance metadata here (tests/conftest.py): the panel is built
    all the same; its box names what to set, Launch is off, and a launch from code fails under
    the form's button, not in the box."""
    widget = RecordingInstances(settings=InstanceSettings(launch_template="dcv-workstation"))
    eventually(lambda: bool(widget.launcher["problem"]))
    box = widget.launcher["problem"]
    assert box.startswith("AWS is not set up here\n• No AWS region is known here; set ")
    assert "c.InstanceSettings.region" in box and "No AWS credentials" in box
    assert widget.launcher["can_launch"] is False and widget.launcher["message"] == ""
    assert widget.manager.check_setup() == widget.manager.not_set_up
    with pytest.raises(AwsNotSetUp):
        widget.launch().result(timeout=30)
    eventually(lambda: widget.launcher["message"].startswith("Launch failed: no AWS region"))
    assert widget.launcher["problem"] == box
    widget.close()
