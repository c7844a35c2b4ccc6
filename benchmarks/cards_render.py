"""Time to render 200 session cards in JupyterLab, and main-thread long tasks while they tick.

Starts JupyterLab on loopback and Debian's Chromium (Playwright), runs a cell that shows a
Desktop widget with 200 synthetic cards (card_for() of sessions in every state), and prints:
the time from the cell's run to 200 cards in the DOM, the time for an update of all cards to
show, and the long tasks (> 50 ms, the browser's jank threshold) during 5 s of ticking.

    python benchmarks/cards_render.py
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).parents[1]))  # the e2e tests' JupyterLab launcher
from tests.e2e.helpers import write_notebook
from tests.e2e.lab import CHROMIUM, CHROMIUM_ARGS, running_lab

CARDS = 200
CELL = f"""
import time
from dataclasses import replace
from dcv_widget import Desktop
from dcv_widget.ui.desktop_cards import card_for
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import DesktopSession, SessionState

states = list(SessionState)
sessions = [
    replace(
        DesktopSession(request=LaunchRequest(partition="dcv"), key=f"k{{i}}", job_id=str(1000 + i))
        .moved_to(states[i % len(states)], "waiting for a free node", outcome="cancelled"),
        node=f"dcv-node-{{i % 7}}",
        ends_at=time.time() + 3600 + i,
    )
    for i in range({CARDS})
]
cards = [card_for(s) for s in sessions]


class Cards(Desktop):
    # The real widget, showing these cards instead of the manager's sessions.

    def _refresh_cards(self):
        with self.hold_sync():
            self.cards = list(cards)
            self.compact = True


widget = Cards(attach=False)
widget
"""
WARM_UP = "1  # the kernel answers before anything is timed"
UPDATE = (
    "cards[:] = [dict(c, title=c['title'] + ' updated') for c in cards]; widget._refresh_cards()"
)


def main() -> None:
    root = Path(tempfile.mkdtemp())
    write_notebook(str(root / "cards.ipynb"), WARM_UP, CELL, UPDATE)
    with (
        running_lab(root, root / "home", root / "jupyterlab.log") as lab,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(lab.page_url("/lab/tree/cards.ipynb"))
        page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(timeout=60_000)
        # Only once the kernel has answered a cell is anything timed: a run sent while it still
        # connects is dropped or waits, which timed out or added a second to some runs.
        answered = page.locator(".jp-InputPrompt", has_text=re.compile(r"\[\d+\]")).first
        for _ in range(12):
            page.locator(".jp-Cell").first.click()
            page.keyboard.press("Shift+Enter")
            try:
                answered.wait_for(timeout=5_000)
                break
            except PlaywrightTimeout:
                continue
        else:
            raise SystemExit("the kernel never ran the warm-up cell; see jupyterlab.log")
        start = time.perf_counter()
        page.locator(".jp-Cell").nth(1).click()
        page.keyboard.press("Shift+Enter")
        page.wait_for_function(
            f"document.querySelectorAll('.dcv-card').length >= {CARDS}", timeout=60_000
        )
        shown = time.perf_counter() - start
        page.evaluate(
            "window.__long = []; new PerformanceObserver("
            "l => window.__long.push(...l.getEntries().map(e => e.duration))"
            ").observe({type: 'longtask', buffered: false})"
        )
        start = time.perf_counter()
        page.locator(".jp-Cell").nth(2).click()
        page.keyboard.press("Shift+Enter")
        all_updated = (
            "[...document.querySelectorAll('.dcv-card')]"
            ".every(c => c.textContent.includes('updated'))"
        )
        page.wait_for_function(all_updated, timeout=60_000)
        updated = time.perf_counter() - start
        page.wait_for_timeout(5000)
        long_tasks = json.loads(page.evaluate("JSON.stringify(window.__long)"))
        browser.close()
    print(f"{CARDS} cards: shown {shown * 1000:.0f} ms after Shift+Enter (kernel already running)")
    print(f"update of all {CARDS} cards shown in {updated * 1000:.0f} ms")
    worst = max(long_tasks, default=0)
    print(f"long tasks (>50 ms), update + 5 s of ticking: {len(long_tasks)}, worst {worst:.0f} ms")


if __name__ == "__main__":
    main()
