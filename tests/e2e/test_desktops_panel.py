"""Desktops without a notebook cell, in Chromium against the real local Slurm: JupyterLab's
Desktops panel (left sidebar) launches, connects in a Lab tab and ends; a desktop launched from a
notebook shows in the panel and ending it there ends it on the notebook's card; the Launcher's
Desktop tile launches with the site's defaults and opens the desktop once ready."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from .conftest import Lab
from .helpers import (
    LAUNCH_TIMEOUT,
    end_and_dismiss,
    end_with_confirmation,
    expect_noVNC_in_lab_tab,
    launch,
    run_all_cells,
    switch_theme,
    write_notebook,
)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    yield context
    context.close()


def open_lab(context: BrowserContext, lab: Lab, workspace: str, path: str = "") -> Page:
    """JupyterLab in a workspace of its own (it would reopen other tests' notebooks)."""
    page = context.new_page()
    page.goto(lab.page_url(f"/lab/workspaces/{workspace}{path}"))
    expect(page.locator(".jp-LabShell")).to_be_visible(timeout=60_000)
    return page


def open_panel_by_keyboard(page: Page) -> Locator:
    """The command palette, by keys only, shows the panel and puts the focus in it."""
    page.keyboard.press("Control+Shift+C")
    page.keyboard.type("Show Desktops panel")
    page.keyboard.press("Enter")
    panel = page.locator("#dcv-desktops-panel")
    expect(panel).to_be_visible()
    expect(panel.locator(":focus")).to_have_count(1)
    return panel


def test_the_panel_launches_connects_and_ends_without_a_notebook(
    context: BrowserContext, lab: Lab, artifacts: Path, in_live_queue: Callable[[str], bool]
) -> None:
    page = open_lab(context, lab, "desktops-panel")
    assert page.locator(".jp-Notebook").count() == 0
    # The panel's tab in the left sidebar, with its icon and name.
    tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="dcv-desktops-panel"]')
    expect(tab).to_be_visible()
    expect(tab).to_have_attribute("title", "Desktops on the cluster")
    expect(tab.locator("svg")).to_have_count(1)
    panel = open_panel_by_keyboard(page)
    expect(panel.get_by_role("heading", name="Desktops")).to_be_visible()
    launch_button = panel.get_by_role("button", name="Launch", exact=True)
    expect(launch_button).to_be_enabled(timeout=60_000)
    expect(
        panel.locator('.dcv-field[data-name="partition"] option', has_text="CPUs idle").first
    ).to_be_attached(timeout=30_000)
    panel.screenshot(path=artifacts / "panel-launcher-light.png")

    # A bad value is named under its field by the server, as the widget's kernel does.
    time_input = panel.locator('.dcv-field[data-name="time"] input')
    time_input.fill("1h")
    time_input.press("Tab")
    expect(panel.locator('.dcv-field[data-name="time"] .dcv-field-error')).to_contain_text(
        "Time limit: '1h' is not valid"
    )
    expect(launch_button).to_be_disabled()
    time_input.fill("15")
    time_input.press("Tab")
    expect(launch_button).to_be_enabled()

    card = launch(panel)
    job = ""
    try:
        connect = card.get_by_role("button", name="Connect")
        expect(connect).to_be_visible(timeout=LAUNCH_TIMEOUT)
        job = card.get_attribute("data-job-id") or ""
        assert job.isdigit(), card.inner_text()
        expect(card).to_have_attribute("data-state", "ready")
        expect(card.locator('.dcv-step[data-id="ready"]')).to_have_attribute("data-status", "done")
        page.wait_for_timeout(500)
        panel.screenshot(path=artifacts / "panel-ready-light.png")
        switch_theme(page, "JupyterLab Dark")
        panel.screenshot(path=artifacts / "panel-ready-dark.png")
        switch_theme(page, "JupyterLab Light")

        connect.click()
        expect_noVNC_in_lab_tab(page, job)
        page.wait_for_timeout(1500)
        page.screenshot(path=artifacts / "panel-desktop-tab.png")

        # The palette offers the desktop by its job id (opened from the menu: noVNC in the tab
        # takes the keyboard focus).
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^View$")).click()
        page.locator(".lm-Menu-itemLabel", has_text="Activate Command Palette").click()
        palette = page.locator(".lm-CommandPalette")
        palette.locator(".lm-CommandPalette-input").fill(f"desktop {job}")
        expect(
            palette.locator(".lm-CommandPalette-item", has_text=f"Open desktop {job}")
        ).to_be_visible()
        expect(
            palette.locator(".lm-CommandPalette-item", has_text=f"End desktop {job}")
        ).to_be_visible()
        page.keyboard.press("Escape")

        end_and_dismiss(card, job, in_live_queue)
    finally:
        cancel(job or card.get_attribute("data-job-id") or "")


