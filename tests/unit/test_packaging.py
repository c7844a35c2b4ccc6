"""The built package: versions agree, and Jupyter finds the prebuilt extension."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from jupyter_core.paths import jupyter_path

import dcv_widget
from dcv_widget.ui.card_widget import MODULE_NAME, MODULE_VERSION

JS = Path(__file__).parents[2] / "js"


def test_npm_package_matches_python_package() -> None:
    package = json.loads((JS / "package.json").read_text())
    assert package["name"] == MODULE_NAME
    assert package["version"] == dcv_widget.__version__
    assert f"^{dcv_widget.__version__}" == MODULE_VERSION


def test_front_end_registers_the_same_version() -> None:
    source = (JS / "src" / "version.ts").read_text()
    assert re.search(rf"MODULE_NAME = '{MODULE_NAME}'", source)
    assert re.search(rf"MODULE_VERSION = '{re.escape(dcv_widget.__version__)}'", source)


def test_installed_labextension_is_this_version() -> None:
    found = [
        Path(folder) / MODULE_NAME / "package.json"
        for folder in jupyter_path("labextensions")
        if (Path(folder) / MODULE_NAME / "package.json").exists()
    ]
    assert found, "the prebuilt dcv-widget labextension is not installed"
    assert json.loads(found[0].read_text())["version"] == dcv_widget.__version__
    assert (found[0].parent / "install.json").exists()


def test_jupyter_lists_the_extension_as_enabled_and_prebuilt() -> None:
    jupyter = Path(sys.executable).parent / "jupyter"
    listed = subprocess.run(
        [str(jupyter), "labextension", "list"], capture_output=True, text=True, check=True
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)
    line = next(line for line in output.splitlines() if f"{MODULE_NAME} v" in line)
    # "(python, dcv_widget)": installed by pip as a prebuilt extension, not a source build.
    assert f"{MODULE_NAME} v{dcv_widget.__version__} enabled OK (python, dcv_widget)" in line
