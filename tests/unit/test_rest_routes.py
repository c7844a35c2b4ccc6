"""The Desktops panel API's routes (dcv_widget/server/rest.py) take every name it hands out."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from dcv_widget.desktops.presets import NAME_LENGTH
from dcv_widget.server.rest import HANDLERS, PresetHandler


@pytest.mark.parametrize("name", ["桌" * NAME_LENGTH, "🖥" * NAME_LENGTH, "a/b?c#d%e f"])
def test_every_preset_name_a_user_may_save_can_be_deleted(name: str) -> None:
    # The browser sends the name percent-encoded (encodeURIComponent) in the path, which the
    # route matches before unquoting: 40 characters of 4 bytes are 480 there.
    pattern = next(route for route, handler in HANDLERS if handler is PresetHandler)
    assert re.fullmatch(pattern, "presets/" + quote(name, safe=""))
