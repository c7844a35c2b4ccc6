"""The EC2 backend (stand-alone DCV instances) through boto3 against the moto server on
127.0.0.1: launch templates, tags, listing, actions, the owner check, Windows passwords, the
DCV readiness probe (a real local HTTPS server), IAM refusals (a second moto server enforcing
IAM) and throttling (tests/fakes/throttling_proxy.py). Nothing reaches AWS."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from dcv_widget.access.aws import CLIENT_CONFIG, Aws, AwsError, explain
from dcv_widget.instances.ec2 import (
    Ec2Backend,
    Ec2Desktop,
    Ec2InputError,
)
from dcv_widget.instances.prices import on_demand_price
from dcv_widget.instances.windows_password import decrypt_password

if TYPE_CHECKING:
    from tests.aws_server import FAKE_CREDENTIALS, NO_REAL_AWS, running_moto
    from tests.integration.fake_dcv import FAKES, serve
else:
    from aws_server import FAKE_CREDENTIALS, NO_REAL_AWS, running_moto
    from fake_dcv import FAKES, serve

REGION = "eu-west-3"
OWNER_TAG = "dcv-widget:owner"
PROJECT = ("dcv-widget:project", "render-farm")


class Account:
    """The moto account as the tests arrange it: images, launch templates, a network."""

    def __init__(self, region: str = REGION) -> None:
        # A session of its own: boto3's default one keeps the first credentials it found.
        self.ec2: Any = boto3.Session().client("ec2", region_name=region)
        images = self.ec2.describe_images(Owners=["amazon"])["Images"]
        self.linux_image = next(i["ImageId"] for i in images if i.get("Platform") != "windows")
        self.windows_image = next(i["ImageId"] for i in images if i.get("Platform") == "windows")

    def template(self, name: str, image: str = "", instance_type: str = "t3.medium") -> str:
        data = {"ImageId": image or self.linux_image, "InstanceType": instance_type}
        reply = self.ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData=data)
        return str(reply["LaunchTemplate"]["LaunchTemplateId"])

    def tags(self, instance_id: str) -> dict[str, str]:
        reply = self.ec2.describe_instances(InstanceIds=[instance_id])
        raw = reply["Reservations"][0]["Instances"][0]
        return {t["Key"]: t["Value"] for t in raw.get("Tags", [])}

    def state(self, instance_id: str) -> str:
        reply = self.ec2.describe_instances(InstanceIds=[instance_id])
        return str(reply["Reservations"][0]["Instances"][0]["State"]["Name"])


@pytest.fixture
def account(aws_endpoint: str) -> Account:
    return Account()


def backend(owner: str = "alice", project: tuple[str, str] | None = PROJECT) -> Ec2Backend:
    return Ec2Backend(Aws(), REGION, owner=owner, project=project)


# -- launching ---------------------------------------------------------------------------------


def test_launch_by_name_tags_the_instance_and_its_volumes(account: Account) -> None:
    account.template("dcv-linux")
    desktop = backend().launch("dcv-linux", name="alice desk", shutdown_behavior="terminate")
    assert desktop.state in ("pending", "running")
    assert (desktop.instance_type, desktop.platform, desktop.owner) == (
        "t3.medium",
        "linux",
        "alice",
    )
    assert desktop.name == "alice desk" and desktop.region == REGION
    assert desktop.launch_time == pytest.approx(time.time(), abs=60)
    tags = account.tags(desktop.instance_id)
    assert tags[OWNER_TAG] == "alice" and tags[PROJECT[0]] == PROJECT[1]
    assert tags["Name"] == "alice desk"
    volumes = account.ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [desktop.instance_id]}]
    )["Volumes"]
    assert volumes
    for volume in volumes:
        volume_tags = {t["Key"]: t["Value"] for t in volume.get("Tags", [])}
        assert volume_tags[OWNER_TAG] == "alice" and volume_tags[PROJECT[0]] == PROJECT[1]
    # What the idle policy relies on: a shutdown from inside the instance terminates it.
    behaviour = account.ec2.describe_instance_attribute(
        InstanceId=desktop.instance_id, Attribute="instanceInitiatedShutdownBehavior"
    )
    assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"


def test_launch_by_id_overrides_type_subnet_and_security_group(account: Account) -> None:
    template_id = account.template("dcv-gpu")
    vpc = account.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = account.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.7.0/24")["Subnet"]["SubnetId"]
    group = account.ec2.create_security_group(GroupName="dcv", Description="8443", VpcId=vpc)
    desktop = backend().launch(
        template_id,
        instance_type="g4dn.xlarge",
        subnet_id=subnet,
        security_group_ids=(group["GroupId"],),
    )
    assert desktop.instance_type == "g4dn.xlarge"
    assert desktop.private_ip.startswith("10.0.7.")
    raw = account.ec2.describe_instances(InstanceIds=[desktop.instance_id])
    instance = raw["Reservations"][0]["Instances"][0]
    assert instance["SubnetId"] == subnet
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [group["GroupId"]]
    assert account.tags(desktop.instance_id)[OWNER_TAG] == "alice"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"instance_type": "g4dn xlarge"}, "instance_type"),
        ({"subnet_id": "subnet-zz"}, "subnet_id"),
        ({"security_group_ids": ("sg-0123456789abcdef0", "sg-1;true")}, "security_group_ids"),
        ({"shutdown_behavior": "hibernate"}, "shutdown_behavior"),
        ({"name": "a*"}, "name"),
        ({"version": "latest"}, "version"),
    ],
)
def test_bad_launch_arguments_are_refused_before_aws(
    account: Account, arguments: dict[str, Any], field: str
) -> None:
    account.template("dcv-linux")
    with pytest.raises(Ec2InputError, match=f"^{field} "):
        backend().launch("dcv-linux", **arguments)
    assert backend().desktops() == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"owner": "*"}, "owner"),  # a filter wildcard: would list everyone's instances
        ({"owner": ""}, "owner"),
        ({"owner": "alice\nbob"}, "owner"),
        ({"owner": "alice", "project": ("dcv-widget:project", "a,b")}, "project"),
        ({"owner": "alice", "owner_tag": "aws:owner"}, "owner_tag"),
    ],
)
def test_tag_values_that_are_not_plain_are_refused(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field} "):
        Ec2Backend(Aws(), REGION, **kwargs)


def test_an_unknown_template_says_what_to_do(account: Account) -> None:
    with pytest.raises(AwsError) as refused:
        backend().launch("no-such-template")
    message = str(refused.value)
    assert (
        "'no-such-template'" in message and "InvalidLaunchTemplateName.NotFoundException" in message
    )
    assert "check the name (and the region)" in message
    with pytest.raises(Ec2InputError, match=r"^template "):
        backend().launch("x")  # too short for a template name, and not an id


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        ("InvalidLaunchTemplateId.NotFound", "no launch template has that id"),
        ("InvalidLaunchTemplateId.Malformed", "not a launch template id"),
        ("InvalidInstanceID.NotFound", "no such instance in this region"),
        ("IncorrectInstanceState", "not in a state that allows this"),
        ("UnauthorizedOperation", "lack the permission to do so (it takes ec2:StartInstances)"),
        ("RequestLimitExceeded", "AWS is throttling requests to start it"),
    ],
)
def test_ec2_error_codes_are_explained(code: str, advice: str) -> None:
    """The codes moto does not produce (it answers an unknown template id with an HTTP 500)."""
    error = ClientError({"Error": {"Code": code, "Message": "m"}}, "StartInstances")
    message = str(explain(error, "start it", needs="ec2:StartInstances"))
    assert advice in message


# -- listing and acting ------------------------------------------------------------------------


def test_listing_covers_every_state_newest_first_and_only_this_owner(account: Account) -> None:
    account.template("dcv-linux")
    alice = backend()
    launched = []
    for n in range(3):
        launched.append(alice.launch("dcv-linux", name=f"desk {n}").instance_id)
        time.sleep(1.1)  # LaunchTime has whole seconds
    bob = backend("bob").launch("dcv-linux").instance_id
    other_project = backend(project=("dcv-widget:project", "other")).launch("dcv-linux")
    untagged = account.ec2.run_instances(ImageId=account.linux_image, MinCount=1, MaxCount=1)
    alice.stop(launched[0])
    alice.terminate(launched[1])

    listed = alice.desktops()
    assert [d.instance_id for d in listed] == launched[::-1]
    assert {d.instance_id: d.state for d in listed} == {
        launched[0]: "stopped",
        launched[1]: "terminated",
        launched[2]: "running",
    }
    assert [d.name for d in listed] == ["desk 2", "desk 1", "desk 0"]
    hidden = {bob, other_project.instance_id, untagged["Instances"][0]["InstanceId"]}
    assert not hidden & {d.instance_id for d in listed}
    assert [d.instance_id for d in backend("bob").desktops()] == [bob]
    # Without a project, the backend sees all of the owner's instances.
    assert len(backend(project=None).desktops()) == 4


def test_start_stop_reboot_terminate_change_states(account: Account) -> None:
    account.template("dcv-linux")
    alice = backend()
    instance_id = alice.launch("dcv-linux").instance_id
    alice.reboot(instance_id)
    assert account.state(instance_id) == "running"
    alice.stop(instance_id)
    assert alice.get(instance_id).state == "stopped"
    with pytest.raises(AwsError, match=f"cannot reboot {instance_id}: it is stopped"):
        alice.reboot(instance_id)
    alice.start(instance_id)
    assert alice.get(instance_id).state == "running"
    alice.terminate(instance_id)
    assert alice.get(instance_id).state == "terminated"
    with pytest.raises(AwsError, match=f"cannot start {instance_id}: it is terminated"):
        alice.start(instance_id)
    assert account.state(instance_id) == "terminated"


def test_another_owners_instance_is_never_acted_on(account: Account) -> None:
    account.template("dcv-windows", account.windows_image)
    bob = backend("bob").launch("dcv-windows").instance_id
    other_project = backend(project=("dcv-widget:project", "other")).launch("dcv-windows")
    untagged = account.ec2.run_instances(ImageId=account.linux_image, MinCount=1, MaxCount=1)
    alice = backend()
    key = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    for instance_id in (bob, other_project.instance_id, untagged["Instances"][0]["InstanceId"]):
        for act in (alice.stop, alice.terminate, alice.reboot, alice.get, alice.wait_ready):
            with pytest.raises(AwsError, match=f"{instance_id} is not one of alice's DCV"):
                act(instance_id)
        with pytest.raises(AwsError, match="is not one of alice's DCV"):
            alice.windows_password(instance_id, key)
        assert account.state(instance_id) == "running"
    account.ec2.stop_instances(InstanceIds=[bob])
    with pytest.raises(AwsError, match="is not one of alice's DCV"):
        alice.start(bob)
    assert account.state(bob) == "stopped"


def test_an_unknown_instance_is_a_clear_error(account: Account) -> None:
    with pytest.raises(AwsError) as missing:
        backend().stop("i-0123456789abcdef0")
    assert "InvalidInstanceID.NotFound" in str(missing.value)
    assert "no such instance in this region" in str(missing.value)
    with pytest.raises(Ec2InputError, match=r"^instance_id 'i-zz; reboot' is not"):
        backend().get("i-zz; reboot")


# -- Windows -----------------------------------------------------------------------------------


def test_a_windows_ami_makes_a_windows_desktop(account: Account) -> None:
    account.template("dcv-windows", account.windows_image)
    account.template("dcv-linux")
    windows = backend().launch("dcv-windows", instance_type="g4dn.xlarge")
    linux = backend().launch("dcv-linux")
    assert windows.platform == "windows" and linux.platform == "linux"
    assert {d.instance_id: d.platform for d in backend().desktops()} == {
        windows.instance_id: "windows",
        linux.instance_id: "linux",
    }


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def test_windows_password_from_moto(account: Account) -> None:
    """moto implements GetPasswordData with 128 random characters for Windows instances (not
    encrypted with any key) and "" for Linux: the wrong-key and not-Windows paths."""
    account.template("dcv-windows", account.windows_image)
    account.template("dcv-linux")
    windows = backend().launch("dcv-windows").instance_id
    linux = backend().launch("dcv-linux").instance_id
    key = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    moto_data = account.ec2.get_password_data(InstanceId=windows)["PasswordData"]
    assert moto_data
    with pytest.raises(AwsError) as wrong:
        backend().windows_password(windows, key)
    assert str(wrong.value) == (
        f"the private key does not decrypt {windows}'s password: use the key pair the instance "
        "was launched with"
    )
    assert wrong.value.__cause__ is None and wrong.value.__suppress_context__
    with pytest.raises(AwsError, match=f"{linux} runs Linux: EC2 makes no password"):
        backend().windows_password(linux, key)


def test_windows_password_decryption() -> None:
    """EC2's scheme (RSA PKCS#1 v1.5 with the key pair's public key, base64) with our own key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    password = "Xq7;m%R2(vK.w9@zA!pL3-Ts"
    data = base64.b64encode(key.public_key().encrypt(password.encode(), padding.PKCS1v15()))
    assert decrypt_password(data.decode(), _pem(key), "i-0123456789abcdef0") == password

    other = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(AwsError, match="does not decrypt i-0123456789abcdef0's password") as wrong:
        decrypt_password(data.decode(), other, "i-0123456789abcdef0")
    assert password not in str(wrong.value) and "PRIVATE KEY" not in str(wrong.value)

    with pytest.raises(AwsError, match=r"not available yet \(Windows makes it within minutes"):
        decrypt_password("", _pem(key), "i-0123456789abcdef0")
    with pytest.raises(AwsError, match="not an unencrypted PEM private key") as garbled:
        decrypt_password(data.decode(), "-----BEGIN RSA PRIVATE KEY-----\nnope\n")
    assert "nope" not in str(garbled.value)
    with pytest.raises(AwsError, match="not RSA"):
        decrypt_password(data.decode(), _pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(AwsError, match="does not decrypt the instance's password"):
        decrypt_password("not base64!", _pem(key))


# -- readiness and reaching the desktop --------------------------------------------------------


@pytest.fixture
def dcv_web(tmp_path: Path) -> Iterator[int]:
    """The stand-in DCV web server (HTTPS, self-signed certificate) on 127.0.0.1; its port."""
    argv = [
        sys.executable, str(FAKES / "dcv_web.py"), "--verifier", "http://127.0.0.1:9/",
        "--state", str(tmp_path), "--cert-dir", str(tmp_path),
    ]  # fmt: skip
    process, port = serve(argv, tmp_path / "web.log", dict(os.environ))
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_wait_ready_returns_once_dcv_answers(account: Account, dcv_web: int) -> None:
    account.template("dcv-linux")
    alice = backend()
    launched = alice.launch("dcv-linux")
    assert alice.dcv_answers("127.0.0.1", dcv_web)  # a self-signed server answering is "up"
    ready = alice.wait_ready(launched.instance_id, timeout=120, port=dcv_web, host="127.0.0.1")
    assert ready.instance_id == launched.instance_id and ready.state == "running"


def test_wait_ready_times_out_naming_what_it_waited_for(account: Account) -> None:
    account.template("dcv-linux")
    alice = backend()
    instance_id = alice.launch("dcv-linux").instance_id
    port = _free_port()  # nothing listens there
    assert not alice.dcv_answers("127.0.0.1", port, timeout=1)
    with pytest.raises(TimeoutError) as waited:
        alice.wait_ready(instance_id, timeout=4, port=port, host="127.0.0.1")
    assert f"DCV did not answer on 127.0.0.1:{port}" in str(waited.value)
    assert "still waiting for the DCV server" in str(waited.value)

    alice.terminate(instance_id)
    with pytest.raises(AwsError, match=f"gave up waiting for {instance_id} to be running"):
        alice.wait_ready(instance_id, timeout=4, port=port, host="127.0.0.1")


def test_connect_url_and_the_ssm_card(account: Account) -> None:
    account.template("dcv-linux")
    alice = backend()
    desktop = alice.get(alice.launch("dcv-linux").instance_id)
    assert desktop.public_ip
    assert alice.connect_url(desktop) == f"https://{desktop.public_ip}:8443/"
    assert alice.connect_url(desktop, 9443) == f"https://{desktop.public_ip}:9443/"
    private = dataclasses.replace(desktop, public_ip="")
    with pytest.raises(AwsError, match="has no public IP; reach it through AWS SSM"):
        alice.connect_url(private)
    stopped = dataclasses.replace(desktop, state="stopped", public_ip="")
    with pytest.raises(AwsError, match="is stopped; start it first"):
        alice.connect_url(stopped)
    card = alice.ssm_access(private, 18443)
    assert card.route == "ssm" and card.usable
    bash = card.commands[0].text
    assert f"--target {desktop.instance_id}" in bash and f"--region {REGION}" in bash
    assert """'{"portNumber":["8443"],"localPortNumber":["18443"]}'""" in bash


def test_uptime_counts_only_while_the_instance_runs() -> None:
    desktop = Ec2Desktop(
        "i-0123456789abcdef0", "", "running", "t3.medium", "linux", "", "10.0.0.5",
        time.time() - 3600, REGION, "alice",
    )  # fmt: skip
    assert desktop.uptime == pytest.approx(3600, abs=5)
    assert dataclasses.replace(desktop, state="stopped").uptime == 0.0
    assert dataclasses.replace(desktop, state="terminated").uptime == 0.0


# -- pricing -----------------------------------------------------------------------------------


def test_hourly_price_is_none_where_the_pricing_api_does_not_answer(account: Account) -> None:
    """moto has no Pricing API (it answers HTTP 500): no price, no exception."""
    assert backend().hourly_price("g4dn.xlarge") is None
    assert backend().hourly_price("g4dn.xlarge", "Windows") is None
    assert backend().hourly_price("not a type") is None


def test_hourly_price_without_credentials_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert backend().hourly_price("t3.medium") is None


def test_the_price_list_is_read_from_on_demand_terms() -> None:
    def product(license_model: str, usd: str) -> str:
        dimension = {"unit": "Hrs", "pricePerUnit": {"USD": usd}}
        return json.dumps(
            {
                "product": {"attributes": {"licenseModel": license_model}},
                "terms": {"OnDemand": {"T1": {"priceDimensions": {"D1": dimension}}}},
            }
        )

    assert on_demand_price([product("No License required", "0.526")]) == 0.526
    byol = product("Bring your own license", "0.3")
    assert on_demand_price([byol, product("No License required", "0.71")]) == 0.71
    assert on_demand_price([byol]) is None and on_demand_price([]) is None


# -- permissions: a second moto server that enforces IAM --------------------------------------

ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
# What a user who may look but not launch has: no ec2:RunInstances.
LOOK_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ec2:Describe*", "ec2:CreateTags"], "Resource": "*"}
    ],
}
# The unauthenticated requests the server allows before it enforces IAM: the admin's set-up.
ADMIN_SETUP_REQUESTS = 3


