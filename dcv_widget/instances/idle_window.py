"""An idle policy's maintenance window (its target and one Run Command task per platform) made
and taken down, and the idle checks still waiting on instances cancelled."""

from __future__ import annotations

import contextlib
from typing import Any

from ..access.aws import error_code
from .idle_document import PLATFORMS

# A Run Command that has not reached an instance within this time is dropped (a stopped instance
# would otherwise get a stale check when it starts again).
DELIVERY_TIMEOUT = 600
# SSM's answers for something already gone: fine when deleting.
GONE = ("DoesNotExistException", "InvalidDocument", "InvalidResourceId")


def create_window(
    ssm: Any,
    name: str,
    tag: str,
    value: str,
    minutes: int,
    schedule: str,
    documents: tuple[str, ...],
    tags: list[dict[str, str]],
) -> tuple[str, str, tuple[str, ...]]:
    """The window running each platform's check on the instances tagged tag=value; its id, its
    target's and its tasks'. A failure half-way takes down what was made."""
    window_id = str(
        ssm.create_maintenance_window(
            Name=name,
            Description="dcv-widget idle policy (docs/ec2-idle-policy.md)",
            Schedule=schedule,
            # The shortest window. Checks that wait past its end go on (CONTINUE_TASK).
            Duration=1,
            Cutoff=0,
            AllowUnassociatedTargets=False,
            Tags=tags,
        )["WindowId"]
    )
    try:
        target_id = str(
            ssm.register_target_with_maintenance_window(
                WindowId=window_id,
                ResourceType="INSTANCE",
                Targets=[{"Key": f"tag:{tag}", "Values": [value]}],
                Name=f"{name}-target",
                Description="the instances this idle policy checks",
            )["WindowTargetId"]
        )
        task_ids = []
        for document, platform in zip(documents, PLATFORMS, strict=True):
            task_ids.append(
                str(
                    ssm.register_task_with_maintenance_window(
                        WindowId=window_id,
                        Targets=[{"Key": "WindowTargetIds", "Values": [target_id]}],
                        TaskArn=document,
                        TaskType="RUN_COMMAND",
                        TaskInvocationParameters={
                            "RunCommand": {
                                "Comment": "dcv-widget idle check",
                                "DocumentVersion": "$DEFAULT",
                                "Parameters": {"idleMinutes": [str(minutes)]},
                                "TimeoutSeconds": DELIVERY_TIMEOUT,
                            }
                        },
                        Priority=1,
                        # Every check waits up to idle_minutes: all instances at once, and one
                        # instance failing (no DCV there) must not stop the others' checks.
                        MaxConcurrency="100%",
                        MaxErrors="100%",
                        Name=f"{name}-{platform}",
                        Description=f"the idle check on {PLATFORMS[platform]} instances",
                        CutoffBehavior="CONTINUE_TASK",
                    )["WindowTaskId"]
                )
            )
    except Exception:
        with contextlib.suppress(Exception):  # the first error is the one to report
            delete_window(ssm, window_id)
        raise
    return window_id, target_id, tuple(task_ids)


def delete_window(ssm: Any, window_id: str) -> None:
    """Deregister the window's tasks and targets, then delete it; gone already is fine."""
    try:
        for page in ssm.get_paginator("describe_maintenance_window_tasks").paginate(
            WindowId=window_id
        ):
            for task in page.get("Tasks", []):
                ssm.deregister_task_from_maintenance_window(
                    WindowId=window_id, WindowTaskId=task["WindowTaskId"]
                )
        for page in ssm.get_paginator("describe_maintenance_window_targets").paginate(
            WindowId=window_id
        ):
            for target in page.get("Targets", []):
                ssm.deregister_target_from_maintenance_window(
                    WindowId=window_id, WindowTargetId=target["WindowTargetId"]
                )
        ssm.delete_maintenance_window(WindowId=window_id)
    except Exception as exc:
        if error_code(exc) not in GONE:
            raise


def cancel_checks(ssm: Any, documents: list[str]) -> None:
    """Cancel the idle checks still waiting on instances (they would shut them down later)."""
    for document in documents:
        pages = ssm.get_paginator("list_commands").paginate(
            Filters=[{"key": "DocumentName", "value": document}]
        )
        for page in pages:
            for command_id in waiting_checks(page.get("Commands", []), document):
                ssm.cancel_command(CommandId=command_id)


def waiting_checks(commands: list[dict[str, Any]], document: str) -> list[str]:
    """The ids of `document`'s commands still pending or running, in a ListCommands page
    (filtered again here: not every SSM implementation applies the filter)."""
    return [
        str(c["CommandId"])
        for c in commands
        if c.get("DocumentName") == document and c.get("Status") in ("Pending", "InProgress")
    ]
