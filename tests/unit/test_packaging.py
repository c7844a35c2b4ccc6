"""The built package: versions agree, and Jupyter finds the prebuilt front-end and the server
extension (tests/integration/test_wheel_install.py builds and installs the wheel afresh)."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

from jupyter_core.paths import jupyter_path

import dcv_widget
from dcv_widget.ui.card_widget import MODULE_NAME, MODULE_VERSION

ROOT = Path(__file__).parents[2]
JS = ROOT / "js"
SERVER_CONFIG = "jupyter_server_config.d/dcv_widget.json"


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


def jupyter_list(*command: str) -> str:
    """What `jupyter <command> list` of this environment prints, without terminal colours."""
    jupyter = Path(sys.executable).parent / "jupyter"
    listed = subprocess.run(
        [str(jupyter), *command, "list"], capture_output=True, text=True, check=True
    )
    return re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)


def test_jupyter_lists_the_extension_as_enabled_and_prebuilt() -> None:
    output = jupyter_list("labextension")
    line = next(line for line in output.splitlines() if f"{MODULE_NAME} v" in line)
    # "(python, dcv_widget)": installed by pip as a prebuilt extension, not a source build.
    assert f"{MODULE_NAME} v{dcv_widget.__version__} enabled OK (python, dcv_widget)" in line


def test_shipped_server_config_enables_the_extension_module() -> None:
    """pip copies jupyter-config/ into <prefix>/etc/jupyter/ (pyproject's shared-data): it
    enables the package, whose extension points name the module that loads the proxy."""
    config = json.loads((ROOT / "jupyter-config" / SERVER_CONFIG).read_text())
    assert config == {"ServerApp": {"jpserver_extensions": {"dcv_widget": True}}}
    (point,) = dcv_widget._jupyter_server_extension_points()
    extension = importlib.import_module(point["module"])
    assert callable(extension._load_jupyter_server_extension)


def test_jupyter_lists_the_server_extension_as_enabled_and_valid() -> None:
    assert (Path(sys.prefix) / "etc" / "jupyter" / SERVER_CONFIG).exists()
    output = jupyter_list("server", "extension")
    assert re.search(r"^\s+dcv_widget enabled$", output, re.M), output
    # Validated: the module imports and has its load function.
    version = re.escape(dcv_widget.__version__)
    assert re.search(rf"^\s+dcv_widget {version} OK$", output, re.M), output
