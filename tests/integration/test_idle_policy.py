"""The idle policy (dcv_widget/instances/idle_policy.py) against the moto server: the SSM
documents, the maintenance window, its target and its tasks really exist and read back, the
tagged instances' shutdown behaviour, removal. And the Linux idle check itself, taken from the
document stored in SSM and run with sh and bash against the stand-in `dcv` CLI and a stand-in
`shutdown`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from dcv_widget.access.aws import Aws, AwsError
from dcv_widget.instances.idle_document import idle_document
from dcv_widget.instances.idle_policy import (
    IdlePolicy,
    idle_policy,
    install_idle_policy,
    policy_name,
    remove_idle_policy,
)

if TYPE_CHECKING:
    from tests.integration.fake_dcv import FAKES
else:
    from fake_dcv import FAKES

REGION = "eu-west-1"
TAG = "dcv-widget:idle"


class Account:
    """The moto server's account: instances as the tests arrange them, and what SSM holds."""

    def __init__(self) -> None:
        self.ec2: Any = boto3.client("ec2", region_name=REGION)
        self.ssm: Any = boto3.client("ssm", region_name=REGION)
        self.image = self.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    def instance(self, **tags: str) -> str:
        spec = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
        reply = self.ec2.run_instances(
            ImageId=self.image, MinCount=1, MaxCount=1, TagSpecifications=spec if tags else []
        )
        return str(reply["Instances"][0]["InstanceId"])

    def shutdown_behavior(self, instance_id: str) -> str:
        reply = self.ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior"
        )
        return str(reply["InstanceInitiatedShutdownBehavior"]["Value"])

    def windows(self, name: str = "") -> list[dict[str, Any]]:
        filters = [{"Key": "Name", "Values": [name]}] if name else []
        return list(self.ssm.describe_maintenance_windows(Filters=filters)["WindowIdentities"])

    def tags(self, kind: str, resource_id: str) -> dict[str, str]:
        listed = self.ssm.list_tags_for_resource(ResourceType=kind, ResourceId=resource_id)
        return {t["Key"]: t["Value"] for t in listed["TagList"]}

    def document(self, name: str) -> dict[str, Any]:
        return dict(json.loads(self.ssm.get_document(Name=name)["Content"]))

    def document_exists(self, name: str) -> bool:
        try:
            self.ssm.describe_document(Name=name)
        except self.ssm.exceptions.InvalidDocument:
            return False
        return True


@pytest.fixture
def account(aws_endpoint: str) -> Account:
    return Account()


def install(
    value: str = "team-a", minutes: int = 30, action: str = "stop", **kw: Any
) -> IdlePolicy:
    return install_idle_policy(TAG, value, minutes, action, aws=Aws(), region=REGION, **kw)


