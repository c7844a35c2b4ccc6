"""The Display choice of a noVNC desktop, in Chromium against a real desktop (TigerVNC, websockify,
noVNC on the local Slurm): chosen on the card, kept by the browser across a reload (the widget's
card and the Desktops panel's alike), and used by noVNC's RFB once Connect opens the desktop."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Frame, Locator, Page, expect
from playwright.sync_api import Error as PlaywrightError

from .conftest import Lab
from .helpers import (
    end_and_dismiss,
    expect_noVNC_in_lab_tab,
    launch_until_connect,
    run_all_cells,
    switch_theme,
    write_notebook,
)

CHOSEN = "Display: scaled in the browser · quality 2 · compression 8"
DEFAULT = "Display: resized to the window · quality 6 · compression 2"
# What noVNC's page made of its URL: its RFB object, read from its own module (noVNC 1.3 keeps
# `UI` in app/ui.js; importing the same URL again yields the page's instance).
RFB_SETTINGS = """async () => {
    const UI = (await import(new URL('app/ui.js', location.href).href)).default;
    const rfb = UI.rfb;
    return {
        quality: rfb.qualityLevel,
        compression: rfb.compressionLevel,
        scale: rfb.scaleViewport,
        resize: rfb.resizeSession,
        search: location.search,
    };
}"""


def choose(card: Locator, page: Page) -> None:
    """Scale, quality 2 and compression 8, by keyboard on the sliders, as a person would."""
    card.locator(".dcv-display > summary").click()
    card.get_by_label("Scale it in the browser").check()
    quality = card.get_by_role("slider", name="Quality")
    quality.focus()
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    compression = card.get_by_role("slider", name="Compression")
    compression.focus()
    page.keyboard.press("End")
    page.keyboard.press("ArrowLeft")


def save_and_reload(page: Page, job: str) -> Locator:
    """Save the notebook (its output and widget state), reload the page: the widget's card of
    desktop `job`, once the view shows it again."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^File$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Save Notebook$")).click()
    expect(page.locator(".jp-Document.jp-mod-dirty")).to_have_count(0, timeout=30_000)
    page.reload()
    card = page.locator(f'.jp-OutputArea .dcv-widget .dcv-card[data-job-id="{job}"]')
    expect(card).to_be_visible(timeout=60_000)
    return card


def novnc_frame(page: Page, job: str) -> Frame:
    for frame in page.frames:
        if re.search(rf"/dcv-widget/desktops/{job}/vnc\.html#", frame.url):
            return frame
    raise AssertionError(f"no noVNC page among {[f.url for f in page.frames]}")


def reconnected(page: Page, job: str) -> dict[str, Any] | None:
    """noVNC's settings in its page once it is connected again; None while it loads."""
    try:
        connected = novnc_frame(page, job).evaluate(
            "() => document.documentElement.classList.contains('noVNC_connected')"
        )
        return novnc_frame(page, job).evaluate(RFB_SETTINGS) if connected else None
    except (AssertionError, PlaywrightError):
        return None  # the frame is between the Connect entry and noVNC's page


