"""Time to render 200 session cards in JupyterLab, and main-thread long tasks while they tick.

Starts JupyterLab on loopback and Debian's Chromium (Playwright), runs a cell that shows a
Desktop widget with 200 synthetic cards (card_for() of sessions in every state), and prints:
the time from the cell's run to 200 cards in the DOM, the time for an update of all cards to
show, and the long tasks (> 50 ms, the browser's jank threshold) during 5 s of ticking.

    python benchmarks/cards_render.py
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
from playwright.sync_api import sync_playwright

CARDS = 200
CELL = f"""
import time
from dataclasses import replace
from dcv_widget import Desktop
from dcv_widget.cards import card_for
from dcv_widget.request import LaunchRequest
from dcv_widget.session import DesktopSession, SessionState

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
widget = Desktop(attach=False)
widget.cards = [card_for(s) for s in sessions]
widget.compact = True
widget
"""
UPDATE = "widget.cards = [dict(c, detail='updated') for c in widget.cards]"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    root = Path(tempfile.mkdtemp())
    cells = [nbformat.v4.new_code_cell(code) for code in (CELL, UPDATE)]  # type: ignore[no-untyped-call]
    nb = nbformat.v4.new_notebook(cells=cells)  # type: ignore[no-untyped-call]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, root / "cards.ipynb")  # type: ignore[no-untyped-call]
    token, port = secrets.token_hex(8), free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(root / "cfg"),
        "JUPYTER_RUNTIME_DIR": str(root / "rt"),
    }
    jupyter = Path(sys.executable).parent / "jupyter"
    server = subprocess.Popen(
        [
            str(jupyter),
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2
                )
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/cards.ipynb?token={token}")
            page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(
                timeout=60_000
            )
            page.locator(".jp-Cell").first.click()
            start = time.perf_counter()
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
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        f"{CARDS} cards: shown {shown * 1000:.0f} ms after running the cell (kernel start included)"
    )
    print(f"update of all {CARDS} cards shown in {updated * 1000:.0f} ms")
    worst = max(long_tasks, default=0)
    print(f"long tasks (>50 ms), update + 5 s of ticking: {len(long_tasks)}, worst {worst:.0f} ms")


if __name__ == "__main__":
    main()
