"""Launch presets and *Launch again*, as a person uses them in Chromium against the real local
Slurm (issue 17, items 1 and 4): the site's presets are the form's first choice; choosing one
fills the form, a desktop launched from it and ended is launched again with the same options;
a preset saved from the form is there after a reload and deleted; in the Desktops panel a
desktop that can never start (64 CPUs on the local nodes: Slurm keeps it queued with
PartitionConfig; the local partitions' MaxTime is INFINITE, so no time case is real here),
once ended, says what to change and Launch again… opens the form with CPUs marked. Light and
dark screenshots of the chooser and of that card."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from .helpers import end_with_confirmation, launch, run_all_cells, switch_theme, write_notebook
from .lab import Lab, running_lab
from .test_form_and_list_ui import set_field, shoot

PRESETS = [
    {"name": "Small", "description": "1 CPU, 3 min", "cpus": 1, "time": "0:03:00"},
    {"name": "Two CPUs", "cpus": 2, "time": "0:04:00"},
    {"name": "Class", "description": "this week's lab", "time": "0:05:00", "locked": True},
]
SITE = {"DesktopSettings": {"partition": "dcv", "time": "0:10:00", "presets": PRESETS}}
THEMES = (("light", "JupyterLab Light"), ("dark", "JupyterLab Dark"))


@pytest.fixture(scope="module")
def presets_lab(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[Lab]:
    """A JupyterLab whose site has presets, its user's presets in a data dir of its own."""
    home = tmp_path_factory.mktemp("presets-home")
    (home / "config").mkdir()
    (home / "config" / "jupyter_dcv_widget_config.json").write_text(json.dumps(SITE))
    root = tmp_path_factory.mktemp("presets-root")
    env = {**os.environ, "JUPYTER_DATA_DIR": str(home / "data")}
    with running_lab(root, home, artifacts / "presets-lab.log", env) as lab:
        yield lab