def test_install_creates_the_documents_the_window_its_target_and_tasks(account: Account) -> None:
    policy = install(minutes=30, schedule_minutes=20)
    name = policy_name(TAG, "team-a")
    assert policy.region == REGION and policy.schedule == "rate(20 minutes)"
    assert policy.documents == (f"{name}-linux", f"{name}-windows")
    assert policy.describe() == (
        "Instances tagged dcv-widget:idle=team-a are stopped after 30 idle minutes "
        "(checked every 20 minutes)."
    )

    [window] = account.windows(name)
    assert window["WindowId"] == policy.window_id
    assert (window["Schedule"], window["Duration"], window["Cutoff"]) == ("rate(20 minutes)", 1, 0)
    tags = account.tags("MaintenanceWindow", policy.window_id)
    assert tags["dcv-widget:idle-tag"] == TAG and tags["dcv-widget:idle-value"] == "team-a"
    assert (tags["dcv-widget:idle-minutes"], tags["dcv-widget:idle-action"]) == ("30", "stop")

    [target] = account.ssm.describe_maintenance_window_targets(WindowId=policy.window_id)["Targets"]
    assert target["WindowTargetId"] == policy.target_id
    assert target["ResourceType"] == "INSTANCE"
    assert target["Targets"] == [{"Key": "tag:dcv-widget:idle", "Values": ["team-a"]}]

    tasks = account.ssm.describe_maintenance_window_tasks(WindowId=policy.window_id)["Tasks"]
    by_document = {task["TaskArn"]: task for task in tasks}
    assert set(by_document) == set(policy.documents) and len(tasks) == 2
    assert tuple(by_document[d]["WindowTaskId"] for d in policy.documents) == policy.task_ids
    for task in tasks:
        # The task type ("Type") and its Run Command parameters (GetMaintenanceWindowTask) are
        # not answered by moto 5.2: describe gives neither, and GetMaintenanceWindowTask is
        # missing. What it does store and answer:
        assert (task["MaxConcurrency"], task["MaxErrors"], task["Priority"]) == ("100%", "100%", 1)
        assert task["Targets"] == [{"Key": "WindowTargetIds", "Values": [policy.target_id]}]
        assert task["Name"] in (f"{name}-linux", f"{name}-windows")

    for document, action, platform in zip(
        policy.documents,
        ("aws:runShellScript", "aws:runPowerShellScript"),
        ("Linux", "Windows"),
        strict=True,
    ):
        described = account.ssm.describe_document(Name=document)["Document"]
        assert described["DocumentType"] == "Command" and described["SchemaVersion"] == "2.2"
        content = account.document(document)
        [step] = content["mainSteps"]
        assert step["action"] == action
        assert step["precondition"] == {"StringEquals": ["platformType", platform]}
        assert "list-connections -j" in "\n".join(step["inputs"]["runCommand"])
        assert content["parameters"]["idleMinutes"]["default"] == "30"
        assert content["parameters"]["checkSeconds"]["default"] == "60"
        assert content == idle_document(platform.lower(), 30)
        assert account.tags("Document", document)["dcv-widget:idle-value"] == "team-a"


def test_idle_policy_reads_the_installed_policy_back(account: Account) -> None:
    assert idle_policy(TAG, "team-a", aws=Aws(), region=REGION) is None
    installed = install(minutes=45, action="terminate")
    assert idle_policy(TAG, "team-a", aws=Aws(), region=REGION) == installed
    assert idle_policy(TAG, "team-b", aws=Aws(), region=REGION) is None
    assert installed.describe() == (
        "Instances tagged dcv-widget:idle=team-a are terminated after 45 idle minutes "
        "(checked every 30 minutes)."
    )


def test_the_tagged_instances_get_the_action_as_their_shutdown_behaviour(
    account: Account,
) -> None:
    tagged = [account.instance(**{TAG: "team-a"}), account.instance(**{TAG: "team-a", "x": "y"})]
    other_value = account.instance(**{TAG: "team-b"})
    untagged = account.instance()
    install(action="terminate")
    assert [account.shutdown_behavior(i) for i in tagged] == ["terminate", "terminate"]
    assert account.shutdown_behavior(other_value) == "stop"
    assert account.shutdown_behavior(untagged) == "stop"

    # Installing again (the same settings) reaches the instances tagged since.
    later = account.instance(**{TAG: "team-a"})
    assert account.shutdown_behavior(later) == "stop"
    install(action="terminate")
    assert account.shutdown_behavior(later) == "terminate"

    # Removing a terminating policy puts the tagged instances back on EC2's default.
    assert remove_idle_policy(TAG, "team-a", aws=Aws(), region=REGION)
    assert {account.shutdown_behavior(i) for i in [*tagged, later]} == {"stop"}


def test_remove_deletes_everything_install_created(account: Account) -> None:
    policy = install()
    kept = install(value="team-b")
    assert remove_idle_policy(TAG, "team-a", aws=Aws(), region=REGION) is True
    assert account.windows(policy_name(TAG, "team-a")) == []
    assert not any(account.document_exists(d) for d in policy.documents)
    with pytest.raises(account.ssm.exceptions.DoesNotExistException):
        account.ssm.describe_maintenance_window_targets(WindowId=policy.window_id)
    assert idle_policy(TAG, "team-a", aws=Aws(), region=REGION) is None
    assert remove_idle_policy(TAG, "team-a", aws=Aws(), region=REGION) is False
    # Another tag value's policy is untouched.
    assert idle_policy(TAG, "team-b", aws=Aws(), region=REGION) == kept
    assert [w["WindowId"] for w in account.windows()] == [kept.window_id]


