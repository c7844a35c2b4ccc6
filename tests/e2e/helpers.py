"""What the e2e tests do in the page, as a person would."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import nbformat
from playwright.sync_api import Locator, Page, ProxySettings, expect

LAUNCH_TIMEOUT = 120_000


def write_notebook(path: str, *cells: str) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])  # type: ignore[no-untyped-call]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)  # type: ignore[no-untyped-call]


def run_all_cells(page: Page) -> None:
    """Run the notebook through the menu, as a person would, once its kernel is idle; return
    when every cell has run.

    A kernel that says idle may still be connecting, and JupyterLab then drops the run: the
    menu is used again until a cell has really run (its prompt shows a number or `*`).
    """
    expect(page.locator(".jp-Notebook")).to_be_visible(timeout=60_000)
    idle = page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')
    expect(idle).to_have_count(1, timeout=60_000)
    # The kernel is the notebook's own, not still being chosen.
    expect(page.locator(".jp-KernelName").first).to_contain_text("Python", timeout=60_000)
    ran = page.locator(".jp-CodeCell .jp-InputPrompt", has_text=re.compile(r"\[(\d+|\*)\]"))
    for _ in range(4):
        _answer_kernel_picker(page)
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        try:
            expect(ran.first).to_be_visible(timeout=15_000)
        except AssertionError:
            continue
        # Every cell has run (cells that launch desktops through the API wait for them).
        busy = page.locator(".jp-CodeCell .jp-InputPrompt", has_text="[*]")
        expect(busy).to_have_count(0, timeout=600_000)
        return
    raise AssertionError("the notebook's cells never ran")


def _answer_kernel_picker(page: Page) -> None:
    """A run asked for before the session had its kernel makes JupyterLab ask which kernel to
    use; a person keeps the one offered (the notebook's). Any other dialog is a failure, shown
    with its words."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count() == 0:
        return
    select = dialog.get_by_role("button", name=re.compile(r"^Select"))
    if select.count():
        select.first.click()
        expect(dialog).to_have_count(0, timeout=30_000)
        return
    raise AssertionError(f"JupyterLab shows a dialog: {dialog.first.inner_text()!r}")


def launch(widget: Locator) -> Locator:
    """Click Launch; the card of the new desktop, whatever other cards the widget shows (the
    user's other live desktops appear too)."""
    before = set(_card_keys(widget))
    widget.get_by_role("button", name="Launch", exact=True).click()
    deadline = time.monotonic() + 30
    while not (new := [k for k in _card_keys(widget) if k not in before]):
        assert time.monotonic() < deadline, "no card appeared after Launch"
        time.sleep(0.2)
    return widget.locator(f'.dcv-card[data-key="{new[0]}"]')


def launch_until_connect(page: Page) -> tuple[Locator, str]:
    """Launch from the page's widget with its defaults and wait for Connect: the card and its
    job id."""
    widget = page.locator(".dcv-widget")
    expect(widget.get_by_role("button", name="Launch", exact=True)).to_be_enabled(timeout=60_000)
    card = launch(widget)
    expect(card.get_by_role("button", name="Connect")).to_be_visible(timeout=LAUNCH_TIMEOUT)
    job = card.get_attribute("data-job-id") or ""
    assert job.isdigit(), card.inner_text()
    return card, job


def expect_noVNC_in_lab_tab(
    page: Page, job: str, display: str = "resize=remote&quality=6&compression=2"
) -> None:
    """Desktop `job` open in a JupyterLab tab through the Connect entry, with the card's
    `display` choice in its query (a browser that never chose: the default), noVNC connected."""
    tab = page.locator(".dcv-desktop-tab")
    expect(tab).to_be_visible(timeout=30_000)
    src = re.compile(rf"/dcv-widget/open/{job}\?{re.escape(display)}$")
    expect(tab.locator("iframe")).to_have_attribute("src", src)
    inside = page.frame_locator(".dcv-desktop-tab iframe")
    expect(inside.locator("html.noVNC_connected")).to_have_count(1, timeout=60_000)


def _card_keys(widget: Locator) -> list[str]:
    return [
        k
        for k in widget.locator(".dcv-card").evaluate_all("cards => cards.map(c => c.dataset.key)")
        if k
    ]


def end_with_confirmation(card: Locator) -> None:
    card.get_by_role("button", name="End", exact=True).click()
    card.get_by_role("button", name="End desktop").click()


def end_and_dismiss(card: Locator, job: str, in_live_queue: Callable[[str], bool]) -> None:
    """End a ready desktop from its card (with the confirmation), see it cancelled and gone from
    Slurm's queue, then dismiss its card."""
    end_with_confirmation(card)
    expect(card).to_have_attribute("data-state", "ended", timeout=60_000)
    expect(card.locator(".dcv-card-outcome").first).to_have_text("Ended: cancelled")
    assert not in_live_queue(job)
    card.get_by_role("button", name="Dismiss").click()
    expect(card).to_have_count(0)


def switch_theme(page: Page, theme: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Settings$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Theme$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{theme}$")).click()
    expect(page.locator("body")).to_have_attribute(
        "data-jp-theme-light", "false" if "Dark" in theme else "true", timeout=30_000
    )
    page.wait_for_timeout(1500)  # the theme's stylesheet settles before any screenshot


class OtherOriginsBlocked:
    """A browser that reaches nothing but JupyterLab: the context's every request (HTTP and
    WebSocket, to any host or port, loopback included) goes to this refusing proxy, except
    those to JupyterLab's own host and port. It answers 403 and notes what was asked.

    At the network, not in the page: Playwright's route_web_socket replaces the page's
    WebSocket class, which noVNC refuses ("Raw channel missing property").
    """

    def __init__(self, origin: str) -> None:
        self.origin = urlsplit(origin).netloc
        self.blocked: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._refuse, daemon=True)
        self._thread.start()

    @property
    def proxy(self) -> ProxySettings:
        port = self._server.getsockname()[1]
        # "<-loopback>": Chromium would otherwise never send loopback through a proxy.
        return {"server": f"http://127.0.0.1:{port}", "bypass": f"<-loopback>,{self.origin}"}

    def _refuse(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with client:
                first = client.recv(65536).split(b"\r\n", 1)[0].decode(errors="replace")
                self.blocked.append(first.split(" ")[1] if " " in first else first)
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self._server.close()
