"""The launcher form and the compact list as a person sees them, in Chromium against the real
local Slurm, measured rather than looked at: partition labels with their state and a warning
under a down partition, a disabled Launch that looks disabled (grey, not-allowed cursor) and
says which field to fix, dropdowns wide enough for their whole text, Dismiss framed as a
button, and five desktops: the four newest in full, the oldest a compact row whose cells never
overlap, the fifth moving no card but the oldest (no jump from cards to rows). Light and dark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Locator, Page, expect

from .conftest import Lab
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

CELLS = ('from dcv_widget import Desktop\nDesktop(partition="dcv", time="1")',)
THEMES = (("light", "JupyterLab Light"), ("dark", "JupyterLab Dark"))


def set_field(widget: Locator, name: str, value: str) -> None:
    control = widget.locator(f'.dcv-field[data-name="{name}"]').locator("select, input").first
    if control.evaluate("e => e.tagName") == "SELECT":
        control.select_option(value)
    else:
        control.fill(value)
        control.press("Tab")


def style(element: Locator, *names: str) -> dict[str, str]:
    """The element's computed style, for the properties named."""
    found: dict[str, str] = element.evaluate(
        "(e, names) => Object.fromEntries(names.map(n => [n, getComputedStyle(e)[n]]))",
        list(names),
    )
    return found


def rgb(colour: str) -> tuple[int, ...]:
    """'rgb(1, 2, 3)' or 'rgba(1, 2, 3, 0.5)' as its three channels."""
    return tuple(int(float(c)) for c in colour[colour.index("(") + 1 : -1].split(",")[:3])


def select_needs(select: Locator) -> dict[str, float]:
    """The select's width, and the width it takes to show its longest option whole."""
    sizes: dict[str, float] = select.evaluate(
        """s => {
            const width = s.getBoundingClientRect().width;
            const saved = s.style.width;
            s.style.width = 'max-content';
            const needed = s.getBoundingClientRect().width;
            s.style.width = saved;
            return {width, needed};
        }"""
    )
    return sizes


def row_boxes(widget: Locator) -> list[dict[str, Any]]:
    """Every compact row's cells, the time-left badge and the title, as boxes (px)."""
    rows: list[dict[str, Any]] = widget.locator(".dcv-row").evaluate_all(
        """rows => rows.map(row => {
            const box = e => { const r = e.getBoundingClientRect();
                               return {left: r.left, right: r.right, top: r.top,
                                       bottom: r.bottom}; };
            const title = row.querySelector('.dcv-card-title');
            const badge = row.querySelector('.dcv-time-left');
            return {
                row: box(row),
                cells: Array.from(row.children).map(c => ({cls: c.className, ...box(c)})),
                time: box(row.querySelector('.dcv-row-time')),
                badge: badge ? box(badge) : null,
                detail: box(row.querySelector('.dcv-row-detail')),
                title: {scroll: title.scrollWidth, client: title.clientWidth},
                overflow: row.scrollWidth - row.clientWidth,
            };
        })"""
    )
    return rows


def card_boxes(widget: Locator) -> dict[str, Any]:
    """Every card of this widget's own lists: its top and height (px) and whether it is a compact
    row, by key. Desktops launched elsewhere (another run's, under "Your other desktops") are
    not this form's cards and may come and go at any time."""
    own = widget.locator(".dcv-cards-region > .dcv-cards .dcv-card")
    boxes: dict[str, Any] = own.evaluate_all(
        """cards => Object.fromEntries(cards.map(c => [c.dataset.key, {
            top: c.getBoundingClientRect().top,
            height: c.getBoundingClientRect().height,
            compact: c.dataset.compact === 'true',
        }]))"""
    )
    return boxes


