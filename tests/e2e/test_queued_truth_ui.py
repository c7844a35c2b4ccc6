"""Queued cards tell the truth, as a person sees them in Chromium against the real local Slurm
(issue 15): a desktop queued behind a busy node reads Slurm's estimate in words ("Slurm expects
it to start in about 10 min, at 14:05"), one that can never start as asked (64 CPUs on nodes of
8: PartitionConfig) has the stuck look and says what to change; light and dark. Five cards:
the queued one, now a compact row, says its estimate whole, wrapping inside its cell where the
row is narrow, never over the row's other cells."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Locator, expect

from .conftest import Lab
from .helpers import launch as launch_desktop
from .helpers import run_all_cells, switch_theme, write_notebook
from .test_form_and_list_ui import check_no_overlap, overlap, row_boxes, set_field, shoot

CELLS = ('from dcv_widget import Desktop\nDesktop(partition="dcv", time="5")',)
# In minutes behind the filler; in hours where others' long jobs hold the node.
ESTIMATE = re.compile(
    r"Slurm expects it to start in about "
    r"(\d+ min|\d+ h( \d+ min)?), at \d\d:\d\d"
)
# Behind the busy node, or behind another test's desktop queued behind it.
WAITS_WORDS = re.compile(r"^(waiting for a free node|waiting behind jobs with higher priority)$")
NEVER_WORDS = (
    "it asks for more than the partition allows or any of its nodes has (CPUs, memory, GPUs or "
    "time), so this desktop can never start as asked: end it and launch with less, or on "
    "another partition (it asks for 64 CPUs for 5 min)"
)


def job_of(card: Locator) -> str:
    """The card's job id, once sbatch answered."""
    expect(card).to_have_attribute("data-job-id", re.compile(r"^\d+$"), timeout=60_000)
    return card.get_attribute("data-job-id") or ""


def detail_box(row: Locator) -> dict[str, Any]:
    """The compact row's detail cell: its box, the width its text needs, and the estimate's
    box (px; of its last line where it wraps)."""
    box: dict[str, Any] = row.locator(".dcv-row-detail").evaluate(
        """d => { const lines = d.querySelector('.dcv-expected-start').getClientRects();
                  const e = lines[lines.length - 1];
                  const r = d.getBoundingClientRect();
                  return {client: d.clientWidth, scroll: d.scrollWidth, left: r.left,
                          right: r.right, bottom: r.bottom, expected_left: e.left,
                          expected_right: e.right, expected_bottom: e.bottom}; }"""
    )
    return box


