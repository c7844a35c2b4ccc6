"""`Instances()` in Chromium against the moto server: the same cards as Slurm desktops, a
launch from a template, Stop asked and kept, then stopped, Terminate asked and done."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from .conftest import AWS_REGION, Lab, ec2_client, launch_template, loopback_subnet
from .helpers import launch as launch_instance
from .helpers import run_all_cells, write_notebook


def test_instances_panel(browser: Browser, lab: Lab, artifacts: Path, moto_server: str) -> None:
    ec2 = ec2_client(moto_server, AWS_REGION)
    subnet = loopback_subnet(ec2)
    launch_template(ec2, "e2e-workstation")
    write_notebook(
        str(lab.root / "instances.ipynb"),
        "from dcv_widget import Instances\nfrom dcv_widget.settings import InstanceSettings\n"
        f'settings = InstanceSettings(launch_template="e2e-workstation", subnet_id="{subnet}", '
        'owner="e2e", fast_poll=1.0)\nInstances(settings=settings, name="e2e desk")',
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(lab.page_url("/lab/workspaces/instances-ui/tree/instances.ipynb"))
    run_all_cells(page)
    panel = page.locator(".dcv-widget").first
    launch = panel.get_by_role("button", name="Launch", exact=True)
    expect(launch).to_be_enabled(timeout=60_000)

    card = launch_instance(panel)
    expect(card).to_contain_text("e2e desk", timeout=30_000)
    expect(card).to_have_attribute("data-state", "launching", timeout=30_000)
    expect(card).to_contain_text("waiting for DCV to answer", timeout=30_000)
    expect(card.get_by_role("button", name="Connect")).to_have_count(0)
    card.screenshot(path=artifacts / "instance-starting-light.png")

    card.get_by_role("button", name="Stop", exact=True).click()
    card.get_by_role("button", name="Keep running").click()
    expect(card).to_have_attribute("data-state", "launching")
    card.get_by_role("button", name="Stop", exact=True).click()
    card.get_by_role("button", name="Stop instance").click()
    expect(card).to_have_attribute("data-state", "stopped", timeout=60_000)
    expect(card.get_by_role("button", name="Start")).to_be_visible()
    card.screenshot(path=artifacts / "instance-stopped-light.png")

    card.get_by_role("button", name="Terminate", exact=True).click()
    card.get_by_role("button", name="Terminate instance").click()
    expect(card).to_have_attribute("data-state", "ended", timeout=60_000)
    expect(card).to_contain_text("terminated")
    expect(card.get_by_role("button")).to_have_count(0)
    page.close()
