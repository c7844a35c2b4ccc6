"""`python -m dcv_widget.access.ssm_documents NAME`: print a shipped SSM session document."""

from __future__ import annotations

import sys

from . import NAMES, content


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in NAMES:
        print(
            f"usage: python -m dcv_widget.access.ssm_documents {{{','.join(NAMES)}}}",
            file=sys.stderr,
        )
        return 2
    sys.stdout.write(content(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
