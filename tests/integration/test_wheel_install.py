"""A head node without Node.js: the wheel, built once where Node.js is, installs with pip alone
and enables both extensions, the prebuilt JupyterLab front-end and the Jupyter server extension.

The wheel is built as the README says (`pip wheel --no-deps .`: pip's build isolation, then the
hatch-jupyter-builder hook runs `npm install` and `npm run build:prod` in js/) from a copy of this
tree without an earlier build's outputs, so the front-end in the wheel is the one this build
made. Nothing reaches the network: pip takes every wheel from the wheelhouse that
scripts/setup-system.sh fills, npm runs offline on the node_modules that the set-up installs, and
the fresh virtualenv's PATH is its own bin/ alone (no node, no npm).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

import dcv_widget

ROOT = Path(__file__).parents[2]
# Filled by scripts/setup-system.sh, which may use the registries; the tests may not.
WHEELHOUSE = Path("/opt/dcv-widget/wheelhouse")
NODE_MODULES = Path("/opt/dcv-widget/js-deps/node_modules")
PIP_OFFLINE: list[str | Path] = ["--no-index", "--find-links", WHEELHOUSE]
# Left out of the copy: caches, the node_modules the set-up provides, and an earlier build's
# outputs (a stale dcv_widget/labextension would otherwise be packed as it is).
SKIPPED_NAMES = {".git", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", ".venv"}
SKIPPED_PATHS = {
    "build",
    "dist",
    "test-artifacts",
    "js/lib",
    "js/tsconfig.tsbuildinfo",
    "dcv_widget/labextension",
}
VERSION = dcv_widget.__version__


@dataclass(frozen=True)
class Build:
    tree: Path  # the copy the wheel was built from, with the build's outputs and node_modules
    wheel: Path


def _left_out(folder: str, names: list[str]) -> set[str]:
    here = Path(folder).relative_to(ROOT)
    return {n for n in names if n in SKIPPED_NAMES or (here / n).as_posix() in SKIPPED_PATHS}


def offline_env(home: Path, path: str) -> dict[str, str]:
    """A clean environment: no PYTHONPATH (it would show this tree's dcv_widget to the fresh
    virtualenv), a scratch HOME (no user-level Jupyter paths, pip or npm settings), pip without
    the machine's configuration files, npm offline."""
    return {
        "HOME": str(home),
        "PATH": path,
        "LANG": "C.UTF-8",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "npm_config_offline": "true",
        "npm_config_audit": "false",
        "npm_config_fund": "false",
        "npm_config_update_notifier": "false",
    }


def run(args: Sequence[str | Path], env: dict[str, str], cwd: Path | None = None) -> str:
    """stdout and stderr of a command that must succeed, without terminal colours."""
    done = subprocess.run(
        [str(arg) for arg in args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)


def section(listing: str, header: str) -> list[str]:
    """The indented lines under `header` in the output of a `jupyter … list` command."""
    lines = listing.splitlines()
    assert header in lines, listing
    body = itertools.takewhile(lambda line: line.startswith(" "), lines[lines.index(header) + 1 :])
    return [line.strip() for line in body]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Build]:
    for needed in (WHEELHOUSE, NODE_MODULES):
        assert needed.is_dir(), f"{needed} is missing: run scripts/setup-system.sh, which fills it"
    work = tmp_path_factory.mktemp("wheel")
    tree = work / "tree"
    shutil.copytree(ROOT, tree, ignore=_left_out)
    shutil.copytree(NODE_MODULES, tree / "js" / "node_modules", symlinks=True)
    env = offline_env(work / "home", os.environ["PATH"])
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", *PIP_OFFLINE, "-w", work]
    try:
        run([*pip_wheel, tree], env)
        yield Build(tree, work / f"dcv_widget-{VERSION}-py3-none-any.whl")
    finally:
        shutil.rmtree(tree / "js" / "node_modules")  # over 100 MB


def test_wheel_carries_both_extensions_and_no_tests(build: Build) -> None:
    with zipfile.ZipFile(build.wheel) as wheel:
        names = wheel.namelist()
    data = f"dcv_widget-{VERSION}.data/data"
    assert f"{data}/etc/jupyter/jupyter_server_config.d/dcv_widget.json" in names
    for built in ("package.json", "install.json", "static/style.js"):
        assert f"{data}/share/jupyter/labextensions/dcv-widget/{built}" in names
    assert [name for name in names if name.startswith("tests/")] == []


def test_head_node_without_node_gets_both_extensions_enabled(build: Build, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    env = offline_env(tmp_path / "home", str(venv / "bin"))
    run([sys.executable, "-m", "venv", venv], env)
    python, jupyter = venv / "bin" / "python", venv / "bin" / "jupyter"
    which = "import shutil; print(shutil.which('node'), shutil.which('npm'))"
    assert run([python, "-c", which], env) == "None None\n"

    run([python, "-m", "pip", "install", *PIP_OFFLINE, build.wheel, "jupyterlab"], env)

    labextensions = run([jupyter, "labextension", "list"], env)
    assert f"dcv-widget v{VERSION} enabled OK (python, dcv_widget)" in section(
        labextensions, f"{venv}/share/jupyter/labextensions"
    )
    server_extensions = run([jupyter, "server", "extension", "list"], env)
    enabled_here = section(server_extensions, f"Config dir: {venv}/etc/jupyter")
    assert "dcv_widget enabled" in enabled_here
    assert f"dcv_widget {VERSION} OK" in enabled_here, server_extensions


def test_sdist_has_the_server_config_and_front_end_sources_but_no_fakes(
    build: Build, tmp_path: Path
) -> None:
    """From the tree as a clone has it after a build (js/node_modules, js/lib, the labextension);
    hatchling's hooks are off: the npm build only makes files the sdist leaves out."""
    env = offline_env(tmp_path / "home", os.environ["PATH"])
    hatchling = tmp_path / "hatchling"
    run([sys.executable, "-m", "pip", "install", *PIP_OFFLINE, "-t", hatchling, "hatchling"], env)
    env |= {"PYTHONPATH": str(hatchling), "HATCH_BUILD_NO_HOOKS": "true"}
    sdist_build = [sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(tmp_path)]
    run(sdist_build, env, cwd=build.tree)

    with tarfile.open(tmp_path / f"dcv_widget-{VERSION}.tar.gz") as sdist:
        names = {name.partition("/")[2] for name in sdist.getnames()}
    assert {
        "jupyter-config/jupyter_server_config.d/dcv_widget.json",
        "install.json",
        "js/package.json",
        "js/package-lock.json",
        "js/src/plugin.ts",
        "dcv_widget/__init__.py",
    } <= names
    left_out = ("tests/fakes/", ".ci/", "js/node_modules/", "js/lib/", "dcv_widget/labextension/")
    assert sorted(name for name in names if name.startswith(left_out)) == []
