"""How noVNC shows a desktop: fit to the window, quality and compression (Open OnDemand's sliders).

The choice is the browser's (js/src/display.ts keeps it in localStorage, per desktop and as the
browser's default): it travels with a Connect click to whoever builds the noVNC page's URL (the
kernel for direct routes, the Jupyter server's Connect entry for the jupyter route), which checks
it here and puts it in the page's fragment beside the VNC password. It is not a secret, and it is
never synced widget state: another browser (a colleague's screen, a phone) chooses its own.

noVNC 1.3 (app/ui.js, `initSetting`) reads each setting from the URL first, then from what its own
settings panel stored: a value in the URL wins for that page load only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .request import InvalidRequest

# noVNC's `resize` setting: the remote desktop resized to the window ("remote"), the picture scaled
# to the window in the browser ("scale"), or shown at its own size with scroll bars ("off").
RESIZE_MODES = ("remote", "scale", "off")
# noVNC's own bounds (the settings panel's sliders): 0 is the lowest quality, 9 the best;
# compression 0 is none, 9 the most (more CPU, less bandwidth).
LEVELS = range(10)
NAMES = ("resize", "quality", "compression")


@dataclass(frozen=True)
class DisplayChoice:
    """noVNC's defaults, except `resize`: a desktop fits the window the user opens it in."""

    resize: str = "remote"
    quality: int = 6
    compression: int = 2

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_MODES:
            raise InvalidRequest("resize", self.resize, f"choose one of {', '.join(RESIZE_MODES)}")
        for name in ("quality", "compression"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value not in LEVELS:
                raise InvalidRequest(name, value, "use a whole number from 0 to 9")

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> DisplayChoice:
        """The choice in `params` (a URL's query, a view's message: strings or numbers), each
        missing one at its default; raises InvalidRequest naming the first bad one."""
        values: dict[str, object] = {}
        for name in NAMES:
            raw = params.get(name)
            if raw is None:
                continue
            if name == "resize":
                values[name] = str(raw)
            elif isinstance(raw, int) and not isinstance(raw, bool):
                values[name] = raw
            elif isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) == 1:
                values[name] = int(raw)
            else:
                raise InvalidRequest(name, raw, "use a whole number from 0 to 9")
        return cls(**values)  # type: ignore[arg-type]

    def params(self) -> tuple[str, ...]:
        """As noVNC's page reads them from its URL ("resize=scale", "quality=2", ...)."""
        return tuple(f"{name}={getattr(self, name)}" for name in NAMES)

    def query(self) -> str:
        """For a URL's query: the Jupyter server's Connect entry takes them there."""
        return "&".join(self.params())