def test_a_notebooks_desktop_shows_in_the_panel_and_ends_there(
    context: BrowserContext, lab: Lab, artifacts: Path, in_live_queue: Callable[[str], bool]
) -> None:
    write_notebook(
        str(lab.root / "panel-and-widget.ipynb"), "from dcv_widget import Desktop\nDesktop()"
    )
    page = open_lab(context, lab, "panel-and-widget", "/tree/panel-and-widget.ipynb")
    run_all_cells(page)
    widget = page.locator(".jp-Notebook .dcv-widget")
    expect(widget.get_by_role("button", name="Launch", exact=True)).to_be_enabled(timeout=60_000)
    notebook_card = launch(widget)
    expect(notebook_card.get_by_role("button", name="Connect")).to_be_visible(
        timeout=LAUNCH_TIMEOUT
    )
    job = notebook_card.get_attribute("data-job-id") or ""
    assert job.isdigit()

    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="dcv-desktops-panel"]').click()
    panel = page.locator("#dcv-desktops-panel")
    # Adopted by the server from the job's comment within a slow poll (15 s).
    panel_card = panel.locator(f'.dcv-card[data-job-id="{job}"]')
    expect(panel_card).to_have_attribute("data-state", "ready", timeout=60_000)
    page.screenshot(path=artifacts / "panel-beside-notebook-light.png")
    end_with_confirmation(panel_card)
    expect(panel_card).to_have_attribute("data-state", "ended", timeout=60_000)
    # The notebook's card follows at its kernel's next look at Slurm.
    expect(notebook_card).to_have_attribute("data-state", "ended", timeout=60_000)
    assert not in_live_queue(job)


def test_the_launcher_tile_launches_and_opens_the_desktop_when_ready(
    context: BrowserContext, lab: Lab, artifacts: Path, in_live_queue: Callable[[str], bool]
) -> None:
    # A workspace with no document opens JupyterLab's Launcher.
    page = open_lab(context, lab, "desktop-tile")
    tile = page.locator('.jp-LauncherCard[title^="A remote desktop on the cluster"]')
    expect(tile).to_be_visible(timeout=30_000)
    expect(tile).to_contain_text("Desktop")
    page.locator(".jp-Launcher-section", has=tile).screenshot(
        path=artifacts / "launcher-tile-light.png"
    )
    panel = page.locator("#dcv-desktops-panel")
    before = set(card_keys(panel))
    tile.click()
    # The panel shows the desktop on its way; it opens in a Lab tab once ready.
    expect(panel).to_be_visible()
    deadline = time.monotonic() + 30
    while not (new := [k for k in card_keys(panel) if k not in before]):
        assert time.monotonic() < deadline, "no card appeared after the tile's launch"
        time.sleep(0.2)
    card = panel.locator(f'.dcv-card[data-key="{new[0]}"]')
    job = ""
    try:
        expect(page.locator(".dcv-desktop-tab")).to_be_visible(timeout=LAUNCH_TIMEOUT)
        job = card.get_attribute("data-job-id") or ""
        assert job.isdigit()
        expect_noVNC_in_lab_tab(page, job)
        end_with_confirmation(card)
        expect(card).to_have_attribute("data-state", "ended", timeout=60_000)
        assert not in_live_queue(job)
    finally:
        cancel(job or card.get_attribute("data-job-id") or "")


def card_keys(panel: Locator) -> list[str]:
    keys = panel.locator(".dcv-card").evaluate_all("cards => cards.map(c => c.dataset.key)")
    return [k for k in keys if k]


def cancel(job: str) -> None:
    """The panel's desktops are the server's, submitted from its folder: the e2e clean-up
    (conftest.no_desktop_left) does not see them, so each test cancels its own."""
    if job.isdigit():
        subprocess.run(["scancel", job], check=False)


def test_notebook_7_has_the_panel_in_a_notebook_pages_left_sidebar(
    context: BrowserContext, lab: Lab, artifacts: Path
) -> None:
    """Notebook 7 has no Launcher and no command palette shortcut; its notebook page has a left
    sidebar, where the panel is: View, Left Sidebar, Show Desktops on the cluster."""
    write_notebook(str(lab.root / "notebook7-panel.ipynb"), "1 + 1")
    page = context.new_page()
    page.goto(lab.page_url("/notebooks/notebook7-panel.ipynb"))
    expect(page.locator(".jp-Notebook")).to_be_visible(timeout=60_000)
    panel = page.locator("#dcv-desktops-panel")
    expect(panel).to_be_hidden()
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^View$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Left Sidebar$")).click()
    page.locator(".lm-Menu-itemLabel", has_text="Show Desktops on the cluster").click()
    expect(panel).to_be_visible()
    expect(panel.get_by_role("button", name="Launch", exact=True)).to_be_enabled(timeout=60_000)
    page.wait_for_timeout(500)
    page.screenshot(path=artifacts / "notebook7-panel-light.png")