def test_display_choice_reaches_novnc_and_is_kept_by_the_browser(
    browser: Browser, lab: Lab, artifacts: Path, in_live_queue: Callable[[str], bool]
) -> None:
    write_notebook(str(lab.root / "display.ipynb"), "from dcv_widget import Desktop\nDesktop()")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(lab.page_url("/lab/workspaces/display/tree/display.ipynb"))
    run_all_cells(page)
    card, job = launch_until_connect(page)
    try:
        summary = card.locator(".dcv-display > summary")
        expect(summary).to_have_text(DEFAULT)  # a browser that never chose: noVNC's levels
        choose(card, page)
        expect(summary).to_have_text(CHOSEN)
        expect(card.get_by_label("Scale it in the browser")).to_be_checked()
        card.scroll_into_view_if_needed()
        card.screenshot(path=artifacts / "display-control-light.png")
        switch_theme(page, "JupyterLab Dark")
        card.screenshot(path=artifacts / "display-control-dark.png")
        switch_theme(page, "JupyterLab Light")
        stored: dict[str, Any] = page.evaluate(
            f"""() => ({{
                desktop: JSON.parse(localStorage.getItem('dcv-widget.display.job.{job}')),
                fallback: JSON.parse(localStorage.getItem('dcv-widget.display.default')),
            }})"""
        )
        assert {k: stored["desktop"][k] for k in ("resize", "quality", "compression")} == {
            "resize": "scale",
            "quality": 2,
            "compression": 8,
        }
        assert stored["fallback"] == {"resize": "scale", "quality": 2, "compression": 8}

        # Connect: the Lab tab's page carries the choice to noVNC, which connects with it.
        card.get_by_role("button", name="Connect").click()
        expect_noVNC_in_lab_tab(page, job, "resize=scale&quality=2&compression=8")
        inside = page.frame_locator(".dcv-desktop-tab iframe")
        rfb = novnc_frame(page, job).evaluate(RFB_SETTINGS)
        assert rfb == {
            "quality": 2,
            "compression": 8,
            "scale": True,
            "resize": False,
            "search": "",  # nothing (password, settings) went to a server in the page's URL
        }
        # Scaled: the 1600x900 desktop fits the tab, whole and smaller.
        canvas = inside.locator("#noVNC_container canvas")
        size = canvas.evaluate("c => [c.width, c.height, c.clientWidth, c.clientHeight]")
        assert size[:2] == [1600, 900] and size[2] < 1600, size
        page.wait_for_timeout(1500)  # the desktop's first frames paint for the screenshot
        page.screenshot(path=artifacts / "display-novnc-scaled.png")

        # A new choice for the open desktop: Connect again reloads its tab (the same one) with it.
        page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="display.ipynb").click()
        card.get_by_role("slider", name="Quality").focus()
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        card.get_by_role("button", name="Connect").click()
        expect_noVNC_in_lab_tab(page, job, "resize=scale&quality=5&compression=8")
        expect(page.locator(".dcv-desktop-tab")).to_have_count(1)
        deadline = time.monotonic() + 60
        while (rfb := reconnected(page, job)) is None or rfb["quality"] != 5:
            assert time.monotonic() < deadline, rfb
            page.wait_for_timeout(500)
        assert (rfb["compression"], rfb["scale"]) == (8, True)
        page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="display.ipynb").click()
        card.get_by_role("slider", name="Quality").focus()
        for _ in range(3):
            page.keyboard.press("ArrowLeft")  # back to 2, for what follows

        # The browser keeps the choice: after a reload the widget's card shows it, and so does
        # the Desktops panel's card of the same desktop.
        card = save_and_reload(page, job)
        expect(card.locator(".dcv-display > summary")).to_have_text(CHOSEN)
        page.keyboard.press("Control+Shift+C")
        page.keyboard.type("Show Desktops panel")
        page.keyboard.press("Enter")
        in_panel = page.locator(f'#dcv-desktops-panel .dcv-card[data-job-id="{job}"]')
        # The server adopts a notebook's desktop at its next look at the queue (slow_poll, 60 s).
        expect(in_panel).to_be_visible(timeout=90_000)
        expect(in_panel.locator(".dcv-display > summary")).to_have_text(CHOSEN)

        # A stored choice that is not noVNC's (edited by hand, an older version) is not used:
        # the card falls back to the browser's default, then to noVNC's.
        page.evaluate(
            f"""() => {{
                localStorage.setItem('dcv-widget.display.job.{job}',
                    JSON.stringify({{resize: 'scale', quality: 12, compression: 8}}));
                localStorage.removeItem('dcv-widget.display.default');
            }}"""
        )
        card = save_and_reload(page, job)
        expect(card.locator(".dcv-display > summary")).to_have_text(DEFAULT)
    finally:
        end_and_dismiss(card, job, in_live_queue)
        context.close()
