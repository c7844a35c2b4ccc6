"""E2E tier: a real JupyterLab on loopback, driven in Debian's Chromium through Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from .lab import CHROMIUM, CHROMIUM_ARGS, Lab, running_lab

__all__ = ["Lab"]

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[Lab]:
    """JupyterLab (and Notebook 7, same server) on 127.0.0.1 with its own config dirs."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (run scripts/setup-system.sh)")
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(NOTEBOOKS, root / "notebooks")
    home = tmp_path_factory.mktemp("jupyter-home")
    with running_lab(root, home, artifacts / "jupyterlab.log") as lab:
        yield lab


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
