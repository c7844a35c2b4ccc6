"""A person's path through the quickstart notebook, in Chromium against the real local Slurm."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, expect

from .conftest import Lab
from .helpers import (
    OtherOriginsBlocked,
    end_and_dismiss,
    launch_until_connect,
    run_all_cells,
)


def test_launch_connect_end_in_jupyterlab(
    browser: Browser, lab: Lab, artifacts: Path, in_live_queue: Callable[[str], bool]
) -> None:
    # Through JupyterLab, the default: every request to any other origin (HTTP and WebSocket)
    # is blocked, as for a browser that reaches nothing of the cluster but JupyterLab.
    blocking = OtherOriginsBlocked(lab.url)
    context = browser.new_context(viewport={"width": 1280, "height": 860}, proxy=blocking.proxy)
    page = context.new_page()
    page.goto(lab.page_url("/lab/tree/notebooks/01-quickstart.ipynb"))
    run_all_cells(page)

    card, job = launch_until_connect(page)
    connect = card.get_by_role("button", name="Connect")
    expect(card).to_have_attribute("data-state", "ready")
    # Ready is done, not in progress: nothing is left to happen on a ready desktop.
    expect(card.locator('.dcv-step[data-id="ready"]')).to_have_attribute("data-status", "done")
    page.screenshot(path=artifacts / "jupyterlab-ready.png")

    # The desktop opens in a Lab tab, from JupyterLab's own origin.
    connect.click()
    tab = page.locator(".dcv-desktop-tab")
    expect(tab).to_be_visible(timeout=30_000)
    frame = tab.locator("iframe")
    expect(frame).to_have_attribute(
        "src", re.compile(rf"/dcv-widget/open/{job}\?resize=remote&quality=6&compression=2$")
    )
    inside = page.frame_locator(".dcv-desktop-tab iframe")
    # noVNC marks the page connected once the VNC password from the URL fragment was accepted.
    expect(inside.locator("html.noVNC_connected")).to_have_count(1, timeout=60_000)
    page.wait_for_timeout(1500)  # let the first frame of the desktop paint for the screenshot
    page.screenshot(path=artifacts / "jupyterlab-desktop-tab.png")
    # The same desktop in a browser tab of its own (the ↗ button next to Connect).
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="01-quickstart").click()
    with context.expect_page() as opened:
        card.get_by_role("button", name="Open the desktop in a new browser tab").click()
    desktop = opened.value
    desktop.wait_for_url(re.compile(rf"^{re.escape(lab.url)}/dcv-widget/desktops/{job}/vnc\.html#"))
    expect(desktop.locator("html.noVNC_connected")).to_have_count(1, timeout=60_000)
    desktop.wait_for_timeout(1500)
    desktop.screenshot(path=artifacts / "novnc-desktop.png")
    assert desktop.evaluate("window.opener") is None
    assert "password" not in (desktop.evaluate("location.search") or "")
    desktop.close()
    # Nothing left JupyterLab's origin, and the blocking itself works: probes were stopped.
    # (Port 5999: Chromium itself refuses some ports, such as 9, before any proxy is asked.)
    page.evaluate("fetch('http://127.0.0.1:5999/probe').catch(() => null)")
    page.evaluate("fetch('http://10.255.255.1:5999/probe').catch(() => null)")
    page.wait_for_timeout(500)
    page.evaluate("new WebSocket('ws://127.0.0.1:5999/probe')")
    page.wait_for_timeout(500)
    assert blocking.blocked == [
        "http://127.0.0.1:5999/probe",
        "http://10.255.255.1:5999/probe",
        "127.0.0.1:5999",  # the WebSocket, which a proxy is asked to CONNECT to
    ], blocking.blocked
    blocking.close()

    end_and_dismiss(card, job, in_live_queue)
    context.close()


def test_widget_renders_in_notebook_7(browser: Browser, lab: Lab, artifacts: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(lab.page_url("/notebooks/notebooks/01-quickstart.ipynb"))
    run_all_cells(page)
    widget = page.locator(".dcv-widget")
    expect(widget.get_by_role("button", name="Launch", exact=True)).to_be_enabled(timeout=60_000)
    expect(widget.locator('.dcv-field[data-name="partition"]')).to_be_visible()
    page.screenshot(path=artifacts / "notebook7-launcher.png")
    page.close()
