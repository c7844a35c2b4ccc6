"""The tutorial notebooks in notebooks/, executed top to bottom with nbclient as a user would
run them (the Python API doing what the clicks do)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
# pytest puts tests/ on sys.path (no __init__.py); mypy knows it by its path.
if TYPE_CHECKING:
    from tests.aws_server import ec2_client, launch_template, loopback_subnet
else:
    from aws_server import ec2_client, launch_template, loopback_subnet

REGION = "eu-west-1"
# A clean-up cell's switch: off, Run All leaves the desktops running for the reader to see.
END_SWITCH = "END_DESKTOPS = False"


def execute(name: str, folder: Path, *, end_desktops: bool = False) -> Any:
    """The notebook after running every cell in a fresh kernel, in `folder`; `end_desktops`:
    as a reader who turns its clean-up cell's switch on."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)  # type: ignore[no-untyped-call]
    if end_desktops:
        (clean_up,) = [c for c in notebook.cells if c.source.startswith(END_SWITCH)]
        clean_up.source = clean_up.source.replace(END_SWITCH, "END_DESKTOPS = True", 1)
    client = NotebookClient(notebook, timeout=600, resources={"metadata": {"path": str(folder)}})
    client.execute()
    return notebook


def outputs(notebook: Any) -> str:
    return "\n".join(
        output.get("text", "") + json.dumps(output.get("data", {}))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


def test_01_quickstart_launches_connects_and_ends(tmp_path: Path) -> None:
    text = outputs(execute("01-quickstart.ipynb", tmp_path, end_desktops=True))
    assert "application/vnd.jupyter.widget-view+json" in text  # the widget rendered
    assert "ready: running on dcv-node-1" in text
    assert "Connect opens https://" in text and "vnc.html" in text
    assert "password" not in text  # the URL's secret is not in the notebook
    assert "cancelled" in text


def test_02_several_desktops_are_found_again_by_a_fresh_manager(tmp_path: Path) -> None:
    text = outputs(execute("02-several-desktops.ipynb", tmp_path, end_desktops=True))
    assert text.count("ready 1 CPUs") == 1 and text.count("ready 2 CPUs") == 1
    assert text.count("cancelled") == 2


def test_03_no_ingress_shows_the_real_commands(
    aws_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local node (NodeAddr 127.0.0.1) is an EC2 instance of the moto server's account,
    found by its private IP for the SSM route."""
    ec2 = ec2_client(aws_endpoint, REGION)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    node = ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, SubnetId=loopback_subnet(ec2),
        PrivateIpAddress="127.0.0.1",
    )["Instances"][0]["InstanceId"]  # fmt: skip
    monkeypatch.setenv("AWS_REGION", REGION)
    text = outputs(execute("03-no-ingress.ipynb", tmp_path, end_desktops=True))
    assert "ssh -N -L " in text
    assert f"aws ssm start-session --target {node} " in text
    for shell in ("bash / zsh:", "PowerShell 7.3+:", "cmd:"):
        assert shell in text
    assert text.count("cancelled") == 2


def test_04_for_instructors_shows_bounds_a_locked_launcher_and_the_class(tmp_path: Path) -> None:
    text = outputs(execute("04-for-instructors.ipynb", tmp_path, end_desktops=True))
    assert "partition    the cluster's default" in text and "CPUs           no limit" in text
    assert "max_cpus=" not in text and "LaunchRequest(" not in text  # words, not reprs
    assert "time: '8:00:00' is not valid; the site allows at most 4:00:00" in text
    assert text.count("application/vnd.jupyter.widget-view+json") >= 2  # launcher, overview
    assert "| running | dcv-node-1" in text
    assert "cancelled" in text


def test_notebooks_are_saved_without_outputs() -> None:
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


def test_05_ec2_instances_against_the_moto_server(
    aws_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The site's config (a Jupyter config folder) puts instances in a subnet whose addresses
    are loopback, so the panel's DCV probe never leaves this machine."""
    ec2 = ec2_client(aws_endpoint, REGION)
    subnet = loopback_subnet(ec2)
    launch_template(ec2, "dcv-workstation")
    config = tmp_path / "jupyter-config"
    config.mkdir()
    (config / "jupyter_dcv_widget_config.json").write_text(
        json.dumps({"InstanceSettings": {"subnet_id": subnet, "fast_poll": 1.0}})
    )
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(config))
    monkeypatch.setenv("AWS_REGION", REGION)

    notebook = execute("05-ec2-instances.ipynb", tmp_path)
    text = outputs(notebook)
    assert "application/vnd.jupyter.widget-view+json" in text  # the panel rendered
    assert "stopped" in text and "terminated" in text
    assert "tagged dcv-widget:idle=tutorial" in text  # the policy's own sentence
    assert "idle policy removed: True" in text
    states = {
        i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
    }
    assert states == {"terminated"}
    assert os.environ["AWS_ENDPOINT_URL"] == aws_endpoint  # the kernel inherited it


def test_05_without_aws_runs_to_the_end(tmp_path: Path) -> None:
    """No region, credentials or instance metadata here (tests/conftest.py): the panel still
    renders, and the AWS cells say they are skipped instead of failing."""
    text = outputs(execute("05-ec2-instances.ipynb", tmp_path))
    assert "application/vnd.jupyter.widget-view+json" in text  # the panel rendered
    assert "AWS is not set up here (the panel's box says what to set)" in text
    assert "No running Windows instance, or no key file" in text
