"""What the widget shows is true (issue 14): a widget without its kernel says so, and a notebook
shows its own desktops first, the user's others apart, in Chromium against the real Slurm."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from .conftest import Lab
from .helpers import LAUNCH_TIMEOUT, launch, run_all_cells, switch_theme, write_notebook

CELL = 'from dcv_widget import Desktop\nDesktop(partition="dcv", time="10")'


def _open(browser: Browser, lab: Lab, name: str) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    # A workspace of its own: JupyterLab would otherwise reopen the other tests' notebooks.
    page.goto(lab.page_url(f"/lab/workspaces/{name}/tree/{name}.ipynb"))
    run_all_cells(page)
    return page


def test_a_widget_whose_kernel_restarted_says_so_and_stops_acting(
    browser: Browser, lab: Lab, artifacts: Path
) -> None:
    write_notebook(str(lab.root / "restart.ipynb"), CELL)
    page = _open(browser, lab, "restart")
    widget = page.locator(".dcv-widget").first
    launch_button = widget.get_by_role("button", name="Launch", exact=True)
    expect(launch_button).to_be_enabled(timeout=60_000)
    expect(widget.locator(".dcv-disconnected")).to_be_hidden()

    page.get_by_role("menuitem", name="Kernel").click()
    page.get_by_role("menuitem", name="Restart Kernel…").click()
    page.get_by_role("button", name="Confirm Kernel Restart").click()

    banner = widget.locator(".dcv-disconnected")
    expect(banner).to_be_visible(timeout=30_000)
    expect(banner).to_contain_text("The kernel restarted or stopped")
    expect(banner).to_contain_text("Run this cell again")
    # Inert: the form no longer takes a click (Playwright waits for an actionable button).
    assert widget.locator(".dcv-launcher").evaluate("el => el.inert") is True
    widget.screenshot(path=artifacts / "widget-disconnected-light.png")
    switch_theme(page, "JupyterLab Dark")
    widget.screenshot(path=artifacts / "widget-disconnected-dark.png")
    switch_theme(page, "JupyterLab Light")
    page.close()


def test_a_notebook_shows_its_own_desktops_first_and_the_others_apart(
    browser: Browser, lab: Lab, artifacts: Path
) -> None:
    write_notebook(str(lab.root / "first.ipynb"), CELL)
    write_notebook(str(lab.root / "second.ipynb"), CELL)
    first = _open(browser, lab, "first")
    mine = launch(first.locator(".dcv-widget").first)
    expect(mine).to_have_attribute("data-state", "ready", timeout=LAUNCH_TIMEOUT)
    job = mine.get_attribute("data-job-id")

    second = _open(browser, lab, "second")
    widget = second.locator(".dcv-widget").first
    others = widget.locator(".dcv-others")
    expect(others).to_be_visible(timeout=60_000)
    # Its own summary: the cards inside have theirs (a ready noVNC card's Display choice).
    summary = others.locator("> summary")
    expect(summary).to_contain_text("Your other desktops (1)")
    # Closed until opened: nothing of the other notebook's is one click from ending.
    assert others.evaluate("el => el.open") is False
    theirs = others.locator(f'.dcv-card[data-job-id="{job}"]')
    expect(theirs).to_be_hidden()
    summary.click()
    expect(theirs).to_be_visible()
    theirs.get_by_role("button", name="End").click()
    expect(theirs.locator(".dcv-confirm-question")).to_contain_text(
        "It was launched from another notebook."
    )
    widget.screenshot(path=artifacts / "widget-other-desktops-light.png")
    theirs.get_by_role("button", name="Keep").click()
    # In its own notebook the same desktop is not "other".
    expect(first.locator(".dcv-widget").first.locator(".dcv-others")).to_be_hidden()
    mine.get_by_role("button", name="End").click()
    mine.get_by_role("button", name="End desktop").click()
    expect(mine).to_have_attribute("data-state", "ended", timeout=60_000)
    first.close()
    second.close()
