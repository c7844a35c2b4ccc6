"""Cards of stand-alone DCV instances: the same format as Slurm desktops' cards, EC2's states."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from dcv_widget.access import instructions as access
from dcv_widget.access.aws import Aws, AwsError, AwsNotSetUp, explain
from dcv_widget.instances.ec2 import Ec2Desktop
from dcv_widget.ui.instance_cards import instance_card, panel_problem

RUNNING = Ec2Desktop(
    instance_id="i-0123456789abcdef0",
    name="cad",
    state="running",
    instance_type="g4dn.xlarge",
    platform="windows",
    public_ip="203.0.113.7",
    private_ip="10.0.1.5",
    launch_time=0.0,  # set per test: uptime counts from now
    region="eu-west-1",
    owner="ada",
)


def test_a_running_instance_whose_dcv_answers_is_ready_with_its_actions() -> None:
    two_hours = replace(RUNNING, launch_time=time.time() - 2 * 3600)
    card = instance_card(
        two_hours, dcv_ready=True, access=access.direct("203.0.113.7", 8443), hourly=0.526
    )
    assert card["state"] == "ready" and card["key"] == RUNNING.instance_id
    assert card["actions"] == ["connect", "stop", "reboot", "terminate"]
    assert [s["status"] for s in card["steps"]] == ["done", "done", "done"]
    assert "g4dn.xlarge" in card["detail"] and "windows" in card["detail"]
    assert "$0.5260/h on demand, about $1.05 since it started" in card["detail"]
    assert card["access"]["route"] == "direct" and card["node"] == "203.0.113.7"


def test_until_dcv_answers_there_is_no_connect() -> None:
    card = instance_card(RUNNING, dcv_ready=False)
    assert card["state"] == "launching" and "waiting for DCV to answer" in card["detail"]
    assert card["actions"] == ["stop", "reboot", "terminate"]
    assert [s["status"] for s in card["steps"]] == ["done", "current", "pending"]
    assert card["access"] is None


def test_stopped_pending_terminated_and_busy() -> None:
    stopped = instance_card(replace(RUNNING, state="stopped", public_ip=""), dcv_ready=False)
    assert (stopped["state"], stopped["actions"], stopped["steps"]) == (
        "stopped",
        ["start", "terminate"],
        [],
    )
    assert stopped["since"] == 0.0  # no uptime while stopped
    pending = instance_card(replace(RUNNING, state="pending"), dcv_ready=False)
    assert pending["actions"] == ["terminate"] and "booting" in pending["detail"]
    gone = instance_card(replace(RUNNING, state="terminated"), dcv_ready=False)
    assert (gone["state"], gone["outcome"], gone["actions"]) == ("ended", "Ended: terminated", [])
    busy = instance_card(RUNNING, dcv_ready=True, busy="stopping")
    assert busy["actions"] == [] and busy["detail"].startswith("stopping")


def test_no_price_known_says_nothing_about_cost() -> None:
    assert "$" not in instance_card(RUNNING, dcv_ready=True, hourly=None)["detail"]


def instances_aws(**kwargs: str) -> Aws:
    """An Aws as the Instances panel makes it (managers.instances_manager)."""
    return Aws(
        profile_setting="c.InstanceSettings.profile",
        region_setting="c.InstanceSettings.region",
        **kwargs,
    )


def test_without_aws_the_box_names_region_and_credentials_and_where_to_set_them() -> None:
    """No AWS_* variables, config files or instance metadata here (tests/conftest.py)."""
    missing = instances_aws().missing()
    assert len(missing) == 2
    box = panel_problem(missing, "")
    heading, region, credentials, last = box.split("\n")
    assert heading == "AWS is not set up here"
    assert region.startswith("• No AWS region is known here; set c.InstanceSettings.region in ")
    assert "jupyter_dcv_widget_config.py" in region and "AWS_REGION" in region
    assert credentials.startswith("• No AWS credentials where JupyterLab runs; ")
    assert "c.InstanceSettings.profile" in credentials and "aws configure" in credentials
    assert last == "Then run this cell again."
    assert "Error" not in box and "DesktopSettings" not in box


def test_with_a_region_only_the_credentials_are_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(instances_aws(region="eu-west-3").missing()) == 1
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    assert instances_aws(region="eu-west-3").missing() == ()
    assert panel_problem((), "") == ""


def test_an_unknown_profile_is_what_is_missing() -> None:
    (missing,) = instances_aws(profile="nowhere").missing()
    assert "AWS profile 'nowhere' is not configured here" in missing
    assert "fix c.InstanceSettings.profile or run `aws configure --profile nowhere`" in missing


def test_a_failed_listing_is_its_own_box_and_never_a_class_name() -> None:
    """explain() keeps an AwsError's words (it used to prefix them with "AwsError: ")."""
    not_set_up = AwsNotSetUp("no AWS region is known here")
    assert explain(not_set_up, "list your DCV instances in eu-west-1") is not_set_up
    refused = AwsError("AWS refused to list your DCV instances in eu-west-1 (AccessDenied)")
    box = panel_problem((), str(explain(refused, "list your DCV instances")))
    assert box.split("\n") == [
        "Your instances could not be listed",
        "AWS refused to list your DCV instances in eu-west-1 (AccessDenied).",
        "The cards below may be out of date; the panel tries again by itself.",
    ]
