"""dcv_widget: launch remote desktops on a Slurm cluster from a Jupyter notebook cell.

`Desktop()` in a cell shows the widget; `launch()` and `sessions()` are the same machinery for
scripts. Heavy optional libraries (boto3, paramiko) are imported only where they are used, so
`import dcv_widget` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .widget import Desktop

__all__ = ["Desktop", "__version__"]


def __getattr__(name: str) -> Any:
    # ipywidgets pulls in IPython; load it on first use of the widget, not on import.
    if name == "Desktop":
        from .widget import Desktop

        return Desktop
    raise AttributeError(f"module 'dcv_widget' has no attribute {name!r}")


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where JupyterLab finds the prebuilt front-end (used by `jupyter labextension develop`)."""
    return [{"src": "labextension", "dest": "dcv-widget"}]
