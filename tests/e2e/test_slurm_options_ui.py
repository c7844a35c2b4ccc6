"""Slurm's own options in the launcher, in Chromium against the real local Slurm: the GPU types
and node features of the chosen partition (sinfo), the test user's accounts and QOS (sacctmgr,
slurmdbd) and the class reservation open to them (scontrol), under More options; a choice with
nothing to offer is not shown, a reservation of another account and a feature the partition
lacks are warned about, a bad node-feature expression is named. Nothing is launched. Light and
dark screenshots: slurm-options-{light,dark}."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Locator, expect

from .conftest import Lab
from .helpers import run_all_cells, switch_theme, write_notebook
from .test_form_and_list_ui import THEMES, set_field, shoot

CELLS = (
    "from dcv_widget import Desktop\n"
    "from dcv_widget.settings import DesktopSettings\n"
    'Desktop(partition="dcv", time="30", settings=DesktopSettings(allow_exclusive=True))',
)


def field(widget: Locator, name: str) -> Locator:
    return widget.locator(f'.dcv-field[data-name="{name}"]')


def option_values(select: Locator) -> list[str]:
    values: list[str] = select.locator("option").evaluate_all("os => os.map(o => o.value)")
    return values


def test_slurm_options_offered_from_slurm(browser: Browser, lab: Lab, artifacts: Path) -> None:
    write_notebook(str(lab.root / "slurm-options.ipynb"), *CELLS)
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    page = context.new_page()
    page.goto(lab.page_url("/lab/workspaces/slurm-options/tree/slurm-options.ipynb"))
    run_all_cells(page)
    widget = page.locator(".dcv-widget").first
    form = widget.locator(".dcv-launcher")
    partition = field(widget, "partition")
    expect(partition.locator("option", has_text="dcv-cloud:")).to_be_attached(timeout=60_000)

    # GPU type: only once GPUs are asked for, the partition's types (sinfo's %G).
    gpu_type = field(widget, "gpu_type")
    expect(gpu_type).to_be_hidden()
    set_field(widget, "gpus", "1")
    expect(gpu_type).to_be_visible()
    assert option_values(gpu_type.locator("select")) == ["", "t4"]
    set_field(widget, "partition", "dcv-cloud")
    expect(gpu_type.locator('option[value="a10g"]')).to_be_attached()
    assert option_values(gpu_type.locator("select")) == ["", "a10g"]
    set_field(widget, "gpu_type", "a10g")
    set_field(widget, "partition", "dcv")
    expect(gpu_type.locator(".dcv-field-warning")).to_contain_text(
        "No node of dcv has GPUs of type a10g (it has t4)"
    )
    set_field(widget, "gpu_type", "t4")
    expect(gpu_type.locator(".dcv-field-warning")).to_be_hidden()

    # More options: folded, then the test user's accounts, QOS and the class reservation.
    more = widget.locator(".dcv-more-options")
    expect(more).to_be_visible()
    expect(field(widget, "qos")).to_be_hidden()
    more.locator("summary").click()
    account, qos, reservation = (field(widget, n) for n in ("account", "qos", "reservation"))
    expect(account.locator("option").first).to_have_text("your default (dcv-users)")
    assert "class101" in option_values(account.locator("select"))
    expect(qos.locator("option").first).to_have_text("your default (normal)")
    assert option_values(qos.locator("select")) == ["", "desktop", "normal"]
    expect(reservation.locator('option[value="dcv-class"]')).to_contain_text(
        "dcv-class: now, until"
    )
    set_field(widget, "reservation", "dcv-class")
    warning = reservation.locator(".dcv-field-warning")
    expect(warning).to_contain_text("dcv-class is for account class101 only")
    set_field(widget, "account", "class101")
    expect(warning).to_be_hidden()
    expect(qos.locator('option[value="class"]')).to_be_attached()  # class101's own QOS
    set_field(widget, "qos", "desktop")

    # Node features: suggested from the partition's nodes; a bad expression named.
    constraint = field(widget, "constraint")
    suggestions: list[str] = constraint.locator("datalist option").evaluate_all(
        "os => os.map(o => o.value)"
    )
    assert suggestions == ["avx2", "x11"]
    set_field(widget, "constraint", "avx2 x11")
    expect(constraint.locator(".dcv-field-error")).to_contain_text(
        "Node features: 'avx2 x11' is not valid; ' ' is not allowed"
    )
    expect(widget.get_by_role("button", name="Launch", exact=True)).to_be_disabled()
    set_field(widget, "constraint", "avx2&cloud")
    expect(constraint.locator(".dcv-field-warning")).to_contain_text(
        "No node of dcv has the feature cloud (its nodes have avx2, x11)"
    )
    set_field(widget, "constraint", "avx2")
    expect(constraint.locator(".dcv-field-warning")).to_be_hidden()
    expect(widget.get_by_role("button", name="Launch", exact=True)).to_be_enabled()

    # Whole node: a checkbox, offered because this site allows it.
    exclusive = field(widget, "exclusive").locator("input[type=checkbox]")
    expect(exclusive).to_be_visible()
    exclusive.check()
    expect(more.locator("summary")).to_have_text("More options")
    for theme, name in THEMES:
        switch_theme(page, name)
        shoot(form, artifacts, f"slurm-options-{theme}")
    # Folded, the summary says what the options hold (a preset's reservation is not missed).
    more.locator("summary").click()
    expect(more.locator("summary")).to_have_text(
        "More options (Account: class101, QOS: desktop, Reservation: dcv-class, "
        "Node features: avx2, Whole node: yes)"
    )
    expect(field(widget, "qos")).to_be_hidden()
    shoot(form, artifacts, "slurm-options-folded-dark")
    switch_theme(page, "JupyterLab Light")
    context.close()


def test_the_desktops_panel_offers_them_too(browser: Browser, lab: Lab, artifacts: Path) -> None:
    """The panel draws the same form from the server's REST API: the same choices, a checkbox
    and a typed GPU type going through the server's checks."""
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    page = context.new_page()
    page.goto(lab.page_url("/lab/workspaces/slurm-options-panel"))
    expect(page.locator(".jp-LabShell")).to_be_visible(timeout=60_000)
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="dcv-desktops-panel"]').click()
    panel = page.locator("#dcv-desktops-panel")
    expect(field(panel, "partition").locator("option", has_text="dcv-cloud:")).to_be_attached(
        timeout=60_000
    )
    set_field(panel, "partition", "dcv")
    set_field(panel, "gpus", "1")
    expect(field(panel, "gpu_type").locator('option[value="t4"]')).to_be_attached()
    panel.locator(".dcv-more-options summary").click()
    expect(field(panel, "reservation").locator('option[value="dcv-class"]')).to_be_attached()
    set_field(panel, "constraint", "avx2&cloud")
    expect(field(panel, "constraint").locator(".dcv-field-warning")).to_contain_text(
        "No node of dcv has the feature cloud"
    )
    # A GPU type, then no GPUs: the type stays shown, with why Launch is off.
    set_field(panel, "gpu_type", "t4")
    set_field(panel, "gpus", "0")
    expect(field(panel, "gpu_type").locator(".dcv-field-error")).to_contain_text(
        "GPU type: 't4' is not valid; a GPU type needs GPUs"
    )
    expect(panel.get_by_role("button", name="Launch", exact=True)).to_be_disabled()
    shoot(panel, artifacts, "slurm-options-panel-light")
    context.close()


def test_a_locked_class_form_shows_the_options_it_launches(
    browser: Browser, lab: Lab, artifacts: Path
) -> None:
    """A class's cell: the reservation and its account fixed, read-only; the Slurm options it
    leaves unset are not listed."""
    cell = (
        "from dcv_widget import Desktop\n"
        'Desktop(partition="dcv", time="30", account="class101", reservation="dcv-class", '
        "locked=True)"
    )
    write_notebook(str(lab.root / "slurm-options-locked.ipynb"), cell)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(lab.page_url("/lab/workspaces/slurm-options-locked/tree/slurm-options-locked.ipynb"))
    run_all_cells(page)
    widget = page.locator(".dcv-widget").first
    reservation = field(widget, "reservation").locator(".dcv-field-value")
    expect(reservation).to_contain_text("dcv-class: now, until", timeout=60_000)
    expect(field(widget, "account").locator(".dcv-field-value")).to_have_text("class101")
    for hidden in ("qos", "constraint", "exclusive", "gpu_type"):
        expect(field(widget, hidden)).to_be_hidden()
    expect(widget.locator(".dcv-more-options")).to_be_hidden()
    shoot(widget.locator(".dcv-launcher"), artifacts, "slurm-options-locked-light")
    context.close()
