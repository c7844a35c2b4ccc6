"""Where no widget front-end exists (nbconvert HTML, GitHub, nbviewer) the output is a static,
honest card, not "Loading widget…"."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter


def test_nbconvert_html_shows_the_static_card() -> None:
    cell = nbformat.v4.new_code_cell("from dcv_widget import Desktop\nDesktop(attach=False)")  # type: ignore[no-untyped-call]
    nb = nbformat.v4.new_notebook(cells=[cell])  # type: ignore[no-untyped-call]
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=False).execute()
    html, _ = HTMLExporter().from_notebook_node(nb)  # type: ignore[no-untyped-call]
    assert "Remote desktops</b> (dcv_widget), as when this cell ran" in html
    assert "No desktop had been launched." in html
    assert "with a running kernel" in html
    output = nb.cells[0].outputs[0]
    assert output["data"]["text/plain"].startswith("Remote desktops (dcv_widget): none yet.")
