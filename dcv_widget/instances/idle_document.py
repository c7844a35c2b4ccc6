"""The SSM Command document of the idle check, one per platform: pure, from the check scripts
beside this module (idle_check.sh for Linux, idle_check.ps1 for Windows)."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

PLATFORMS = {"linux": "Linux", "windows": "Windows"}
CHECK_SECONDS = 60
# The idle checks themselves, one per platform, are the data files idle_check.sh and
# idle_check.ps1 beside this module.
IDLE_CHECKS = {"linux": "idle_check.sh", "windows": "idle_check.ps1"}


def idle_document(platform: str, idle_minutes: int) -> dict[str, Any]:
    """The SSM Command document (schema 2.2) of the idle check for "linux" or "windows"."""
    linux = platform == "linux"
    script = files(__package__).joinpath(IDLE_CHECKS[platform]).read_text()
    return {
        "schemaVersion": "2.2",
        "description": (
            "dcv-widget idle check: shuts the instance down when nobody has been connected to "
            "NICE DCV for idleMinutes; EC2's InstanceInitiatedShutdownBehavior then stops or "
            "terminates it (docs/ec2-idle-policy.md)."
        ),
        "parameters": {
            "idleMinutes": {
                "type": "String",
                "description": "Minutes with nobody connected to DCV before the shutdown.",
                "default": str(idle_minutes),
                "allowedPattern": "^[0-9]{1,4}$",
            },
            "checkSeconds": {
                "type": "String",
                "description": "Seconds between two questions to DCV while waiting.",
                "default": str(CHECK_SECONDS),
                "allowedPattern": "^[1-9][0-9]{0,3}$",
            },
            "idleSeconds": {
                "type": "String",
                "description": "For tests: the idle time in seconds, instead of idleMinutes.",
                "default": "",
                "allowedPattern": "^[0-9]{0,6}$",
            },
        },
        "mainSteps": [
            {
                "action": "aws:runShellScript" if linux else "aws:runPowerShellScript",
                "name": "idleCheck",
                "precondition": {"StringEquals": ["platformType", PLATFORMS[platform]]},
                "inputs": {
                    # The whole wait, the checks and DCV's answers, with room to spare.
                    "timeoutSeconds": str(idle_minutes * 60 + 900),
                    "runCommand": script.splitlines(),
                },
            }
        ],
    }
