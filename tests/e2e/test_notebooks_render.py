"""Every tutorial notebook, run top to bottom in JupyterLab in Chromium (Run All, as a person
would): no cell fails and its widgets render. The AWS parts talk to the moto server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from .conftest import (
    AWS_REGION,
    NOTEBOOKS,
    Lab,
    ec2_client,
    launch_template,
    loopback_subnet,
    node_as_ec2_instance,
)
from .helpers import run_all_cells


def prepare_aws(name: str, lab: Lab, moto_server: str) -> None:
    """What each notebook's AWS cells need in the moto server's account."""
    if name.startswith("03"):
        node_as_ec2_instance(moto_server)
    if name.startswith("05"):
        ec2 = ec2_client(moto_server, AWS_REGION)
        launch_template(ec2, "dcv-workstation")
        settings = {"InstanceSettings": {"subnet_id": loopback_subnet(ec2), "fast_poll": 1.0}}
        lab.config.mkdir(parents=True, exist_ok=True)
        (lab.config / "jupyter_dcv_widget_config.json").write_text(json.dumps(settings))


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_the_notebook_runs_and_its_widgets_render(
    name: str, browser: Browser, lab: Lab, artifacts: Path, moto_server: str
) -> None:
    prepare_aws(name, lab, moto_server)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    stem = name.removesuffix(".ipynb")
    page.goto(lab.page_url(f"/lab/workspaces/{stem}/tree/notebooks/{name}"))
    run_all_cells(page)
    page.keyboard.press("Control+s")
    expect(page.locator(".jp-mod-dirty")).to_have_count(0, timeout=30_000)
    saved = json.loads((lab.root / "notebooks" / name).read_text())
    failed = [
        "".join(cell["source"])[:60]
        for cell in saved["cells"]
        for output in cell.get("outputs", [])
        if output["output_type"] == "error"
    ]
    assert not failed, failed
    widgets = page.locator(".dcv-widget")
    expect(widgets.first).to_be_visible(timeout=30_000)
    for i in range(widgets.count()):
        expect(widgets.nth(i).locator(".dcv-launcher")).to_be_visible()
        widgets.nth(i).screenshot(path=artifacts / f"notebook-{stem}-{i + 1}.png")
    if name.startswith("04"):  # the class overview: a toolbar, no Launch
        overview = widgets.filter(has=page.locator('.dcv-field[data-name="filter"]'))
        expect(overview).to_have_count(1)
        expect(overview.get_by_role("button", name="Launch")).to_have_count(0)
        expect(overview).to_contain_text("Class overview · dcv")
    page.close()