def test_remove_cleans_up_a_partial_policy(account: Account) -> None:
    policy = install()
    account.ssm.delete_maintenance_window(WindowId=policy.window_id)  # documents left behind
    assert idle_policy(TAG, "team-a", aws=Aws(), region=REGION) is None
    assert remove_idle_policy(TAG, "team-a", aws=Aws(), region=REGION) is True
    assert not any(account.document_exists(d) for d in policy.documents)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"tag": ""}, "tag"),
        ({"tag": "team tag"}, "tag"),
        ({"tag": "aws:reserved"}, "tag"),
        ({"tag": "x*"}, "tag"),
        ({"value": "a,b"}, "value"),
        ({"value": "it's"}, "value"),
        ({"value": "x" * 257}, "value"),
        ({"idle_minutes": 4}, "idle_minutes"),
        ({"idle_minutes": 1441}, "idle_minutes"),
        ({"idle_minutes": True}, "idle_minutes"),
        ({"action": "hibernate"}, "action"),
        ({"schedule_minutes": 1}, "schedule_minutes"),
    ],
)
def test_bad_inputs_are_refused_naming_the_field(
    account: Account, arguments: dict[str, Any], field: str
) -> None:
    call: dict[str, Any] = {"tag": TAG, "value": "team-a", "idle_minutes": 30, "action": "stop"}
    call.update(arguments)
    with pytest.raises(ValueError, match=rf"^{field} "):
        install_idle_policy(**call, aws=Aws(), region=REGION)
    assert account.windows() == []
    if field in ("tag", "value"):
        with pytest.raises(ValueError, match=rf"^{field} "):
            remove_idle_policy(call["tag"], call["value"], aws=Aws(), region=REGION)
        with pytest.raises(ValueError, match=rf"^{field} "):
            idle_policy(call["tag"], call["value"], aws=Aws(), region=REGION)


def test_installing_the_same_settings_again_changes_nothing(account: Account) -> None:
    first = install()
    again = install()
    assert again == first
    assert len(account.windows()) == 1
    versions = {
        account.ssm.describe_document(Name=d)["Document"]["DocumentVersion"]
        for d in first.documents
    }
    assert versions == {"1"}

    # A window a concurrent install of the same policy left behind goes.
    tags = account.ssm.list_tags_for_resource(
        ResourceType="MaintenanceWindow", ResourceId=first.window_id
    )["TagList"]
    account.ssm.create_maintenance_window(
        Name=policy_name(TAG, "team-a"),
        Schedule="rate(30 minutes)",
        Duration=1,
        Cutoff=0,
        AllowUnassociatedTargets=False,
        Tags=tags,
    )
    assert len(account.windows()) == 2
    assert install() == first
    assert [w["WindowId"] for w in account.windows()] == [first.window_id]


def test_installing_other_settings_for_the_same_tag_replaces_the_policy(account: Account) -> None:
    first = install(minutes=30, action="stop")
    second = install(minutes=60, action="terminate", schedule_minutes=15)
    assert second.window_id != first.window_id and second.documents == first.documents
    assert idle_policy(TAG, "team-a", aws=Aws(), region=REGION) == second
    [window] = account.windows()
    assert (window["WindowId"], window["Schedule"]) == (second.window_id, "rate(15 minutes)")
    for document in second.documents:
        described = account.ssm.describe_document(Name=document)["Document"]
        assert described["DefaultVersion"] == "2"  # updated in place, same name
        assert account.document(document)["parameters"]["idleMinutes"]["default"] == "60"
        assert account.tags("Document", document)["dcv-widget:idle-action"] == "terminate"
    tasks = account.ssm.describe_maintenance_window_tasks(WindowId=second.window_id)["Tasks"]
    assert sorted(t["WindowTaskId"] for t in tasks) == sorted(second.task_ids)
    # The first window went with its target and tasks.
    with pytest.raises(account.ssm.exceptions.DoesNotExistException):
        account.ssm.describe_maintenance_window_tasks(WindowId=first.window_id)


