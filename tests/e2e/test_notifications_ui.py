"""Notifications and honest countdowns, in Chromium against the real local Slurm: a desktop that
becomes ready while its notebook is not the Lab tab in front notifies once (a JupyterLab toast
and, allowed, a browser notification) however many views show it (two widgets, the panel); the
time left is right on a browser whose clock is 7 minutes ahead, and the 15-minute notice comes
on the cluster's clock; an idle DCV desktop (the stand-in node) says when it ends unless someone
connects, and warns once; the browser is asked for permission only on a click; a Lab setting
turns a notification off."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from .conftest import Lab
from .helpers import (
    LAUNCH_TIMEOUT,
    end_with_confirmation,
    launch,
    run_all_cells,
    switch_theme,
    write_notebook,
)

# pytest puts tests/ on sys.path (it has no __init__.py); mypy knows it by its path.
if TYPE_CHECKING:
    from tests.integration.fake_dcv import running_fake_dcv
else:
    from integration.fake_dcv import running_fake_dcv

# Every browser notification the page makes, recorded (the real one is still shown).
RECORD_NOTIFICATIONS = """
(() => {
  window.__dcvNotifications = [];
  const Real = window.Notification;
  if (!Real) return;
  class Recording extends Real {
    constructor(title, options) {
      super(title, options);
      window.__dcvNotifications.push({ title, body: (options || {}).body || '' });
    }
  }
  window.Notification = Recording;
})();
"""

# This browser's clock 7 minutes ahead of the machine's (Date.now, what every countdown reads).
SKEW_SECONDS = 7 * 60
SKEWED_CLOCK = f"""
(() => {{
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() + {SKEW_SECONDS * 1000};
}})();
"""

# document.hidden under the test's control (headless Chromium never backgrounds a tab).
HIDDEN_ON_DEMAND = """
(() => {
  Object.defineProperty(Document.prototype, 'hidden', { get: () => window.__dcvHidden === true });
  Object.defineProperty(Document.prototype, 'visibilityState', {
    get: () => (window.__dcvHidden === true ? 'hidden' : 'visible'),
  });
})();
"""


@pytest.fixture
def context(browser: Browser, lab: Lab) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1300, "height": 950})
    context.grant_permissions(["notifications"], origin=lab.url)
    context.add_init_script(RECORD_NOTIFICATIONS)
    yield context
    context.close()


def open_notebook(context: BrowserContext, lab: Lab, workspace: str, name: str) -> Page:
    page = context.new_page()
    page.goto(lab.page_url(f"/lab/workspaces/{workspace}/tree/{name}"))
    run_all_cells(page)
    return page


def browser_notifications(page: Page, job: str) -> list[str]:
    """The bodies of the browser notifications about desktop `job` (other runs' desktops of the
    same user show, and notify, too)."""
    notes: list[dict[str, str]] = page.evaluate("window.__dcvNotifications")
    return [n["body"] for n in notes if f"Desktop {job} " in n["body"]]


def toast(page: Page, job: str, text: str) -> Locator:
    """JupyterLab's toast about desktop `job` that says `text`."""
    return page.locator(".Toastify__toast", has_text=f"Desktop {job} ").filter(has_text=text)


def seconds(text: str) -> int:
    """'19m 02s left' / '1h 02m left' / '42s' as seconds."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([dhms])", text))


def slurm_time_left(job: str) -> int:
    """squeue's time left for the job (its own clock), in seconds: [D-]H:MM:SS or M:SS."""
    squeue = ["squeue", "-j", job, "--noheader", "--format=%L"]
    out = subprocess.run(squeue, capture_output=True, text=True, check=True).stdout.strip()
    days, _, clock = out.rpartition("-")
    total = 0
    for part in clock.split(":"):
        total = total * 60 + int(part)
    return total + int(days or 0) * 86400


