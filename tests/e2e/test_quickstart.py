"""A person's path through the quickstart notebook, in Chromium against the real local Slurm."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from .conftest import Lab

LAUNCH_TIMEOUT = 120_000


def run_all_cells(page: Page) -> None:
    """Run the notebook through the menu, as a person would, once its kernel is idle."""
    expect(page.locator(".jp-Notebook")).to_be_visible(timeout=60_000)
    idle = page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')
    expect(idle).to_have_count(1, timeout=60_000)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def test_launch_connect_end_in_jupyterlab(
    browser: Browser, lab: Lab, artifacts: Path, in_live_queue: Callable[[str], bool]
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(lab.page_url("/lab/tree/notebooks/01-quickstart.ipynb"))
    run_all_cells(page)

    widget = page.locator(".dcv-widget")
    expect(widget.get_by_role("button", name="Launch")).to_be_visible(timeout=60_000)
    expect(widget.get_by_role("status")).to_have_text("Not launched")
    widget.screenshot(path=artifacts / "widget-launcher.png")

    widget.get_by_role("button", name="Launch").click()
    connect = widget.get_by_role("button", name="Connect")
    expect(connect).to_be_visible(timeout=LAUNCH_TIMEOUT)
    expect(widget.get_by_role("status")).to_have_text(re.compile(r"^Ready: running on dcv-node-1"))
    job_id = re.search(r"job (\d+)", widget.inner_text())
    assert job_id, widget.inner_text()
    page.screenshot(path=artifacts / "jupyterlab-ready.png")

    with context.expect_page() as opened:
        connect.click()
    desktop = opened.value
    desktop.wait_for_url(re.compile(r"/vnc\.html"), timeout=30_000)
    # noVNC marks the page connected once the VNC password from the URL fragment was accepted.
    expect(desktop.locator("html.noVNC_connected")).to_have_count(1, timeout=60_000)
    desktop.wait_for_timeout(1500)  # let the first frame of the desktop paint for the screenshot
    desktop.screenshot(path=artifacts / "novnc-desktop.png")
    assert "password" not in (desktop.evaluate("location.search") or "")
    desktop.close()

    widget.get_by_role("button", name="End").click()
    expect(widget.get_by_role("status")).to_have_text(
        re.compile(r"^Ended: cancelled"), timeout=60_000
    )
    expect(widget.get_by_role("button", name="Launch")).to_be_visible()
    widget.screenshot(path=artifacts / "widget-ended.png")
    assert not in_live_queue(job_id.group(1))
    context.close()


def test_widget_renders_in_notebook_7(browser: Browser, lab: Lab, artifacts: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(lab.page_url("/notebooks/notebooks/01-quickstart.ipynb"))
    run_all_cells(page)
    widget = page.locator(".dcv-widget")
    expect(widget.get_by_role("button", name="Launch")).to_be_visible(timeout=60_000)
    page.screenshot(path=artifacts / "notebook7-launcher.png")
    page.close()