def squeue(job: str) -> list[str]:
    """The job's CPUs, time limit and partition as Slurm has them."""
    done = subprocess.run(
        ["squeue", "--noheader", f"--jobs={job}", "--format=%C %l %P"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout.split()


def job_of(card: Locator) -> str:
    expect(card).to_have_attribute("data-job-id", re.compile(r"^\d+$"), timeout=60_000)
    return card.get_attribute("data-job-id") or ""


def chip(widget: Locator, name: str) -> Locator:
    return widget.locator(f'.dcv-preset-chip[data-preset="{name}"]')


def open_notebook(page: Page, lab: Lab, name: str) -> Locator:
    page.goto(lab.page_url(f"/lab/workspaces/{name}/tree/{name}.ipynb"))
    run_all_cells(page)
    widget = page.locator(".dcv-widget").first
    expect(widget.get_by_role("button", name="Launch", exact=True)).to_be_enabled(timeout=60_000)
    return widget


def test_a_site_preset_launches_and_launches_again_and_users_save_their_own(
    browser: Browser, presets_lab: Lab, artifacts: Path
) -> None:
    write_notebook(
        str(presets_lab.root / "presets.ipynb"), "from dcv_widget import Desktop\nDesktop()"
    )
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    jobs: list[str] = []
    try:
        widget = open_notebook(page, presets_lab, "presets")
        chooser = widget.locator(".dcv-presets")
        # The presets come first, above the fields, then Custom (chosen: nothing set yet).
        names = chooser.locator(".dcv-preset-chip").evaluate_all(
            "chips => chips.map(c => c.dataset.preset)"
        )
        assert names == ["Small", "Two CPUs", "Class", ""]
        above = chooser.evaluate(
            "c => c.compareDocumentPosition(c.parentNode.querySelector('.dcv-fields')) & 4"
        )
        assert above, "the chooser is above the fields"
        expect(chip(widget, "")).to_have_attribute("aria-pressed", "true")
        expect(chip(widget, "Small")).to_contain_text("1 CPU, 3 min")
        expect(chip(widget, "Two CPUs")).to_contain_text("2 CPUs for 4 min")

        # A locked preset shows its values read-only.
        chip(widget, "Class").click()
        expect(widget.locator(".dcv-launcher")).to_have_attribute("data-locked", "true")
        expect(widget.locator('.dcv-field[data-name="time"] .dcv-field-value')).to_have_text(
            "0:05:00"
        )
        for theme, name in THEMES:
            switch_theme(page, name)
            shoot(widget.locator(".dcv-launcher"), artifacts, f"preset-chooser-{theme}")
        switch_theme(page, "JupyterLab Light")

        # Two CPUs fills the form; launched, ended, and launched again with the same options.
        chip(widget, "Two CPUs").click()
        expect(chip(widget, "Two CPUs")).to_have_attribute("aria-pressed", "true")
        time_input = widget.locator('.dcv-field[data-name="time"] input')
        expect(time_input).to_have_value("0:04:00")
        expect(widget.locator('.dcv-field[data-name="cpus"] input')).to_have_value("2")
        card = launch(widget)
        jobs.append(job_of(card))
        end_with_confirmation(card)
        expect(card).to_have_attribute("data-state", "ended", timeout=60_000)
        relaunch = card.get_by_role("button", name="Launch again", exact=True)
        expect(relaunch).to_be_visible()
        relaunch.click()
        live = ".dcv-cards-region > .dcv-cards > .dcv-card:not([data-state='ended'])"
        expect(widget.locator(live)).to_have_count(1, timeout=30_000)
        new = widget.locator(
            f'.dcv-card[data-key="{widget.locator(live).get_attribute("data-key")}"]'
        )
        jobs.append(job_of(new))
        assert jobs[1] != jobs[0]
        assert squeue(jobs[1]) == ["2", "4:00", "dcv"]
        end_with_confirmation(new)
        expect(new).to_have_attribute("data-state", "ended", timeout=60_000)

        # An edit makes the form Custom; saved as the user's own preset, it is chosen.
        set_field(widget, "cpus", "3")
        expect(chip(widget, "")).to_have_attribute("aria-pressed", "true")
        widget.get_by_role("button", name="Save as preset…").click()
        name_input = widget.get_by_role("textbox", name="Name of the new preset")
        name_input.fill("small")  # a site preset's name: refused, saying why
        name_input.press("Enter")
        expect(widget.locator(".dcv-preset-note")).to_contain_text(
            "the site has a preset called 'Small'; choose another name"
        )
        name_input.fill("Three CPUs")
        widget.get_by_role("button", name="Save", exact=True).click()
        expect(chip(widget, "Three CPUs")).to_have_attribute("aria-pressed", "true")
        expect(chip(widget, "Three CPUs")).to_have_attribute("data-mine", "true")
        expect(widget.locator(".dcv-preset-note")).to_have_text("Saved your preset 'Three CPUs'.")

        # After a reload (a new kernel's widget) it is still there; deleted, it is gone.
        page.reload()
        widget = open_notebook(page, presets_lab, "presets")
        expect(chip(widget, "Three CPUs")).to_be_visible()
        chip(widget, "Three CPUs").click()
        expect(widget.locator('.dcv-field[data-name="cpus"] input')).to_have_value("3")
        widget.get_by_role("button", name="Delete “Three CPUs”").click()
        expect(chip(widget, "Three CPUs")).to_have_count(0)
        expect(widget.locator(".dcv-preset-note")).to_have_text("Deleted your preset 'Three CPUs'.")
    finally:
        subprocess.run(["scancel", *jobs], check=False)
        context.close()


def test_a_never_start_desktop_says_what_to_change_and_opens_the_form_marked(
    browser: Browser, presets_lab: Lab, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    job = ""
    try:
        page.goto(presets_lab.page_url("/lab/workspaces/presets-panel"))
        expect(page.locator(".jp-LabShell")).to_be_visible(timeout=60_000)
        page.locator('.jp-SideBar .lm-TabBar-tab[data-id="dcv-desktops-panel"]').click()
        panel = page.locator("#dcv-desktops-panel")
        expect(panel.get_by_role("button", name="Launch", exact=True)).to_be_enabled(timeout=60_000)
        expect(panel.locator('.dcv-preset-chip[data-preset="Small"]')).to_be_visible()
        set_field(panel, "cpus", "64")
        set_field(panel, "time", "0:05:00")
        expect(panel.locator('.dcv-field[data-name="cpus"] input')).to_have_value("64")
        card = launch(panel)
        job = job_of(card)
        expect(card).to_have_attribute("data-tone", "stuck", timeout=60_000)
        end_with_confirmation(card)
        expect(card).to_have_attribute("data-state", "ended", timeout=60_000)
        change = card.locator(".dcv-card-change")
        expect(change).to_have_text(
            re.compile(
                r"^To launch again, change CPUs: no node of dcv has 64 CPUs: ask for at most "
                r"\d+, or choose another partition\.$"
            )
        )
        for theme, name in THEMES:
            switch_theme(page, name)
            shoot(card, artifacts, f"relaunch-hint-{theme}")
        switch_theme(page, "JupyterLab Light")

        card.get_by_role("button", name="Launch again…").click()
        cpus = panel.locator('.dcv-field[data-name="cpus"]')
        expect(cpus.locator(".dcv-field-error")).to_contain_text("CPUs: no node of dcv has 64 CPUs")
        expect(cpus.locator("input")).to_be_focused()
        expect(cpus.locator("input")).to_have_value("64")
        expect(panel.get_by_role("button", name="Launch", exact=True)).to_be_disabled()
        shoot(panel.locator(".dcv-launcher"), artifacts, "relaunch-form-marked-light")
        set_field(panel, "cpus", "2")
        expect(cpus.locator(".dcv-field-error")).to_be_hidden()
        expect(panel.get_by_role("button", name="Launch", exact=True)).to_be_enabled()
    finally:
        if job:
            subprocess.run(["scancel", job], check=False)
        context.close()