def test_ready_in_the_background_notifies_once_and_the_time_left_ignores_the_browsers_clock(
    context: BrowserContext, lab: Lab, artifacts: Path
) -> None:
    context.add_init_script(SKEWED_CLOCK)
    write_notebook(
        str(lab.root / "notify-ready.ipynb"),
        'from dcv_widget import Desktop\nDesktop(partition="dcv", time="17")',
        'Desktop(partition="dcv", time="17")',  # a second view of the kernel's desktops
    )
    page = open_notebook(context, lab, "notify-ready", "notify-ready.ipynb")
    widget = page.locator(".dcv-widget").first
    expect(widget.get_by_role("button", name="Launch", exact=True)).to_be_enabled(timeout=60_000)
    card = launch(widget)
    expect(card).to_have_attribute("data-job-id", re.compile(r"^\d+$"), timeout=30_000)
    job = card.get_attribute("data-job-id") or ""
    # Both widgets of the notebook show it: two views that see it become ready.
    other_view = page.locator(".dcv-widget").nth(1).locator(f'.dcv-card[data-job-id="{job}"]')
    expect(other_view).to_be_attached(timeout=30_000)
    # While it starts, the user works in another Lab tab: the notebook is not the one in front
    # (a real Lab tab switch, no emulation), and the Desktops panel is closed.
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^File$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^New Launcher$")).click()
    expect(page.locator(".jp-Launcher").first).to_be_visible()
    expect(widget).to_be_hidden()
    ready = toast(page, job, "is ready.")
    expect(ready).to_have_count(1, timeout=LAUNCH_TIMEOUT)
    expect(ready.get_by_role("button", name="Open desktop")).to_be_visible()
    ready.screenshot(path=artifacts / "notification-ready-light.png")
    expect(other_view).to_have_attribute("data-state", "ready")
    page.wait_for_timeout(2_000)  # both views have had the news: still one of each
    expect(ready).to_have_count(1)
    notes = browser_notifications(page, job)
    assert notes == [f"Desktop {job} · noVNC on partition dcv is ready."], notes

    # Back in the notebook: the time left is Slurm's, though this browser's clock is 7 minutes
    # ahead (uncorrected, it would show 7 minutes less).
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="notify-ready.ipynb").click()
    expect(card).to_be_visible()
    shown = seconds(card.locator(".dcv-time-left").inner_text())
    assert abs(shown - slurm_time_left(job)) < 60, (shown, slurm_time_left(job))
    # The Desktops panel (its own clock: the Jupyter server's Date header) says the same.
    page.keyboard.press("Control+Shift+C")
    page.keyboard.type("Show Desktops panel")
    page.keyboard.press("Enter")
    in_panel = page.locator(f'#dcv-desktops-panel .dcv-card[data-job-id="{job}"]')
    # (The panel adopts a notebook's desktop at its next look at the queue: within a minute.)
    expect(in_panel.locator(".dcv-time-left")).to_be_visible(timeout=90_000)
    shown = seconds(in_panel.locator(".dcv-time-left").inner_text())
    assert abs(shown - slurm_time_left(job)) < 60, (shown, slurm_time_left(job))
    # The panel saw the same desktop become ready (its hidden poll, or now): no second word
    # (the toast and the browser notification go together; the toast has closed by itself).
    page.wait_for_timeout(3_000)
    assert len(browser_notifications(page, job)) == 1

    # Out of sight again (the panel closed, the Launcher in front): 15 minutes before its time
    # limit (2 minutes into its 17), on the cluster's clock, it says so. On the browser's clock
    # the desktop would have had less than 15 minutes from the start, and never notified.
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="dcv-desktops-panel"]').click()
    expect(in_panel).to_be_hidden()
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Launcher").click()
    expect(widget).to_be_hidden()
    limit = toast(page, job, "reaches its time limit in 15 min")
    expect(limit).to_have_count(1, timeout=150_000)
    limit.screenshot(path=artifacts / "notification-time-limit-light.png")
    bodies = browser_notifications(page, job)
    assert bodies[1:] == [
        f"Desktop {job} · noVNC on partition dcv reaches its time limit in 15 min: save your work."
    ], bodies


def test_an_idle_dcv_desktop_says_when_it_ends_and_warns_once(
    context: BrowserContext, lab: Lab, artifacts: Path, tmp_path: Path
) -> None:
    context.add_init_script(HIDDEN_ON_DEMAND)
    with running_fake_dcv(tmp_path) as node:
        # The kernel's jobs run on the stand-in DCV node (sbatch hands them its environment);
        # the idle watch looks every 5 s from the start, and a minute alone ends the desktop.
        write_notebook(
            str(lab.root / "notify-idle.ipynb"),
            "import json, os\n"
            f"os.environ.update(json.loads({json.dumps(json.dumps(node.env))}))\n"
            "from dcv_widget import Desktop\n"
            "from dcv_widget.desktops.engines import ENGINES\n"
            "from dcv_widget.desktops.engines.dcv import DCVEngine\n"
            'ENGINES["dcv"] = DCVEngine(idle_grace=0, poll_seconds=5)\n'
            'Desktop(partition="dcv", engine="dcv", time="10", idle_timeout=1)',
        )
        page = open_notebook(context, lab, "notify-idle", "notify-idle.ipynb")
        widget = page.locator(".dcv-widget").first
        expect(widget.get_by_role("button", name="Launch", exact=True)).to_be_enabled(
            timeout=60_000
        )
        card = launch(widget)
        expect(card).to_have_attribute("data-state", "ready", timeout=LAUNCH_TIMEOUT)
        job = card.get_attribute("data-job-id") or ""
        idle = card.locator(".dcv-card-idle")
        expect(idle).to_contain_text(
            re.compile(r"Nobody connected: ends in \d+s unless someone connects"), timeout=30_000
        )
        expect(idle).to_have_attribute("data-warning", "false")
        card.screenshot(path=artifacts / "card-idle-light.png")
        # It ticks.
        before = seconds(idle.inner_text())
        page.wait_for_timeout(2_500)
        assert seconds(idle.inner_text()) < before

        # The tab goes to the background (emulated: document.hidden); halfway through the
        # minute the warning comes, once.
        page.evaluate(
            "window.__dcvHidden = true; document.dispatchEvent(new Event('visibilitychange'))"
        )
        warned = toast(page, job, "unless someone connects")
        expect(warned).to_have_count(1, timeout=60_000)
        expect(idle).to_have_attribute("data-warning", "true")
        warned.screenshot(path=artifacts / "notification-idle-light.png")
        switch_theme(page, "JupyterLab Dark")
        warned.screenshot(path=artifacts / "notification-idle-dark.png")
        warned.get_by_title("Hide notification").first.click()
        expect(warned).to_have_count(0)
        card.screenshot(path=artifacts / "card-idle-warning-dark.png")
        switch_theme(page, "JupyterLab Light")
        card.screenshot(path=artifacts / "card-idle-warning-light.png")

        # Nobody connected: the job ends itself, and says why; that notifies too.
        expect(card).to_have_attribute("data-state", "ended", timeout=90_000)
        expect(card.locator(".dcv-card-outcome").first).to_have_text("Ended: idle stop")
        expect(toast(page, job, "ended: idle stop")).to_have_count(1, timeout=30_000)
        bodies = browser_notifications(page, job)
        assert [b for b in bodies if "unless someone connects" in b] == [
            f"Nobody is connected to Desktop {job} · DCV on partition dcv: it ends in under a "
            "minute unless someone connects."
        ], bodies
        assert [b for b in bodies if "idle stop" in b] == [
            f"Desktop {job} · DCV on partition dcv ended: idle stop."
        ], bodies
        assert card.locator(".dcv-card-idle").count() == 0