@pytest.fixture(scope="module")
def iam_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A moto server enforcing IAM after ADMIN_SETUP_REQUESTS requests, which make an admin
    user; its URL and the admin's credentials."""
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("AWS_")]:
            env.delenv(name)
        for name, value in {**NO_REAL_AWS, **FAKE_CREDENTIALS}.items():
            env.setenv(name, value)
        log = tmp_path_factory.mktemp("moto-iam") / "moto.log"
        limit = {"INITIAL_NO_AUTH_ACTION_COUNT": str(ADMIN_SETUP_REQUESTS)}
        with running_moto(log, env=limit) as url:
            iam = boto3.Session().client("iam", region_name="us-east-1", endpoint_url=url)
            iam.create_user(UserName="admin")
            document = json.dumps(ALLOW_ALL)
            iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=document)
            key = iam.create_access_key(UserName="admin")["AccessKey"]
            admin = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"]}
            admin["AWS_SECRET_ACCESS_KEY"] = key["SecretAccessKey"]
            yield url, admin


def test_a_missing_permission_is_named(
    iam_moto: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, admin = iam_moto
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    for name, value in admin.items():
        monkeypatch.setenv(name, value)
    iam = boto3.Session().client("iam", region_name="us-east-1")
    iam.create_user(UserName="viewer")
    iam.put_user_policy(UserName="viewer", PolicyName="look", PolicyDocument=json.dumps(LOOK_ONLY))
    key = iam.create_access_key(UserName="viewer")["AccessKey"]
    Account().template("dcv-linux")
    # The fake credentials are refused outright once IAM is enforced: enforcement is on.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with pytest.raises(AwsError, match=r"did not accept the credentials .*\(AuthFailure\)"):
        backend().desktops()

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    viewer = backend()
    assert viewer.desktops() == []  # ec2:DescribeInstances is allowed
    with pytest.raises(AwsError) as refused:
        viewer.launch("dcv-linux")
    assert str(refused.value) == (
        "AWS refused to launch an instance from the launch template 'dcv-linux' in "
        f"{REGION} (AccessDenied): the credentials where JupyterLab runs lack the permission "
        "to do so (it takes ec2:RunInstances and ec2:CreateTags); grant it in their IAM policy"
    )
    assert viewer.desktops() == []


# -- throttling: tests/fakes/throttling_proxy.py in front of the moto server -------------------

_RETRIES = CLIENT_CONFIG["retries"]
assert isinstance(_RETRIES, dict)
# In botocore's Config, retries' `max_attempts` counts the retries after the first request
# (`total_max_attempts` would count them all).
ATTEMPTS = 1 + int(_RETRIES["max_attempts"])


@pytest.fixture
def throttling(aws_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start a throttling proxy to the moto server refusing the first `fail` requests; boto3 is
    pointed at it. Called as throttling(fail) -> a function reading the proxy's counts."""
    started: list[Any] = []

    def start(fail: int) -> Any:
        argv = [sys.executable, str(FAKES / "throttling_proxy.py"), "--target", aws_endpoint]
        log = tmp_path / f"proxy-{len(started)}.log"
        process, port = serve([*argv, "--fail", str(fail)], log, dict(os.environ))
        started.append(process)
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")

        def stats() -> dict[str, int]:
            address = f"http://127.0.0.1:{port}/throttling-proxy/stats"
            with urllib.request.urlopen(address, timeout=5) as reply:
                counts: dict[str, int] = json.loads(reply.read())
            return counts

        return stats

    try:
        yield start
    finally:
        for process in started:
            process.terminate()
            process.wait(timeout=10)


def test_throttled_requests_are_retried(account: Account, throttling: Any) -> None:
    account.template("dcv-linux")
    instance_id = backend().launch("dcv-linux").instance_id
    refusals = ATTEMPTS - 1  # every retry is refused, the last attempt gets through
    stats = throttling(refusals)
    listed = backend().desktops()
    assert [d.instance_id for d in listed] == [instance_id]
    assert stats() == {"refused": refusals, "forwarded": 1}


def test_throttling_beyond_the_retries_says_so(account: Account, throttling: Any) -> None:
    stats = throttling(100)
    with pytest.raises(AwsError) as throttled:
        backend().desktops()
    assert str(throttled.value) == (
        f"AWS is throttling requests to list your DCV instances in {REGION}; try again in a minute"
    )
    assert stats() == {"refused": ATTEMPTS, "forwarded": 0}