def check_no_jump(before: dict[str, Any], after: dict[str, Any], oldest: str) -> None:
    """One more card: the cards shown in full before keep their size and their places to each
    other, but the oldest, which alone becomes a row (all turned into rows at once before)."""
    turned = [k for k, c in before.items() if after[k]["compact"] != c["compact"]]
    assert turned == [oldest], (before, after)
    kept = [k for k in before if k != oldest]
    for key in kept:
        assert abs(after[key]["height"] - before[key]["height"]) <= 1, (key, before, after)
        moved = after[key]["top"] - after[kept[0]]["top"]
        assert abs(moved - (before[key]["top"] - before[kept[0]]["top"])) <= 1, (key, before, after)


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    """Whether two boxes share more than half a pixel each way."""
    wide = min(a["right"], b["right"]) - max(a["left"], b["left"])
    high = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
    return wide > 0.5 and high > 0.5


def check_no_overlap(widget: Locator) -> int:
    """No two cells of a compact row over each other, the time-left badge inside its own
    cell and clear of the detail, nothing wider than the row, titles whole (there is room for
    them at this width). Returns how many rows were checked."""
    rows = row_boxes(widget)
    for row in rows:
        cells = row["cells"]
        for i, a in enumerate(cells):
            for b in cells[i + 1 :]:
                assert not overlap(a, b), (a, b)
        assert row["overflow"] <= 0, row
        assert row["title"]["scroll"] <= row["title"]["client"], row["title"]
        badge = row["badge"]
        if badge is not None:
            time = row["time"]
            assert time["left"] - 0.5 <= badge["left"] and badge["right"] <= time["right"] + 0.5
            assert not overlap(badge, row["detail"]), row
    return len(rows)


def check_disabled_launch(widget: Locator) -> None:
    """Launch with a bad field: disabled, grey, a not-allowed cursor, and the field named.
    Leaves the bad value in (see `fix_launch`)."""
    launch = widget.get_by_role("button", name="Launch", exact=True)
    enabled = style(launch, "backgroundColor", "cursor")
    set_field(widget, "time", "1h")
    expect(launch).to_be_disabled()
    disabled = style(launch, "backgroundColor", "cursor", "boxShadow")
    assert disabled["cursor"] == "not-allowed"
    assert enabled["cursor"] == "pointer"
    red, green, blue = rgb(disabled["backgroundColor"])
    assert red == green == blue, disabled  # grey, not the brand blue
    assert disabled["backgroundColor"] != enabled["backgroundColor"]
    blocker = widget.locator(".dcv-launch-blocker")
    expect(blocker).to_have_text("To launch, fix Time limit (see the message above).")
    expect(launch).to_have_attribute("aria-describedby", blocker.get_attribute("id") or "?")


def fix_launch(widget: Locator) -> None:
    set_field(widget, "time", "1")
    expect(widget.get_by_role("button", name="Launch", exact=True)).to_be_enabled()
    expect(widget.locator(".dcv-launch-blocker")).to_be_hidden()


def check_dismiss_is_a_button(card: Locator) -> None:
    """Dismiss stands out from its card: framed, on a ground of its own."""
    dismiss = card.get_by_role("button", name="Dismiss")
    button = style(dismiss, "backgroundColor", "borderTopWidth", "borderTopStyle", "cursor")
    ground = style(card, "backgroundColor")["backgroundColor"]
    assert button["backgroundColor"] != ground, (button, ground)
    assert float(button["borderTopWidth"].removesuffix("px")) >= 1, button
    assert button["borderTopStyle"] == "solid" and button["cursor"] == "pointer", button


def shoot(element: Locator | Page, artifacts: Path, name: str) -> None:
    element.screenshot(path=artifacts / f"{name}.png")