# The browser's permission as a person would leave it before being asked ('default'), and its
# question answered yes; every question recorded (never on load: only on the user's click).
ASKED_ONLY_ON_CLICK = """
(() => {
  window.__dcvAsked = 0;
  let permission = 'default';
  Object.defineProperty(Notification, 'permission', { get: () => permission, configurable: true });
  Notification.requestPermission = () => {
    window.__dcvAsked += 1;
    permission = 'granted';
    return Promise.resolve(permission);
  };
})();
"""


def put_lab_settings(lab: Lab, raw: str) -> None:
    """The user's settings of the plugin, as the Settings Editor saves them."""
    request = urllib.request.Request(
        f"{lab.url}/lab/api/settings/dcv-widget:plugin",
        data=json.dumps({"raw": raw}).encode(),
        method="PUT",
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.status == 204, reply.status


def test_the_browser_is_asked_only_on_a_click_and_a_setting_turns_a_notification_off(
    browser: Browser, lab: Lab, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 1300, "height": 950})
    context.add_init_script(ASKED_ONLY_ON_CLICK)
    context.add_init_script(RECORD_NOTIFICATIONS)
    put_lab_settings(lab, '{"notifyReady": false}')
    try:
        write_notebook(
            str(lab.root / "notify-off.ipynb"),
            'from dcv_widget import Desktop\nDesktop(partition="dcv", time="10")',
        )
        page = open_notebook(context, lab, "notify-off", "notify-off.ipynb")
        widget = page.locator(".dcv-widget").first
        expect(widget.get_by_role("button", name="Launch", exact=True)).to_be_enabled(
            timeout=60_000
        )
        card = launch(widget)
        expect(card).to_have_attribute("data-job-id", re.compile(r"^\d+$"), timeout=30_000)
        job = card.get_attribute("data-job-id") or ""
        # A live desktop, a browser not asked yet: the control, and no question on load.
        prompt = widget.locator(".dcv-notify-permission")
        allow = prompt.get_by_role("button", name="Allow browser notifications")
        expect(allow).to_be_visible()
        prompt.screenshot(path=artifacts / "notification-permission-light.png")
        assert page.evaluate("window.__dcvAsked") == 0
        allow.click()
        expect(prompt).to_be_hidden()
        assert page.evaluate("window.__dcvAsked") == 1
        # notifyReady off: the desktop becomes ready behind another Lab tab, and nothing says so
        # (the time-limit and end notices are still on).
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^File$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^New Launcher$")).click()
        expect(widget).to_be_hidden()
        expect(card).to_have_attribute("data-state", "ready", timeout=LAUNCH_TIMEOUT)
        expect(card.locator("[data-action=connect]")).to_be_attached(timeout=60_000)
        page.wait_for_timeout(3_000)
        assert browser_notifications(page, job) == []
        expect(toast(page, job, "is ready")).to_have_count(0)
        page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="notify-off.ipynb").click()
        end_with_confirmation(card)
        expect(card).to_have_attribute("data-state", "ended", timeout=60_000)
    finally:
        put_lab_settings(lab, "{}")
        context.close()
