"""JupyterLab behind a real JupyterHub (hub.py): the user logs in on the hub's page and works
under /user/<name>/, where the server extension answers only to the hub's login."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urljoin

from playwright.sync_api import Browser, expect

import dcv_widget

from .conftest import Hub
from .helpers import run_all_cells, write_notebook
from .hub import log_in


def test_jupyterlab_and_the_server_extension_through_the_hub(
    browser: Browser, hub: Hub, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    log_in(page, hub)
    write_notebook(str(hub.root / "hub-version.ipynb"), "import dcv_widget\ndcv_widget.__version__")
    page.goto(hub.user_url("/lab/tree/hub-version.ipynb"))
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
