"""The JupyterLab settings of the front-end (js/schema/plugin.json): each documented with its
default in docs/configuration.md, as the Python settings are."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_every_lab_setting_is_documented_with_its_default() -> None:
    schema = json.loads((ROOT / "js" / "schema" / "plugin.json").read_text())
    page = (ROOT / "docs" / "configuration.md").read_text()
    section = page.split("## Notifications and the time left")[1].split("\n## ")[0]
    assert schema["properties"]
    for name, spec in schema["properties"].items():
        assert f"| `{name}` | `{json.dumps(spec['default'])}` |" in section, name