def test_form_and_compact_list(browser: Browser, lab: Lab, artifacts: Path) -> None:
    write_notebook(str(lab.root / "form-and-list.ipynb"), *CELLS)
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    page = context.new_page()
    page.goto(lab.page_url("/lab/workspaces/form-and-list/tree/form-and-list.ipynb"))
    run_all_cells(page)
    widget = page.locator(".dcv-widget").first
    form = widget.locator(".dcv-launcher")
    partition = widget.locator('.dcv-field[data-name="partition"]')
    expect(partition.locator("option", has_text="CPUs idle").first).to_be_attached(timeout=60_000)
    expect(partition.locator("option", has_text="dcv-maint: down")).to_be_attached()
    expect(widget.get_by_role("button", name="Launch", exact=True)).to_be_enabled(timeout=60_000)
    dcv_option = partition.locator('option[value="dcv"]')
    before = dcv_option.inner_text()

    # The dropdowns are as wide as their longest option: no word cut off.
    for name in ("partition", "access"):
        sizes = select_needs(widget.locator(f'.dcv-field[data-name="{name}"] select'))
        assert sizes["needed"] <= sizes["width"] + 0.5, (name, sizes)

    # A down partition is accepted (the desktop would queue) but warned about under it.
    warning = partition.locator(".dcv-field-warning")
    expect(warning).to_be_hidden()
    set_field(widget, "partition", "dcv-maint")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("dcv-maint is down: a desktop launched there waits")
    expect(partition.locator("select")).to_have_attribute(
        "aria-describedby", warning.get_attribute("id") or "?"
    )
    for theme, name in THEMES:
        switch_theme(page, name)
        check_disabled_launch(widget)
        shoot(form, artifacts, f"launcher-down-partition-{theme}")
        fix_launch(widget)
    switch_theme(page, "JupyterLab Light")

    # Two three-minute desktops on dcv, then three queued on the down partition: five cards. The
    # fifth turns only the oldest into a row, under the four newest; nothing else moves.
    # (Each launch differs from the one before: the same values within 2 s are a double click.)
    set_field(widget, "partition", "dcv")
    expect(warning).to_be_hidden()
    set_field(widget, "time", "3")
    ready = []
    for cpus in ("2", "1"):
        set_field(widget, "cpus", cpus)
        ready.append(launch_desktop(widget))
    for card in ready:
        expect(card).to_have_attribute("data-state", "ready", timeout=LAUNCH_TIMEOUT)
    # The kernel re-reads the partitions while the form is shown (every 90 s): the desktops it
    # started show in dcv's label without re-running the cell, while they run.
    expect(dcv_option).not_to_have_text(before, timeout=100_000)
    set_field(widget, "partition", "dcv-maint")
    queued: list[Locator] = []
    four: dict[str, Any] = {}
    for minutes in ("3", "4", "5"):
        four = card_boxes(widget)
        set_field(widget, "time", minutes)
        queued.append(launch_desktop(widget))
        expect(queued[-1]).to_have_attribute("data-tone", "stuck", timeout=30_000)
    check_no_jump(four, card_boxes(widget), ready[0].get_attribute("data-key") or "?")
    expect(widget.locator('.dcv-cards[data-compact="true"] .dcv-card')).to_have_count(1)
    for card in queued:
        expect(card).to_have_attribute("data-state", "queued")
        expect(card).to_contain_text("will not start by itself")
        expect(card.locator(".dcv-elapsed")).to_contain_text("· waiting")
    # In their last minute the time left is a warning (the widest badge a row gets).
    for card in ready:
        expect(card.locator('.dcv-time-left[data-warning="true"]')).to_be_visible(timeout=90_000)

    # End one queued desktop: its ended row offers Dismiss, framed as a button.
    end_with_confirmation(queued[0])
    expect(queued[0]).to_have_attribute("data-state", "ended", timeout=60_000)
    for theme, name in THEMES:
        switch_theme(page, name)
        assert check_no_overlap(widget) == 1
        check_dismiss_is_a_button(queued[0])
        shoot(widget.locator(".dcv-cards-region"), artifacts, f"cards-compact-{theme}")
    switch_theme(page, "JupyterLab Light")

    queued[0].get_by_role("button", name="Dismiss").click()
    expect(queued[0]).to_have_count(0)
    context.close()  # the one-minute desktops end by themselves, no_desktop_left the others
