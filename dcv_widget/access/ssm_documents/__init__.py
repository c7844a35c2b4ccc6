"""The site's SSM session documents for the `ssm` and `ssm-head` routes (docs/access-routes.md).

Shipped in the package (not only in docs/) so that an admin creates them from the installed
version, whose commands name them (c.DesktopSettings.ssm_document / ssm_remote_document), and
so that the tests check the copies in the docs are these files:

    python -m dcv_widget.access.ssm_documents DcvWidget-PortForwardToNode > node.json
    aws ssm create-document --document-type Session --document-format JSON \\
        --name DcvWidget-PortForwardToNode --content file://node.json
"""

from __future__ import annotations

from importlib.resources import files

TO_NODE = "DcvWidget-PortForwardToNode"
THROUGH_HEAD = "DcvWidget-PortForwardThroughHead"
NAMES = (TO_NODE, THROUGH_HEAD)


def content(name: str) -> str:
    """The document's JSON text, as `aws ssm create-document --content` takes it."""
    if name not in NAMES:
        raise ValueError(f"{name!r} is not a dcv_widget SSM document; use one of {NAMES}")
    return files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8")