def test_a_window_of_that_name_not_made_for_the_tag_is_left_alone(account: Account) -> None:
    name = policy_name(TAG, "team-a")
    foreign = account.ssm.create_maintenance_window(
        Name=name, Schedule="rate(1 hour)", Duration=1, Cutoff=0, AllowUnassociatedTargets=False
    )["WindowId"]
    with pytest.raises(AwsError, match="did not create"):
        install()
    assert idle_policy(TAG, "team-a", aws=Aws(), region=REGION) is None
    assert remove_idle_policy(TAG, "team-a", aws=Aws(), region=REGION) is False
    assert [w["WindowId"] for w in account.windows()] == [foreign]


def test_aws_failures_become_aws_errors(account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(AwsError, match="could not read the idle policy"):
        idle_policy(TAG, "team-a", aws=Aws(), region=REGION)


# --- the Linux idle check, run for real ------------------------------------------------------


@dataclass
class Node:
    """A stand-in DCV instance: the fake `dcv` state, and stand-ins for shutdown/systemctl."""

    root: Path
    state: Path
    path: str
    shutdowns: Path
    lock: Path

    def session(self, session_id: str = "console") -> None:
        sessions = self.state / "sessions"
        sessions.mkdir(parents=True, exist_ok=True)
        record = {"id": session_id, "owner": "dcvtest", "type": "console"}
        (sessions / f"{session_id}.json").write_text(json.dumps(record))

    def connect(self, session_id: str = "console", n: int = 1) -> None:
        folder = self.state / "connections" / session_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{n}.json").write_text(json.dumps({"id": n, "user": "dcvtest"}))

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": self.path,
            "FAKE_DCV_STATE": str(self.state),
            "IDLE_TEST_LOG": str(self.shutdowns),
            "DCV_WIDGET_IDLE_LOCK": str(self.lock),
            "HOME": str(self.root),
            **extra,
        }

    def shut_down(self) -> list[str]:
        return self.shutdowns.read_text().splitlines() if self.shutdowns.exists() else []

    def dcv_calls(self) -> list[str]:
        calls = self.state / "calls.log"
        return calls.read_text().splitlines() if calls.exists() else []


@pytest.fixture
def node(tmp_path: Path) -> Node:
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    for command in ("shutdown", "systemctl", "poweroff"):
        fake = stand_ins / command
        fake.write_text(f'#!/bin/sh\necho "{command} $*" >> "$IDLE_TEST_LOG"\n')
        fake.chmod(0o755)
    path = f"{stand_ins}:{FAKES / 'bin'}:/usr/bin:/bin"
    # Never the machine's own shutdown: the script finds the stand-in first.
    assert shutil.which("shutdown", path=path) == str(stand_ins / "shutdown")
    state = tmp_path / "dcv"
    state.mkdir()
    return Node(tmp_path, state, path, tmp_path / "shutdowns.log", tmp_path / "idle.lock")


@pytest.fixture
def linux_script(account: Account) -> str:
    """The Linux idle check as SSM stores it: installed in the moto server and read back."""
    policy = install()
    [step] = account.document(policy.documents[0])["mainSteps"]
    return "\n".join(step["inputs"]["runCommand"]) + "\n"


def render(script: str, **parameters: str) -> str:
    """What SSM does with the document's {{ parameters }} before the agent runs the script."""
    values = {"idleMinutes": "30", "checkSeconds": "60", "idleSeconds": "", **parameters}
    rendered = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: values[m.group(1)], script)
    assert "{{" not in rendered
    return rendered


