"""What the desktop and instance widgets share: the synced traits the view draws (a launcher
form and cards, js/src/widget.ts), the static fallback, and answering a Connect click.

The connect URL may carry a secret, so it is never synced (synced state is saved into the
notebook file): it goes to the browser once, in a custom message answering the Connect click of
the view that asked.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from typing import Any

import ipywidgets as widgets
from traitlets import Dict, List, Unicode

from .. import __version__
from .desktop_cards import static_html, static_summary

MODULE_NAME = "dcv-widget"
MODULE_VERSION = f"^{__version__}"
# Cards shown in full; those after them are rows of a dense list.
COMPACT_AFTER = 4


class CardWidget(widgets.DOMWidget):  # type: ignore[misc]
    """A launcher form and a card per desktop, drawn by the DesktopView."""

    _model_name = Unicode("DesktopModel").tag(sync=True)
    _model_module = Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    _view_name = Unicode("DesktopView").tag(sync=True)
    _view_module = Unicode(MODULE_NAME).tag(sync=True)
    _view_module_version = Unicode(MODULE_VERSION).tag(sync=True)

    launcher = Dict().tag(sync=True)
    cards = List(Dict()).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_msg(self._answer_clock)

    def _answer_clock(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        """Tell the view asking (`clock`) this kernel's time now: the cards' times are on this
        clock (Slurm's moved onto it, see slurm.ClusterClock), so the view counts down from it
        rather than from its browser's, which may be off (js/src/time.ts, ServerClock)."""
        if content.get("action") == "clock":
            request = str(content.get("request", ""))
            self.send({"event": "clock", "request": request, "now": time.time()})

    def __repr__(self) -> str:
        return static_summary(self.cards)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget, plus a static card for renderers without widgets (JupyterLab and
        Notebook 7 prefer the widget)."""
        data: dict[str, Any] = super()._repr_mimebundle_(**kwargs)
        data["text/html"] = static_html(self.cards)
        return data

    def _show_cards(self, cards: list[dict[str, Any]]) -> None:
        """Show `cards` in their order: the first COMPACT_AFTER in full, the rest as rows. One
        more card turns one more into a row: the list grows, it never jumps from cards to rows."""
        self.cards = [{**card, "compact": i >= COMPACT_AFTER} for i, card in enumerate(cards)]

    def _allowed(self, key: str) -> list[str]:
        """The actions the card of `key` offers now: a message for any other is ignored."""
        card = next((c for c in self.cards if c["key"] == key), None)
        return list(card["actions"]) if card else []

    def _send_url(self, key: str, request: str, future: Future[str] | None) -> None:
        """Answer one view's Connect click; only the view that sent `request` opens the URL."""
        try:
            if future is None:
                raise RuntimeError("this desktop is not ready to connect")
            url = future.result()
        except Exception as exc:
            self._card_error(key, f"Connect failed: {exc}")
            self.send({"event": "open-failed", "request": request})
            return
        self.send({"event": "open", "request": request, "url": url})

    def _card_error(self, key: str, message: str) -> None:
        """Show `message` on the card of `key` until its state changes."""
        raise NotImplementedError
