"""dcv_widget: launch remote desktops on a Slurm cluster from a Jupyter notebook cell.

`Desktop()` in a cell shows the widget; `launch()`, `sessions()` and `end()` are the same
machinery for scripts. `Instances()` manages stand-alone DCV EC2 instances,
`install_idle_policy()` stops idle ones. Heavy optional libraries (boto3, paramiko) are
imported only where they are used, so `import dcv_widget` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .api import DesktopFailed, DesktopHandle, end, launch, sessions
    from .instances.idle_policy import install_idle_policy, remove_idle_policy
    from .ui.class_overview import ClassOverview
    from .ui.desktop import Desktop
    from .ui.instances import Instances

__all__ = [
    "ClassOverview",
    "Desktop",
    "DesktopFailed",
    "DesktopHandle",
    "Instances",
    "__version__",
    "end",
    "install_idle_policy",
    "launch",
    "remove_idle_policy",
    "sessions",
]

# Loaded on first use: ipywidgets pulls in IPython, the API traitlets' config machinery.
_LAZY = {
    "Desktop": "ui.desktop",
    "DesktopFailed": "api",
    "DesktopHandle": "api",
    "end": "api",
    "launch": "api",
    "sessions": "api",
    "Instances": "ui.instances",
    "ClassOverview": "ui.class_overview",
    "install_idle_policy": "instances.idle_policy",
    "remove_idle_policy": "instances.idle_policy",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'dcv_widget' has no attribute {name!r}")


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where JupyterLab finds the prebuilt front-end (used by `jupyter labextension develop`)."""
    return [{"src": "labextension", "dest": "dcv-widget"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The Jupyter server extension (the desktop proxy), enabled on install by
    jupyter-config/jupyter_server_config.d/dcv_widget.json."""
    return [{"module": "dcv_widget.server.extension"}]
