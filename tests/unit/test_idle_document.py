"""The idle policy's pure parts: names, the SSM documents, the panel sentence, argument checks,
and what remove does with checks still waiting (moto cannot run or cancel a command)."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import pytest

from dcv_widget.access.aws import AwsNotSetUp
from dcv_widget.instances.idle_document import idle_document
from dcv_widget.instances.idle_policy import (
    IdlePolicy,
    _check_minutes,
    _check_tag,
    _explain,
    idle_policy,
    install_idle_policy,
    policy_name,
    remove_idle_policy,
)
from dcv_widget.instances.idle_window import waiting_checks


def policy(**changes: Any) -> IdlePolicy:
    fields: dict[str, Any] = {
        "tag_key": "dcv-widget:idle",
        "tag_value": "team-a",
        "idle_minutes": 30,
        "action": "stop",
        "region": "eu-west-1",
        "schedule": "rate(30 minutes)",
        "documents": ("a-linux", "a-windows"),
        "window_id": "mw-0123456789abcdef0",
        "target_id": "t",
        "task_ids": ("1", "2"),
    }
    return IdlePolicy(**{**fields, **changes})


def test_the_panel_sentence() -> None:
    assert policy().describe() == (
        "Instances tagged dcv-widget:idle=team-a are stopped after 30 idle minutes "
        "(checked every 30 minutes)."
    )
    assert policy(action="terminate", idle_minutes=90, schedule="rate(1 minute)").describe() == (
        "Instances tagged dcv-widget:idle=team-a are terminated after 90 idle minutes "
        "(checked every 1 minute)."
    )
    assert (
        "(checked on the schedule cron(0 * * * ? *))"
        in policy(schedule="cron(0 * * * ? *)").describe()
    )


def test_names_follow_from_the_tag_and_value_only() -> None:
    name = policy_name("dcv-widget:idle", "team-a")
    assert name == policy_name("dcv-widget:idle", "team-a")
    assert re.fullmatch(r"dcv-widget-idle-[0-9a-f]{12}", name)
    assert name != policy_name("dcv-widget:idle", "team-b")
    assert policy_name("a", "b=c") != policy_name("a=b", "c")


@pytest.mark.parametrize(("platform", "action"), [("linux", "Shell"), ("windows", "PowerShell")])
def test_each_document_runs_only_on_its_platform(platform: str, action: str) -> None:
    document = idle_document(platform, 45)
    assert document["schemaVersion"] == "2.2"
    [step] = document["mainSteps"]
    assert step["action"] == f"aws:run{action}Script"
    assert step["precondition"] == {"StringEquals": ["platformType", platform.title()]}
    assert step["inputs"]["timeoutSeconds"] == str(45 * 60 + 900)
    script = "\n".join(step["inputs"]["runCommand"])
    # Every {{ parameter }} in the script is declared, with a pattern that keeps it a number.
    used = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", script))
    assert used == set(document["parameters"]) == {"idleMinutes", "checkSeconds", "idleSeconds"}
    for name, parameter in document["parameters"].items():
        assert re.fullmatch(parameter["allowedPattern"], parameter["default"]), name
        assert not re.fullmatch(parameter["allowedPattern"], "1; reboot"), name
    assert document["parameters"]["idleMinutes"]["default"] == "45"
    assert "list-connections -j" in script


def test_the_windows_check_shuts_windows_down() -> None:
    script = "\n".join(idle_document("windows", 30)["mainSteps"][0]["inputs"]["runCommand"])
    assert "shutdown.exe /s /t 60" in script and "Stop-Computer -Force" in script
    assert r"NICE\DCV\Server\bin\dcv.exe" in script
    assert "Global\\dcv-widget-idle" in script  # one check at a time


@pytest.mark.parametrize(
    ("tag", "value", "field"),
    [
        ("", "v", "tag"),
        ("t t", "v", "tag"),
        ("t", "", "value"),
        ("t", "v'v", "value"),
        ("t", '"v"', "value"),
        ("t", "v\nw", "value"),
        ("AWS:x", "v", "tag"),
        ("t" * 129, "v", "tag"),
    ],
)
def test_tags_are_plain(tag: str, value: str, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field} "):
        _check_tag(tag, value)


def test_plain_tags_pass() -> None:
    _check_tag("dcv-widget:idle", "team-a/gpu_1.2@x=y")


@pytest.mark.parametrize("minutes", [4, 1441, 0, -5, 30.0, "30", True])
def test_minutes_are_whole_and_in_range(minutes: Any) -> None:
    with pytest.raises(ValueError, match=r"^idle_minutes must be a whole number"):
        _check_minutes("idle_minutes", minutes)


def test_remove_cancels_the_checks_still_waiting() -> None:
    """moto has no CancelCommand, so the choice of what to cancel is tested on its own."""
    page = [
        {"CommandId": "1", "DocumentName": "d-linux", "Status": "InProgress"},
        {"CommandId": "2", "DocumentName": "d-linux", "Status": "Success"},
        {"CommandId": "3", "DocumentName": "d-linux", "Status": "Pending"},
        {"CommandId": "4", "DocumentName": "other", "Status": "InProgress"},
    ]
    assert waiting_checks(page, "d-linux") == ["1", "3"]


def test_a_refusal_points_at_the_idle_policy_docs() -> None:
    class Denied(Exception):
        response: ClassVar[dict[str, Any]] = {"Error": {"Code": "AccessDeniedException"}}

    message = str(_explain(Denied(), "install it"))
    assert "AccessDeniedException" in message and "docs/ec2-idle-policy.md" in message


def test_without_aws_and_a_region_each_call_names_its_own_argument() -> None:
    """No setting applies to a call without aws= (it uses boto3's defaults): what is missing
    is named as the call's region= argument, not c.DesktopSettings.aws_region."""
    for call in (
        lambda: install_idle_policy("dcv-widget:idle", "team-a", 30),
        lambda: idle_policy("dcv-widget:idle", "team-a"),
        lambda: remove_idle_policy("dcv-widget:idle", "team-a"),
    ):
        with pytest.raises(AwsNotSetUp) as missing:
            call()
        message = str(missing.value)
        assert re.match(
            r"no AWS region is known here; set (install_idle_policy|idle_policy|"
            r"remove_idle_policy)'s region= argument \(or AWS_REGION where JupyterLab runs\)$",
            message,
        ), message