def test_queued_cards_say_slurms_estimate_and_what_to_change(
    browser: Browser,
    lab: Lab,
    artifacts: Path,
    busy_node: str,
    job_state: Callable[[str], str],
) -> None:
    write_notebook(str(lab.root / "queued-truth.ipynb"), *CELLS)
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    page = context.new_page()
    jobs: list[str] = []
    try:
        page.goto(lab.page_url("/lab/workspaces/queued-truth/tree/queued-truth.ipynb"))
        run_all_cells(page)
        widget = page.locator(".dcv-widget").first
        expect(widget.get_by_role("button", name="Launch", exact=True)).to_be_enabled(
            timeout=60_000
        )

        # The whole node (8 CPUs; fewer would start when another test's job ends and frees
        # them) behind the busy node: queued, with Slurm's estimate once backfill made one
        # (every 30 s) and the kernel's waiting pace (30 s) read it; ticking.
        set_field(widget, "cpus", "8")
        waiting = launch_desktop(widget)
        jobs.append(job_of(waiting))
        expect(waiting).to_have_attribute("data-state", "queued", timeout=30_000)
        expected = waiting.locator(".dcv-expected-start")
        expect(expected).to_have_text(ESTIMATE, timeout=180_000)
        expect(waiting).to_have_attribute("data-tone", "")
        expect(waiting.locator(".dcv-detail-text")).to_have_text(WAITS_WORDS)
        assert job_state(jobs[0]) == "PENDING"

        # 64 CPUs where no node has more than 8: Slurm keeps it pending for good; the card says
        # so in words with what to change, has the stuck look and no estimate.
        set_field(widget, "cpus", "64")
        never = launch_desktop(widget)
        jobs.append(job_of(never))
        expect(never).to_have_attribute("data-tone", "stuck", timeout=60_000)
        expect(never).to_have_attribute("data-state", "queued")
        expect(never.locator(".dcv-detail-text")).to_have_text(NEVER_WORDS)
        expect(never.locator(".dcv-expected-start")).to_have_count(0)
        expect(never).not_to_contain_text("PartitionConfig")
        mark = never.locator(".dcv-detail-text").evaluate(
            "e => getComputedStyle(e, '::before').content"
        )
        assert "⚠" in mark, mark
        for theme, name in (("light", "JupyterLab Light"), ("dark", "JupyterLab Dark")):
            switch_theme(page, name)
            expect(expected).to_have_text(ESTIMATE)
            shoot(waiting, artifacts, f"card-queued-estimate-{theme}")
            shoot(never, artifacts, f"card-never-start-{theme}")
        switch_theme(page, "JupyterLab Light")

        # Three more, queued on the partition under maintenance: five cards, the oldest (the
        # one with the estimate) a compact row. Each launch differs from the one before.
        set_field(widget, "cpus", "1")
        set_field(widget, "partition", "dcv-maint")
        for minutes in ("3", "4", "6"):
            set_field(widget, "time", minutes)
            card = launch_desktop(widget)
            jobs.append(job_of(card))
            expect(card).to_have_attribute("data-tone", "stuck", timeout=60_000)
        # This notebook's rows (the user's other desktops, other runs' too, are listed apart).
        rows = widget.locator('.dcv-cards-region > .dcv-cards[data-compact="true"]')
        row = rows.locator(".dcv-card")
        expect(row).to_have_count(1)
        expect(row).to_have_attribute("data-key", waiting.get_attribute("data-key") or "?")
        expect(row.locator(".dcv-expected-start")).to_have_text(ESTIMATE)

        # The row says the estimate whole, its time of day included: the row's line wraps
        # inside its own cell where the row is narrow, never cut short, never over the row's
        # other cells or past the row. The whole line is also the cell's tooltip.
        for width, theme in ((1280, "light"), (1280, "dark"), (700, "dark")):
            page.set_viewport_size({"width": width, "height": 1100})
            switch_theme(page, f"JupyterLab {theme.title()}")
            expect(row.locator(".dcv-expected-start")).to_have_text(ESTIMATE)
            if width == 1280:
                assert check_no_overlap(rows) == 1  # and the title whole: there is room for it
            (boxes,) = row_boxes(rows)
            for i, a in enumerate(boxes["cells"]):
                assert all(not overlap(a, b) for b in boxes["cells"][i + 1 :]), boxes
            assert boxes["overflow"] <= 0, boxes
            box = detail_box(row)
            assert box["scroll"] <= box["client"], box  # nothing cut off
            assert box["left"] - 0.5 <= box["expected_left"], box
            assert box["expected_right"] <= box["right"] + 0.5, box
            assert box["expected_bottom"] <= box["bottom"] + 0.5, box
            tooltip = row.locator(".dcv-row-detail").get_attribute("title") or ""
            assert tooltip.startswith("waiting "), tooltip
            assert ESTIMATE.search(tooltip), tooltip
            name = f"cards-compact-estimate-{theme}" + ("-narrow" if width < 1280 else "")
            shoot(rows, artifacts, name)
        switch_theme(page, "JupyterLab Light")
    finally:
        # Ours only: the desktops this test launched (the filler goes with its fixture).
        if jobs:
            subprocess.run(["scancel", *jobs], check=False)
        context.close()
