"""The package's layering rule (docs/architecture.md), read from the imports themselves.

    __init__ api cli        the public face: may import anything
    ui/                     the notebook widgets: the only room that imports ipywidgets
    server/                 the Jupyter server extension: the only room that imports tornado;
                            it hosts the widget's cards and form too (ui's pure modules)
    settings managers       configuration, and the managers built from it
    desktops/ instances/    the two features, side by side: neither imports the other
    access/                 how a browser reaches a desktop
    transport/              how commands reach the cluster
    common/                 helpers any layer may use; they import no other room
    node/                   runs on compute nodes: imports nothing of dcv_widget

Every import counts, those under `if TYPE_CHECKING:` and inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dcv_widget

PACKAGE = Path(dcv_widget.__file__).parent

# The room of a module: its folder under dcv_widget/, or the top-level module's own name.
ALLOWED = {
    "ui": {"ui", "settings", "managers", "desktops", "instances", "access", "transport", "common"},
    "server": {"server", "settings", "managers", "desktops", "access", "transport", "common"},
    "settings": {"desktops", "access", "common"},
    "managers": {"settings", "desktops", "instances", "access", "transport", "common"},
    "desktops": {"desktops", "access", "transport", "common"},
    "instances": {"instances", "access", "transport", "common"},
    "access": {"access", "transport", "common"},
    "transport": {"transport", "common"},
    "common": {"common"},
    "node": set(),
}
# The Desktops panel (server/) shows the same cards and form as the widget: it may import the
# pure modules of ui/ that decide what they say, never a widget.
PURE_UI = {"dcv_widget.ui.desktop_cards", "dcv_widget.ui.launcher", "dcv_widget.ui.presets"}
# Third-party packages only some rooms may use.
ONLY_IN = {"ipywidgets": {"ui"}, "tornado": {"server"}, "jupyter_server": {"server"}}


def room_of(module: str) -> str:
    """`dcv_widget.desktops.manager` -> "desktops"; `dcv_widget.settings` -> "settings"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "labextension" in path.parts:
            continue
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found.append((".".join(parts), path))
    return found


def imports_of(module: str, path: Path) -> set[str]:
    """Every module `module` imports, relative imports resolved."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names.add(source)
            # `from . import x` may name a module: count it as imported too.
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


MODULES = modules()
OWN = {module for module, _ in MODULES}


def targets_of(module: str, path: Path) -> set[str]:
    """The modules of dcv_widget that `module` imports (a name imported from a module counts as
    that module)."""
    targets = set()
    for name in imports_of(module, path):
        if name in OWN:
            targets.add(name)
        elif name.rpartition(".")[0] in OWN:
            targets.add(name.rpartition(".")[0])
    return targets


def test_every_room_is_known() -> None:
    rooms = {room_of(module) for module, _ in MODULES}
    assert rooms <= {*ALLOWED, "__init__", "api", "cli"}, rooms - {*ALLOWED, "__init__"}


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_layers_import_only_downward(module: str, path: Path) -> None:
    room = room_of(module)
    if room not in ALLOWED:
        return  # the public face may import any room
    wrong = sorted(
        target
        for target in targets_of(module, path)
        if target != "dcv_widget"  # the package itself: its __version__
        and room_of(target) not in ALLOWED[room]
        and not (room == "server" and target in PURE_UI)
    )
    assert not wrong, f"{module} ({room}/) imports {wrong}: see docs/architecture.md"


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_third_party_frameworks_stay_in_their_room(module: str, path: Path) -> None:
    room = room_of(module)
    for name in imports_of(module, path):
        top = name.split(".")[0]
        if top in ONLY_IN:
            assert room in ONLY_IN[top] or room in ("__init__", "api", "cli"), (
                f"{module} imports {name}, which belongs in {sorted(ONLY_IN[top])}"
            )


@pytest.mark.parametrize("module", sorted(PURE_UI))
def test_the_ui_modules_the_server_hosts_are_pure(module: str) -> None:
    """They import no widget and nothing of ui/ but each other (so no ipywidgets), only the
    rooms below."""
    path = dict(MODULES)[module]
    assert not any(name.split(".")[0] == "ipywidgets" for name in imports_of(module, path))
    below = ALLOWED["ui"] - {"ui"}
    others = {target for target in targets_of(module, path) if target not in PURE_UI}
    assert {room_of(target) for target in others} <= below


def test_the_node_verifier_stands_alone() -> None:
    """It is copied onto nodes as one file: nothing of dcv_widget, stdlib only."""
    path = PACKAGE / "node" / "verifier.py"
    for name in imports_of("dcv_widget.node.verifier", path):
        assert not name.startswith("dcv_widget"), name


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The check itself: a transport module importing the desktops layer is refused."""
    bad = tmp_path / "bad.py"
    bad.write_text("from ..desktops.manager import SessionManager\n")
    targets = targets_of("dcv_widget.transport.bad", bad)
    assert targets == {"dcv_widget.desktops.manager"}
    assert room_of("dcv_widget.desktops.manager") not in ALLOWED["transport"]


def test_every_public_name_resolves() -> None:
    """The documented imports (`from dcv_widget import Desktop, launch, ...`) survive moves:
    they are loaded on first use, from module paths written as strings."""
    for name in dcv_widget.__all__:
        assert getattr(dcv_widget, name) is not None, name
    from dcv_widget import (  # noqa: F401 (the README's import line, as users write it)
        ClassOverview,
        Desktop,
        Instances,
        install_idle_policy,
        launch,
        sessions,
    )
