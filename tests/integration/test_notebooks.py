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


def execute(name: str, folder: Path) -> Any:
    """The notebook after running every cell in a fresh kernel, in `folder`."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)  # type: ignore[no-untyped-call]
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
