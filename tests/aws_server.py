"""The moto server (`moto[server]`) on 127.0.0.1: a real HTTP endpoint boto3 talks to, so the
AWS calls of the access routes (and the EC2 backend) are tested over the wire, never against
real AWS. Used by tests/conftest.py and the e2e JupyterLab."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# No configuration, credentials or instance metadata of the machine running the tests.
NO_REAL_AWS = {
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def without_aws(env: Mapping[str, str]) -> dict[str, str]:
    """`env` without the machine's AWS_* variables, and with NO_REAL_AWS."""
    return {**{k: v for k, v in env.items() if not k.startswith("AWS_")}, **NO_REAL_AWS}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_moto(
    log: Path, *, start_timeout: float = 30, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Start the moto server; yield its endpoint URL (for AWS_ENDPOINT_URL). `env`: extra
    variables for the server (moto's own settings, e.g. INITIAL_NO_AUTH_ACTION_COUNT)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env} if env else None,
        )
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start:\n{log.read_text()}") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def reset(url: str) -> None:
    """Forget every resource: each test starts with an empty AWS account."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def ec2_client(url: str, region: str) -> Any:
    """boto3's EC2 client on the moto server, with the fake credentials."""
    import boto3

    return boto3.client(
        "ec2",
        region_name=region,
        endpoint_url=url,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def loopback_subnet(ec2: Any) -> str:
    """A VPC and subnet on 127.0.0.0/24: instances moto starts there get loopback addresses
    and no public IP, so probing their DCV port never leaves this machine."""
    vpc = ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
    return str(ec2.create_subnet(VpcId=vpc, CidrBlock="127.0.0.0/24")["Subnet"]["SubnetId"])


def launch_template(ec2: Any, name: str) -> None:
    """A launch template on one of moto's Amazon images."""
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData={"ImageId": image, "InstanceType": "t3.medium"}
    )
