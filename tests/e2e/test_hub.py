"""JupyterLab behind a real JupyterHub (hub.py): the user logs in on the hub's page and works
under /user/<name>/, where the server extension answers only to the hub's login."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

from playwright.sync_api import Browser, expect

import dcv_widget

from .conftest import Hub
from .helpers import (
    OtherOriginsBlocked,
    end_with_confirmation,
    launch_until_connect,
    run_all_cells,
    write_notebook,
)
from .hub import log_in


def test_jupyterlab_and_the_server_extension_through_the_hub(
    browser: Browser, hub: Hub, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    write_notebook(str(hub.root / "hub-version.ipynb"), "import dcv_widget\ndcv_widget.__version__")
    log_in(page, hub)
    page.goto(hub.user_url("/lab/workspaces/hub-version/tree/hub-version.ipynb"))
    run_all_cells(page)
    expect(page.locator(".jp-OutputArea-output").first).to_have_text(
        repr(dcv_widget.__version__), timeout=30_000
    )
    page.screenshot(path=artifacts / "jupyterhub-lab.png")

    info_url = hub.user_url("/dcv-widget/api/info")
    # The page's own request carries the hub's login cookie for /user/<name>/.
    info = page.request.get(info_url)
    assert info.status == 200, info.text()
    assert info.json()["version"] == dcv_widget.__version__

    # Without that cookie the user's server answers nothing but "log in first".
    stranger = browser.new_context()
    refused = stranger.request.get(info_url, max_redirects=0)
    assert refused.status in {302, 403}, (refused.status, refused.text())
    if refused.status == 302:  # to the hub's login (its OAuth authorize page)
        login = urljoin(info_url, refused.headers["location"])
        assert login.startswith(f"{hub.url}/hub/"), login
    assert dcv_widget.__version__ not in refused.text()
    stranger.close()
    context.close()


def test_launch_and_connect_in_a_lab_tab_through_the_hub(
    browser: Browser, hub: Hub, artifacts: Path, in_live_queue: Callable[[str], bool]
) -> None:
    """Launch, then Connect: the desktop opens in a Lab tab through the hub's proxy and the
    user's server (/user/<name>/dcv-widget/...), noVNC connected to the real TigerVNC desktop,
    while the browser reaches nothing but the hub's origin (HTTP and WebSocket)."""
    blocking = OtherOriginsBlocked(hub.url)
    context = browser.new_context(viewport={"width": 1280, "height": 860}, proxy=blocking.proxy)
    page = context.new_page()
    write_notebook(str(hub.root / "hub-desktop.ipynb"), "from dcv_widget import Desktop\nDesktop()")
    log_in(page, hub)
    page.goto(hub.user_url("/lab/workspaces/hub-desktop/tree/hub-desktop.ipynb"))
    run_all_cells(page)

    card, job = launch_until_connect(page)
    connect = card.get_by_role("button", name="Connect")

    connect.click()
    tab = page.locator(".dcv-desktop-tab")
    expect(tab).to_be_visible(timeout=30_000)
    expect(tab.locator("iframe")).to_have_attribute(
        "src",
        re.compile(
            rf"/user/{hub.user}/dcv-widget/open/{job}\?resize=remote&quality=6&compression=2$"
        ),
    )
    inside = page.frame_locator(".dcv-desktop-tab iframe")
    # noVNC marks the page connected once the VNC password from the URL fragment was accepted.
    expect(inside.locator("html.noVNC_connected")).to_have_count(1, timeout=60_000)
    page.wait_for_timeout(1500)  # let the first frame of the desktop paint for the screenshot
    page.screenshot(path=artifacts / "jupyterhub-desktop-tab.png")
    desktop = hub.user_url(f"/dcv-widget/desktops/{job}/vnc.html#")
    frame_urls = [f.url for f in page.frames if f.url.startswith(desktop)]
    assert frame_urls, [f.url.split("#")[0] for f in page.frames]
    # The hub's single-user server logs redirect targets: the password must not be in one.
    # (Checked into a bool: pytest would print both sides of a failed `in`.)
    password = parse_qs(urlsplit(frame_urls[0]).fragment)["password"][0]
    leaked = password in hub.log.read_text()
    assert not leaked, f"the desktop's VNC password is in {hub.log}"

    # Nothing left the hub's origin, and the blocking itself works: probes are stopped.
    # (Port 5999: Chromium itself refuses some ports, such as 9, before any proxy is asked.)
    page.evaluate("fetch('http://127.0.0.1:5999/probe').catch(() => null)")
    page.evaluate("new WebSocket('ws://127.0.0.1:5999/probe')")
    # The WebSocket is a CONNECT to the refusing proxy.
    expected = ["127.0.0.1:5999", "http://127.0.0.1:5999/probe"]
    deadline = time.monotonic() + 30
    while len(blocking.blocked) < len(expected) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(blocking.blocked) == expected, blocking.blocked
    blocking.close()

    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="hub-desktop.ipynb").click()
    end_with_confirmation(card)
    expect(card).to_have_attribute("data-state", "ended", timeout=60_000)
    assert not in_live_queue(job)
    context.close()
