"""E2E tier: a real JupyterLab on loopback, driven in Debian's Chromium through Playwright."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser, sync_playwright

from .hub import Hub, running_hub
from .lab import CHROMIUM, CHROMIUM_ARGS, Lab, running_lab

# pytest puts tests/ on sys.path (it has no __init__.py); mypy knows it by its path.
if TYPE_CHECKING:
    from tests.aws_server import FAKE_CREDENTIALS as FAKE_CREDENTIALS
    from tests.aws_server import ec2_client as ec2_client
    from tests.aws_server import launch_template as launch_template
    from tests.aws_server import loopback_subnet as loopback_subnet
    from tests.aws_server import without_aws as without_aws
else:
    from aws_server import (  # noqa: F401 (re-exported for the tests)
        FAKE_CREDENTIALS,
        ec2_client,
        launch_template,
        loopback_subnet,
        without_aws,
    )

AWS_REGION = "eu-west-3"

__all__ = ["Hub", "Lab"]

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"


@pytest.fixture(scope="session")
def lab(
    tmp_path_factory: pytest.TempPathFactory, artifacts: Path, moto_server: str
) -> Iterator[Lab]:
    """JupyterLab (and Notebook 7, same server) on 127.0.0.1 with its own config dirs; its
    kernels' AWS is the moto server (fake credentials, region AWS_REGION), nothing real."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (run scripts/setup-system.sh)")
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(NOTEBOOKS, root / "notebooks")
    home = tmp_path_factory.mktemp("jupyter-home")
    with running_lab(root, home, artifacts / "jupyterlab.log", _kernel_env(moto_server)) as lab:
        yield lab


@pytest.fixture(scope="session")
def hub(
    tmp_path_factory: pytest.TempPathFactory, artifacts: Path, moto_server: str
) -> Iterator[Hub]:
    """A real JupyterHub on 127.0.0.1 (hub.py) whose single-user JupyterLab runs as the test
    user with what the `lab` fixture's gets (root folder with the notebooks, kernels' AWS)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (run scripts/setup-system.sh)")
    root = tmp_path_factory.mktemp("hub-lab")
    shutil.copytree(NOTEBOOKS, root / "notebooks")
    home = tmp_path_factory.mktemp("hub-home")
    with running_hub(root, home, artifacts / "jupyterhub.log", _kernel_env(moto_server)) as hub:
        yield hub


def _kernel_env(moto_server: str) -> dict[str, str]:
    """This process's environment for a test Jupyter server, its AWS the moto server (fake
    credentials, region AWS_REGION), nothing real."""
    env = {**without_aws(os.environ), **FAKE_CREDENTIALS}
    env.update(AWS_ENDPOINT_URL=moto_server, AWS_REGION=AWS_REGION)
    return env


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def node_as_ec2_instance(moto_server: str) -> str:
    """The local node (NodeAddr 127.0.0.1) as an EC2 instance in the moto server's account,
    for the SSM route's lookup by private IP; the same one for every test that asks."""
    ec2 = ec2_client(moto_server, AWS_REGION)
    filters = [
        {"Name": "private-ip-address", "Values": ["127.0.0.1"]},
        {"Name": "instance-state-name", "Values": ["running"]},
    ]
    for reservation in ec2.describe_instances(Filters=filters)["Reservations"]:
        return str(reservation["Instances"][0]["InstanceId"])
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    reply = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        SubnetId=loopback_subnet(ec2),
        PrivateIpAddress="127.0.0.1",
    )
    return str(reply["Instances"][0]["InstanceId"])


def desktop_jobs() -> dict[str, Path]:
    """This user's desktop jobs in the queue, each with the folder it was submitted from (a
    kernel submits from its notebook's folder)."""
    listed = subprocess.run(
        ["squeue", "--me", "--noheader", "--format=%i|%k|%Z"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    rows = (line.split("|", 2) for line in listed.splitlines())
    return {job: Path(folder) for job, comment, folder in rows if comment.startswith("dcv-widget:")}


def cancel_left_behind(before: set[str], ours: Path) -> list[str]:
    """Cancel the desktop jobs submitted since `before` from a folder under `ours`; return
    their ids. Other runs of the suite (other engineers', at the same time) launch as the same
    user from their own folders: their desktops are left alone."""
    left = [
        j for j, folder in desktop_jobs().items() if j not in before and folder.is_relative_to(ours)
    ]
    if left:
        subprocess.run(["scancel", *left], check=False)
    return left


@pytest.fixture(autouse=True)
def no_desktop_left(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Cancel the desktops a test launched and left behind (it failed half-way): the next
    test's widget would list them among the user's desktops. This run's Jupyter servers serve
    folders under its base temp folder, so their kernels submit from there."""
    before = set(desktop_jobs())
    yield
    cancel_left_behind(before, tmp_path_factory.getbasetemp())
