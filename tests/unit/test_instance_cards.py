"""Cards of stand-alone DCV instances: the same format as Slurm desktops' cards, EC2's states."""

from __future__ import annotations

import time
from dataclasses import replace

from dcv_widget.access import instructions as access
from dcv_widget.instances.ec2 import Ec2Desktop
from dcv_widget.ui.instance_cards import instance_card

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
