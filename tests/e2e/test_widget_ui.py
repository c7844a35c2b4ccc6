"""The widget a person uses, in Chromium against the real local Slurm: the launcher form with
inline errors, several desktops walking the stepper, a queued one with Slurm's reason, connect,
the SSH tunnel command copied, an AWS SSM card (instance found through the moto server) with a
command per shell, End with confirmation, dismiss, the dark theme, a locked form, and a notebook
saved with widget state that holds no secret."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Locator, Page, expect

from .conftest import AWS_REGION, Lab, node_as_ec2_instance
from .helpers import (
    LAUNCH_TIMEOUT,
    end_with_confirmation,
    run_all_cells,
    switch_theme,
    write_notebook,
)
from .helpers import (
    launch as launch_desktop,
)

CELLS = (
    'from dcv_widget import Desktop\nDesktop(partition="dcv", time="10")',
    'Desktop(partition="dcv", time="1:00:00", locked=True)',
)


def set_field(widget: Locator, name: str, value: str) -> None:
    field = widget.locator(f'.dcv-field[data-name="{name}"]')
    control = field.locator("select, input").first
    if control.evaluate("e => e.tagName") == "SELECT":
        control.select_option(value)
    else:
        control.fill(value)
        control.press("Tab")


def shoot(element: Locator | Page, artifacts: Path, name: str) -> None:
    element.screenshot(path=artifacts / f"{name}.png")


def test_the_widget_end_to_end(
    browser: Browser, lab: Lab, artifacts: Path, moto_server: str
) -> None:
    instance_id = node_as_ec2_instance(moto_server)
    write_notebook(str(lab.root / "desktops.ipynb"), *CELLS)
    # The direct route's Connect opens the desktop itself, whose certificate its job made
    # (self-signed): a person accepts it once per desktop; this browser is told to. The jupyter
    # route needs no such exception (its proxy pins the certificate).
    context = browser.new_context(
        viewport={"width": 1280, "height": 1000},
        permissions=["clipboard-read", "clipboard-write"],
        ignore_https_errors=True,
    )
    page = context.new_page()
    # A workspace of its own: JupyterLab would otherwise reopen the other tests' notebooks.
    page.goto(lab.page_url("/lab/workspaces/widget-ui/tree/desktops.ipynb"))
    run_all_cells(page)
    widget = page.locator(".dcv-widget").first
    launch = widget.get_by_role("button", name="Launch", exact=True)
    expect(launch).to_be_enabled(timeout=60_000)
    expect(
        widget.locator('.dcv-field[data-name="partition"] option', has_text="CPUs idle").first
    ).to_be_attached(timeout=30_000)
    shoot(widget, artifacts, "widget-launcher-light")

    # A bad value is explained inline and blocks Launch, before anything reaches Slurm.
    set_field(widget, "time", "1h")
    time_field = widget.locator('.dcv-field[data-name="time"]')
    expect(time_field.locator(".dcv-field-error")).to_contain_text(
        "Time limit: '1h' is not valid; use a Slurm time limit such as 30 (minutes), 2:00:00"
    )
    expect(launch).to_be_disabled()
    set_field(widget, "time", "10")
    expect(time_field.locator(".dcv-field-error")).to_be_hidden()
    expect(launch).to_be_enabled()

    # Desktop A through the SSH-tunnel route, B on a partition under maintenance, C direct,
    # D through AWS SSM.
    set_field(widget, "access", "ssm")
    ssm = launch_desktop(widget)
    set_field(widget, "access", "ssh")
    tunnel = launch_desktop(widget)
    set_field(widget, "partition", "dcv-maint")
    set_field(widget, "access", "direct")
    queued = launch_desktop(widget)
    set_field(widget, "partition", "dcv")
    direct = launch_desktop(widget)

    # The queued one says why, in words; the others walk the stepper to ready.
    expect(queued).to_have_attribute("data-state", "queued", timeout=30_000)
    expect(queued).to_contain_text("the partition is down", timeout=30_000)
    for card in (tunnel, direct, ssm):
        expect(card).to_have_attribute("data-state", "ready", timeout=LAUNCH_TIMEOUT)
        # Nothing is in progress on a ready desktop: every step is done.
        expect(card.locator('.dcv-step[data-status="done"]')).to_have_count(5)
        expect(card.locator(".dcv-time-left")).to_contain_text("left")
    # Each route is worked out just after ready (the SSM one looks the node up in AWS).
    expect(tunnel.locator(".dcv-command-text")).to_contain_text("ssh -N -L", timeout=60_000)
    expect(ssm.get_by_role("tab")).to_have_count(3, timeout=60_000)
    shoot(queued, artifacts, "card-queued-light")
    shoot(direct, artifacts, "card-ready-light")
    shoot(tunnel, artifacts, "card-tunnel-light")

    # The tunnel command is copyable, exactly.
    command = tunnel.locator(".dcv-command-text").inner_text().strip()
    assert re.fullmatch(
        r"ssh -N -L 127\.0\.0\.1:(\d+):127\.0\.0\.1:(\d+) -o ExitOnForwardFailure=yes \S+@\S+",
        command,
    ), command
    tunnel.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == command

    # The SSM card: the node's instance, found by its private IP, in a command per shell.
    expect(ssm.locator(".dcv-access")).to_contain_text("AWS SSM port forwarding")
    ssm.get_by_role("tab", name="PowerShell 7.3+").click()
    expect(ssm.get_by_role("tab", name="PowerShell 7.3+")).to_have_attribute(
        "aria-selected", "true"
    )
    command = ssm.locator(".dcv-command-text").inner_text().strip()
    assert command.startswith(f"aws ssm start-session --target {instance_id} ")
    assert f"--region {AWS_REGION}" in command
    parameters = json.loads(command.split(" --parameters ", 1)[1].strip("'"))
    assert set(parameters) == {"portNumber", "localPortNumber"}
    ssm.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == command
    shoot(ssm, artifacts, "card-ssm-light")

    # Connect opens the desktop in a new tab; the password stays out of the notebook file.
    with context.expect_page() as opened:
        direct.get_by_role("button", name="Connect").click()
    tab = opened.value
    tab.wait_for_url(re.compile(r"/vnc\.html"), timeout=30_000)
    expect(tab.locator("html.noVNC_connected")).to_have_count(1, timeout=60_000)
    secret = dict(p.split("=", 1) for p in urlsplit(tab.url).fragment.split("&"))["password"]
    tab.close()
    page.keyboard.press("Control+s")
    # The save is done once the file holds the widget state (it did not before: never saved).
    saved_file = lab.root / "desktops.ipynb"
    expect(page.locator(".jp-mod-dirty")).to_have_count(0, timeout=30_000)
    saved = saved_file.read_text()
    assert "application/vnd.jupyter.widget-state+json" in saved  # widget state was saved
    assert secret not in saved

    # End asks first; the ended card says how it ended and can be dismissed.
    direct.get_by_role("button", name="End", exact=True).click()
    direct.get_by_role("button", name="Keep").click()
    expect(direct).to_have_attribute("data-state", "ready")
    end_with_confirmation(direct)
    expect(direct).to_have_attribute("data-state", "ended", timeout=60_000)
    expect(direct.locator(".dcv-card-outcome").first).to_have_text("Ended: cancelled")
    shoot(direct, artifacts, "card-ended-light")

    switch_theme(page, "JupyterLab Dark")
    shoot(widget.locator(".dcv-launcher"), artifacts, "widget-launcher-dark")
    shoot(queued, artifacts, "card-queued-dark")
    shoot(tunnel, artifacts, "card-ready-dark")
    shoot(ssm, artifacts, "card-ssm-dark")
    shoot(direct, artifacts, "card-ended-dark")
    page.screenshot(path=artifacts / "jupyterlab-dark.png")
    switch_theme(page, "JupyterLab Light")

    for card in (tunnel, queued, ssm):
        end_with_confirmation(card)
        expect(card).to_have_attribute("data-state", "ended", timeout=60_000)
    for card in (tunnel, queued, direct, ssm):
        card.get_by_role("button", name="Dismiss").click()
        expect(card).to_have_count(0)

    # The locked launcher of the second cell: values shown, nothing to edit, Launch only.
    locked = page.locator(".dcv-widget").nth(1)
    expect(locked.locator('.dcv-launcher[data-locked="true"]')).to_be_visible()
    expect(locked.locator(".dcv-launcher input, .dcv-launcher select")).to_have_count(0)
    expect(locked).to_contain_text("1:00:00")
    expect(locked.get_by_role("button", name="Launch", exact=True)).to_be_enabled()
    shoot(locked.locator(".dcv-launcher"), artifacts, "widget-locked-light")
    context.close()


# A desktop that fails on its node (sbatch hands the kernel's environment to the job: here, no
# noVNC web client where the job looks), submitted before the widget shows; then the widget.
FAILING_CELL = """import os
from dcv_widget import Desktop, launch
os.environ["DCV_WIDGET_NOVNC_WEB"] = "/nonexistent/novnc"
failing = launch(partition="dcv", time="10")
failing.manager.wait_for(failing.key, lambda s: bool(s.job_id) or s.state.value == "ended", 60)
del os.environ["DCV_WIDGET_NOVNC_WEB"]
Desktop(partition="dcv", time="10")"""

# Records each data-state a card shows, in order, across the view's rebuilds of its element.
WATCH_STATES = """([list, key]) => {
  const seen = [list.querySelector(`.dcv-card[data-key="${key}"]`)?.dataset.state];
  new MutationObserver(() => {
    const state = list.querySelector(`.dcv-card[data-key="${key}"]`)?.dataset.state;
    if (state && state !== seen[seen.length - 1]) seen.push(state);
  }).observe(list, { subtree: true, childList: true, attributes: true });
  window.__dcvStates = seen;
}"""


def _end_and_watch(page: Page, card: Locator) -> None:
    """End the desktop; its card must show Ending, with its own step and words, before it ends."""
    key = card.get_attribute("data-key")
    card.locator("xpath=..").evaluate(f"list => ({WATCH_STATES})([list, {json.dumps(key)}])")
    end_with_confirmation(card)
    expect(card).to_have_attribute("data-state", "ending")
    expect(card.locator(".dcv-state-label")).to_have_text("Ending")
    expect(card.locator('.dcv-step[data-status="current"]')).to_have_attribute("data-id", "ending")
    # Then what it waits for, once Slurm took the cancel (the card is steady until it ends).
    expect(card.locator(".dcv-card-detail")).to_contain_text("Slurm is stopping the job")
    expect(card.locator(".dcv-card-detail")).not_to_contain_text("shutting down")
    expect(card.locator(".dcv-time-left")).to_have_count(0)  # its time limit no longer matters


def test_ending_and_how_a_desktop_ended_show_as_they_are(
    browser: Browser, lab: Lab, artifacts: Path
) -> None:
    write_notebook(str(lab.root / "ending.ipynb"), FAILING_CELL)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(lab.page_url("/lab/workspaces/ending/tree/ending.ipynb"))
    run_all_cells(page)
    widget = page.locator(".dcv-widget").first
    expect(widget.get_by_role("button", name="Launch", exact=True)).to_be_enabled(timeout=60_000)

    # Failed while starting on the node: that step is marked, not Queued; the steps after it
    # are plain (a small solid circle) with no line into them; the card has the failure's look.
    failed = widget.locator('.dcv-card[data-tone="failed"]')
    expect(failed).to_have_count(1, timeout=LAUNCH_TIMEOUT)
    expect(failed.locator(".dcv-card-outcome").first).to_have_text("Ended: failed")
    expect(failed.locator('.dcv-step[data-status="failed"]')).to_have_attribute(
        "data-id", "launching"
    )
    expect(failed.locator('.dcv-step[data-id="queued"]')).to_have_attribute("data-status", "done")
    ready = failed.locator('.dcv-step[data-id="ready"]')
    expect(ready).to_have_attribute("data-status", "unreached")
    assert ready.evaluate("e => getComputedStyle(e, '::before').content") == "none"
    icon = ready.locator(".dcv-step-icon")
    assert icon.evaluate("e => getComputedStyle(e).borderTopStyle") == "solid"
    failed_outcome = failed.locator(".dcv-card-outcome").first
    failed_mark = failed_outcome.evaluate("e => getComputedStyle(e, '::before').content")

    first = launch_desktop(widget)
    set_field(widget, "cpus", "2")  # other values: not taken for a double click
    second = launch_desktop(widget)
    for card in (first, second):
        expect(card).to_have_attribute("data-state", "ready", timeout=LAUNCH_TIMEOUT)
        # Ten minutes: the time left warns in the last minute only, not from the start.
        expect(card.locator(".dcv-time-left")).to_have_attribute("data-warning", "false")

    _end_and_watch(page, first)
    shoot(first, artifacts, "card-ending-light")
    expect(first).to_have_attribute("data-state", "ended", timeout=60_000)
    # The card went from Ready to Ending to Ended: Ending was shown at once, not skipped.
    assert page.evaluate("window.__dcvStates") == ["ready", "ending", "ended"]
    expect(first).to_have_attribute("data-tone", "ended")
    cancelled_outcome = first.locator(".dcv-card-outcome").first
    expect(cancelled_outcome).to_have_text("Ended: cancelled")
    # Told apart by more than the words: another mark, another colour.
    cancelled_mark = cancelled_outcome.evaluate("e => getComputedStyle(e, '::before').content")
    assert {failed_mark, cancelled_mark} == {'"✕ "', '"■ "'}
    colour = "e => getComputedStyle(e).color"
    assert failed_outcome.evaluate(colour) != cancelled_outcome.evaluate(colour)
    shoot(failed, artifacts, "card-ended-failed-light")
    shoot(first, artifacts, "card-ended-cancelled-light")

    switch_theme(page, "JupyterLab Dark")
    shoot(failed, artifacts, "card-ended-failed-dark")
    shoot(first, artifacts, "card-ended-cancelled-dark")
    assert failed_outcome.evaluate(colour) != cancelled_outcome.evaluate(colour)
    _end_and_watch(page, second)
    shoot(second, artifacts, "card-ending-dark")
    expect(second).to_have_attribute("data-state", "ended", timeout=60_000)
    switch_theme(page, "JupyterLab Light")
    page.close()