def run_check(node: Node, script: str, shell: str = "bash", **env: str) -> subprocess.Popen[str]:
    path = node.root / f"_script{len(list(node.root.glob('_script*')))}.sh"  # one per run
    path.write_text(script)
    return subprocess.Popen(
        [shell, str(path)],
        env=node.env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(check: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    out, _ = check.communicate(timeout=timeout)
    return check.returncode, out


SHELLS = ["bash", "sh"]  # the agent runs the file through sh; its #! line names /bin/sh


@pytest.mark.parametrize("shell", SHELLS)
def test_someone_connected_ends_the_check_without_a_shutdown(
    node: Node, linux_script: str, shell: str
) -> None:
    node.session()
    node.connect()
    code, out = finish(
        run_check(node, render(linux_script, idleSeconds="30", checkSeconds="1"), shell)
    )
    assert (code, node.shut_down()) == (0, []), out
    assert "1 DCV session(s) in use: not idle" in out
    # At once, not after the idle time: asked once, no waiting round.
    assert node.dcv_calls() == ["list-sessions", "list-connections -j console"]


@pytest.mark.parametrize("shell", SHELLS)
def test_nobody_connected_for_the_idle_time_shuts_the_os_down(
    node: Node, linux_script: str, shell: str
) -> None:
    node.session()
    node.session("other")
    code, out = finish(
        run_check(node, render(linux_script, idleSeconds="3", checkSeconds="1"), shell)
    )
    assert code == 0, out
    assert node.shut_down() == ["shutdown -h +1 dcv-widget: DCV idle, shutting down"], out
    # Asked again every checkSeconds while waiting, about every session.
    asked = [c for c in node.dcv_calls() if c.startswith("list-connections")]
    assert len(asked) >= 6 and {"list-connections -j console", "list-connections -j other"} == set(
        asked
    )


def test_a_connection_during_the_wait_cancels_the_shutdown(node: Node, linux_script: str) -> None:
    node.session()
    check = run_check(node, render(linux_script, idleSeconds="600", checkSeconds="1"))
    # Connect once the check is in its waiting rounds (it asked again after the first look).
    deadline = time.monotonic() + 60
    while sum(c.startswith("list-connections") for c in node.dcv_calls()) < 2:
        assert check.poll() is None and time.monotonic() < deadline, "the check never waited"
        time.sleep(0.2)
    node.connect()
    code, out = finish(check)
    assert (code, node.shut_down()) == (0, []), out
    assert "someone connected to DCV while waiting" in out


def test_no_session_at_all_is_idle_and_idle_minutes_apply(node: Node, linux_script: str) -> None:
    # idleSeconds empty: idleMinutes counts (0 here, so no wait at all).
    code, out = finish(run_check(node, render(linux_script, idleMinutes="0", checkSeconds="1")))
    assert code == 0, out
    assert node.shut_down() == ["shutdown -h +1 dcv-widget: DCV idle, shutting down"]
    assert "nobody connected to DCV for 0 seconds" in out


def test_when_shutdown_fails_it_powers_off_through_systemctl(node: Node, linux_script: str) -> None:
    failing = node.root / "bin" / "shutdown"
    failing.write_text('#!/bin/sh\necho "shutdown $*" >> "$IDLE_TEST_LOG"\nexit 1\n')
    code, out = finish(run_check(node, render(linux_script, idleSeconds="1", checkSeconds="1")))
    assert code == 0, out
    assert node.shut_down() == [
        "shutdown -h +1 dcv-widget: DCV idle, shutting down",
        "systemctl poweroff",
    ]


def test_when_dcv_cannot_be_asked_nothing_shuts_down(node: Node, linux_script: str) -> None:
    node.session()
    script = render(linux_script, idleSeconds="1", checkSeconds="1")
    broken = {"FAKE_DCV_STATE": str(node.root / "missing")}  # the stand-in fails
    code, out = finish(run_check(node, script, **broken))
    assert (code, node.shut_down()) == (1, []), out
    assert "could not ask DCV" in out


def test_an_instance_without_dcv_is_left_alone(node: Node, linux_script: str) -> None:
    node.path = f"{node.root / 'bin'}:/usr/bin:/bin"
    code, out = finish(run_check(node, render(linux_script, idleSeconds="1", checkSeconds="1")))
    assert (code, node.shut_down()) == (1, []), out
    assert "not a DCV server" in out


def test_only_one_check_waits_at_a_time(node: Node, linux_script: str) -> None:
    if shutil.which("flock") is None:
        pytest.skip("no flock here")
    node.session()
    script = render(linux_script, idleSeconds="4", checkSeconds="1")
    first = run_check(node, script)
    time.sleep(1.5)
    second_code, second_out = finish(run_check(node, script))
    assert second_code == 0 and "another idle check is already waiting" in second_out
    code, out = finish(first)
    assert code == 0, out
    assert node.shut_down() == ["shutdown -h +1 dcv-widget: DCV idle, shutting down"]
