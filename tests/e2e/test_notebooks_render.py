"""Every tutorial notebook, run top to bottom in JupyterLab in Chromium (Run All, as a person
would): no cell fails and its widgets render. The AWS parts talk to the moto server."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import (
    AWS_REGION,
    NOTEBOOKS,
    Lab,
    ec2_client,
    launch_template,
    loopback_subnet,
    node_as_ec2_instance,
    without_aws,
)
from .helpers import run_all_cells, switch_theme
from .lab import running_lab

# Desktops each notebook's Run All leaves running for the reader to see (its clean-up cell
# ends them only when the reader turns its switch on).
LEFT_RUNNING = {"01": 1, "02": 2, "03": 2, "04": 1}
SWITCH_OFF, SWITCH_ON = "END_DESKTOPS = False", "END_DESKTOPS = True"
# This notebook's cards: not those under "Your other desktops".
THIS_NOTEBOOKS = ".dcv-card:not(.dcv-others .dcv-card)"


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


def run_all_and_save(page: Page, lab: Lab, name: str, workspace: str) -> list[str]:
    """Open notebooks/`name` in a workspace of its own, Run All, save; the cells (their first
    60 characters) that ended in an error."""
    page.goto(lab.page_url(f"/lab/workspaces/{workspace}/tree/notebooks/{name}"))
    run_all_cells(page)
    page.keyboard.press("Control+s")
    expect(page.locator(".jp-mod-dirty")).to_have_count(0, timeout=30_000)
    saved = json.loads((lab.root / "notebooks" / name).read_text())
    return [
        "".join(cell["source"])[:60]
        for cell in saved["cells"]
        for output in cell.get("outputs", [])
        if output["output_type"] == "error"
    ]


def end_with_the_switch(page: Page, lab: Lab, name: str) -> None:
    """What a reader does to end the desktops: turn the clean-up cell's switch on (its text
    typed in anew) and run that cell."""
    saved = json.loads((lab.root / "notebooks" / name).read_text())
    (source,) = [
        "".join(c["source"]) for c in saved["cells"] if "".join(c["source"]).startswith(SWITCH_OFF)
    ]
    page.locator(".jp-CodeCell", has_text=SWITCH_OFF).locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(source.replace(SWITCH_OFF, SWITCH_ON, 1))
    page.keyboard.press("Shift+Enter")


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_the_notebook_runs_and_its_widgets_render(
    name: str, browser: Browser, lab: Lab, artifacts: Path, moto_server: str
) -> None:
    prepare_aws(name, lab, moto_server)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    stem = name.removesuffix(".ipynb")
    failed = run_all_and_save(page, lab, name, stem)
    assert not failed, failed
    widgets = page.locator(".dcv-widget")
    expect(widgets.first).to_be_visible(timeout=30_000)
    left = LEFT_RUNNING.get(stem[:2], 0)
    if left:
        said = page.locator(".jp-OutputArea-output", has_text=re.compile(r"keeps? running: End"))
        expect(said).to_have_count(1)
        ready = widgets.first.locator('.dcv-card[data-state="ready"]')
        expect(ready.nth(left - 1)).to_be_visible(timeout=60_000)
    for i in range(widgets.count()):
        expect(widgets.nth(i).locator(".dcv-launcher")).to_be_visible()
        widgets.nth(i).screenshot(path=artifacts / f"notebook-{stem}-{i + 1}.png")
    if name.startswith("04"):  # the class overview: a toolbar, no Launch
        overview = widgets.filter(has=page.locator('.dcv-field[data-name="filter"]'))
        expect(overview).to_have_count(1)
        expect(overview.get_by_role("button", name="Launch", exact=True)).to_have_count(0)
        expect(overview).to_contain_text("Class overview · dcv")
    if left:
        end_with_the_switch(page, lab, name)
        said = page.locator(".jp-OutputArea-output", has_text="cancelled")
        expect(said.first).to_be_visible(timeout=120_000)
        # The cards' update reached the page before the cell's words (one channel, in order):
        # no card of this notebook may still say Ready once the cell printed "cancelled".
        ready = widgets.first.locator(f'{THIS_NOTEBOOKS}[data-state="ready"]')
        assert ready.count() == 0, ready.all_inner_texts()
    page.close()


@pytest.fixture(scope="module")
def lab_without_aws(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[Lab]:
    """A JupyterLab whose kernels know no AWS at all: no region, no credentials, no profile,
    no instance metadata (a laptop that never ran `aws configure`)."""
    root = tmp_path_factory.mktemp("lab-without-aws")
    shutil.copytree(NOTEBOOKS, root / "notebooks")
    home = tmp_path_factory.mktemp("jupyter-home-without-aws")
    log = artifacts / "jupyterlab-without-aws.log"
    with running_lab(root, home, log, without_aws(os.environ)) as lab:
        yield lab


def test_05_without_aws_runs_to_the_end_and_its_panel_says_what_to_set(
    browser: Browser, lab_without_aws: Lab, artifacts: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    failed = run_all_and_save(page, lab_without_aws, "05-ec2-instances.ipynb", "05-without-aws")
    assert not failed, failed
    said = page.locator(".jp-OutputArea-output", has_text="AWS is not set up here (the panel's")
    expect(said).to_have_count(1)
    panel = page.locator(".dcv-widget").first
    box = panel.locator(".dcv-launcher-problem")
    expect(box).to_be_visible(timeout=30_000)
    expect(box).to_contain_text("AWS is not set up here")
    expect(box).to_contain_text("set c.InstanceSettings.region in jupyter_dcv_widget_config.py")
    expect(box).to_contain_text("No AWS credentials where JupyterLab runs")
    expect(box).not_to_contain_text("Error")
    expect(panel.get_by_role("button", name="Launch", exact=True)).to_be_disabled()
    expect(panel.locator(".dcv-launcher-message")).to_be_hidden()  # no launch was tried
    for theme, suffix in (("JupyterLab Light", "light"), ("JupyterLab Dark", "dark")):
        switch_theme(page, theme)
        panel.scroll_into_view_if_needed()
        panel.screenshot(path=artifacts / f"instances-no-aws-{suffix}.png")
    page.close()
