"""Idle DCV instances stopped or terminated, installed from Python (docs/ec2-idle-policy.md).

An SSM maintenance window runs, every `schedule_minutes`, a Run Command task on the instances
tagged `<tag>=<value>`: an SSM Command document (one for Linux, one for Windows, each limited to
its platform by a precondition) that asks NICE DCV for its connections, exits when someone is
connected, and otherwise asks again every minute until `idle_minutes` passed with nobody
connecting. Then it shuts the operating system down, and EC2 applies the instance's
InstanceInitiatedShutdownBehavior, which install sets to the policy's action ("stop" or
"terminate") on every instance carrying the tag. No instance needs an IAM permission, no SNS
topic or Lambda function runs, and no instance can stop another.

Every resource is named from the tag and value (`dcv-widget-idle-<hash>`) and tagged with them,
so `idle_policy` and `remove_idle_policy` find them again without local state. Installing again
for the same tag and value replaces the policy (the last install wins); installing the same
settings again changes nothing in SSM and reapplies the shutdown behaviour to the instances
tagged since.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..access.aws import Aws, AwsError, error_code, explain
from .idle_document import PLATFORMS, idle_document
from .idle_window import GONE, cancel_checks, create_window, delete_window

__all__ = [
    "ACTIONS",
    "IdlePolicy",
    "idle_policy",
    "install_idle_policy",
    "policy_name",
    "remove_idle_policy",
]

ACTIONS = ("stop", "terminate")
MINUTES_RANGE = (5, 1440)
# Tags on the window and documents: which instances they act on, and the settings to read back.
POLICY_TAG = "dcv-widget:idle-policy"
TAG_TAG = "dcv-widget:idle-tag"
VALUE_TAG = "dcv-widget:idle-value"
MINUTES_TAG = "dcv-widget:idle-minutes"
ACTION_TAG = "dcv-widget:idle-action"
# Characters that are valid, unquoted, in an EC2 tag, an SSM target key and value, and an SSM
# resource tag: no spaces, quotes, wildcards or commas.
_PLAIN = re.compile(r"[A-Za-z0-9_.:/=@-]+")
_RATE = re.compile(r"rate\((\d+) minutes?\)")
# Instance states whose shutdown behaviour can be set (and that may run again).
LIVE_STATES = ["pending", "running", "stopping", "stopped"]
_DENIED = ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException")


@dataclass(frozen=True)
class IdlePolicy:
    """An idle policy as it is in AWS."""

    tag_key: str
    tag_value: str
    idle_minutes: int
    action: str  # "stop" | "terminate"
    region: str
    schedule: str  # the maintenance window's schedule, e.g. "rate(30 minutes)"
    documents: tuple[str, ...]  # SSM document names (linux, windows)
    window_id: str
    target_id: str
    task_ids: tuple[str, ...]  # the Run Command tasks, in the order of `documents`

    def describe(self) -> str:
        """One plain sentence for the panel."""
        done = "stopped" if self.action == "stop" else "terminated"
        rate = _RATE.fullmatch(self.schedule)
        if rate:
            every = int(rate.group(1))
            when = f"checked every {every} minute{'s' if every != 1 else ''}"
        else:
            when = f"checked on the schedule {self.schedule}"
        return (
            f"Instances tagged {self.tag_key}={self.tag_value} are {done} after "
            f"{self.idle_minutes} idle minutes ({when})."
        )


def _call_aws(function: str) -> Aws:
    """boto3's defaults, for a call without aws=: no setting applies there, so what is missing
    is named as the call's own arguments."""
    return Aws(
        profile_setting=f"{function}'s aws= argument (an Aws with a profile)",
        region_setting=f"{function}'s region= argument",
        settings_file="",
    )


def policy_name(tag: str, value: str) -> str:
    """The name of the window (and the prefix of the documents) for one tag and value."""
    digest = hashlib.sha256(f"{tag}\n{value}".encode()).hexdigest()[:12]
    return f"dcv-widget-idle-{digest}"


def install_idle_policy(
    tag: str,
    value: str,
    idle_minutes: int,
    action: str = "stop",
    *,
    aws: Aws | None = None,
    region: str = "",
    schedule_minutes: int = 30,
) -> IdlePolicy:
    """Install (or replace) the idle policy for the instances tagged `tag=value`.

    Raises ValueError for a bad argument (naming it) and AwsError when AWS refuses."""
    _check_tag(tag, value)
    _check_minutes("idle_minutes", idle_minutes)
    _check_minutes("schedule_minutes", schedule_minutes)
    if action not in ACTIONS:
        raise ValueError(f"action must be 'stop' or 'terminate', not {action!r}")
    aws = aws or _call_aws("install_idle_policy")
    where = aws.region(region)
    ssm = aws.client("ssm", where)
    ec2 = aws.client("ec2", where)
    name = policy_name(tag, value)
    schedule = f"rate({schedule_minutes} minutes)"
    doing = f"install the idle policy for instances tagged {tag}={value} in {where}"
    try:
        found = _look_up(ssm, name, tag, value)
        if found.foreign:
            raise AwsError(
                f"cannot {doing}: {', '.join(found.foreign)} exist(s) but dcv_widget did not "
                "create them for this tag; remove them or choose another tag"
            )
        current = found.policy(where)
        # First the shutdown behaviour: until the new window exists, nothing shuts down.
        _set_shutdown_behavior(ec2, tag, value, action)
        documents = _put_documents(ssm, name, tag, value, idle_minutes, action, found)
        if current and (current.idle_minutes, current.action, current.schedule) == (
            idle_minutes,
            action,
            schedule,
        ):
            for window_id in found.windows[1:]:  # a concurrent install's duplicate
                delete_window(ssm, window_id)
            return current
        for window_id in found.windows:
            delete_window(ssm, window_id)
        window_id, target_id, task_ids = create_window(
            ssm,
            name,
            tag,
            value,
            idle_minutes,
            schedule,
            documents,
            _resource_tags(name, tag, value, idle_minutes, action),
        )
    except AwsError:
        raise
    except Exception as exc:
        raise _explain(exc, doing) from exc
    return IdlePolicy(
        tag_key=tag,
        tag_value=value,
        idle_minutes=idle_minutes,
        action=action,
        region=where,
        schedule=schedule,
        documents=documents,
        window_id=window_id,
        target_id=target_id,
        task_ids=task_ids,
    )


def remove_idle_policy(tag: str, value: str, *, aws: Aws | None = None, region: str = "") -> bool:
    """Remove everything install created for `tag=value`; True if something was removed.

    Checks already waiting on instances are cancelled, and when the policy terminated idle
    instances, the tagged instances go back to EC2's default shutdown behaviour ("stop")."""
    _check_tag(tag, value)
    aws = aws or _call_aws("remove_idle_policy")
    where = aws.region(region)
    ssm = aws.client("ssm", where)
    name = policy_name(tag, value)
    doing = f"remove the idle policy for instances tagged {tag}={value} in {where}"
    try:
        found = _look_up(ssm, name, tag, value)
        for window_id in found.windows:
            delete_window(ssm, window_id)
        cancel_checks(ssm, list(found.documents))
        for document in found.documents:
            try:
                ssm.delete_document(Name=document)
            except Exception as exc:
                if error_code(exc) not in GONE:
                    raise
        removed = bool(found.windows or found.documents)
        if removed and "terminate" in found.actions:
            _set_shutdown_behavior(aws.client("ec2", where), tag, value, "stop")
    except AwsError:
        raise
    except Exception as exc:
        raise _explain(exc, doing) from exc
    return removed


def idle_policy(
    tag: str, value: str, *, aws: Aws | None = None, region: str = ""
) -> IdlePolicy | None:
    """The idle policy in effect for `tag=value`, read back from AWS; None when there is none
    (or only part of one, which install repairs and remove cleans up)."""
    _check_tag(tag, value)
    aws = aws or _call_aws("idle_policy")
    where = aws.region(region)
    ssm = aws.client("ssm", where)
    try:
        return _look_up(ssm, policy_name(tag, value), tag, value).policy(where)
    except AwsError:
        raise
    except Exception as exc:
        raise _explain(exc, f"read the idle policy for instances tagged {tag}={value}") from exc


# --- validation --------------------------------------------------------------------------------


def _check_tag(tag: str, value: str) -> None:
    for label, text, longest in (("tag", tag, 128), ("value", value, 256)):
        if not isinstance(text, str) or not text:
            raise ValueError(f"{label} must be a non-empty string")
        if len(text) > longest:
            raise ValueError(f"{label} is longer than {longest} characters")
        if not _PLAIN.fullmatch(text):
            raise ValueError(
                f"{label} {text!r} may hold only letters, digits and _ . : / = @ - "
                "(it goes into SSM target filters and names)"
            )
    if tag.lower().startswith("aws:"):
        raise ValueError(f"tag {tag!r} is reserved by AWS (aws: prefix)")


def _check_minutes(label: str, minutes: int) -> None:
    low, high = MINUTES_RANGE
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not low <= minutes <= high:
        raise ValueError(f"{label} must be a whole number of minutes from {low} to {high}")


# --- reading back ------------------------------------------------------------------------------


@dataclass
class _Found:
    """What of one policy exists in SSM."""

    name: str
    tag: str
    value: str
    windows: list[str] = field(default_factory=list)  # ours (two after concurrent installs)
    window: dict[str, Any] = field(default_factory=dict)  # the first one's identity
    window_tags: dict[str, str] = field(default_factory=dict)
    target_id: str = ""
    tasks: dict[str, str] = field(default_factory=dict)  # document name -> window task id
    documents: dict[str, dict[str, str]] = field(default_factory=dict)  # ours: name -> tags
    foreign: list[str] = field(default_factory=list)  # same names, not made for this tag

    @property
    def actions(self) -> set[str]:
        tags = [self.window_tags, *self.documents.values()]
        return {t[ACTION_TAG] for t in tags if ACTION_TAG in t}

    def policy(self, region: str) -> IdlePolicy | None:
        names = tuple(_document_name(self.name, p) for p in PLATFORMS)
        if not self.windows or not self.target_id or any(n not in self.documents for n in names):
            return None
        if any(n not in self.tasks for n in names):
            return None
        minutes = self.window_tags.get(MINUTES_TAG, "")
        action = self.window_tags.get(ACTION_TAG, "")
        if not minutes.isdigit() or action not in ACTIONS:
            return None
        return IdlePolicy(
            tag_key=self.tag,
            tag_value=self.value,
            idle_minutes=int(minutes),
            action=action,
            region=region,
            schedule=str(self.window.get("Schedule", "")),
            documents=names,
            window_id=self.windows[0],
            target_id=self.target_id,
            task_ids=tuple(self.tasks[n] for n in names),
        )


def _look_up(ssm: Any, name: str, tag: str, value: str) -> _Found:
    found = _Found(name, tag, value)
    pages = ssm.get_paginator("describe_maintenance_windows").paginate(
        Filters=[{"Key": "Name", "Values": [name]}]
    )
    for page in pages:
        for window in page.get("WindowIdentities", []):
            if window.get("Name") != name:  # the filter's match, made exact
                continue
            window_id = str(window["WindowId"])
            tags = _tags(ssm, "MaintenanceWindow", window_id)
            if not _ours(tags, name, tag, value):
                found.foreign.append(f"maintenance window {window_id} ({name})")
                continue
            found.windows.append(window_id)
            if len(found.windows) == 1:
                found.window, found.window_tags = window, tags
    if found.windows:
        first = found.windows[0]
        wanted = [{"Key": f"tag:{tag}", "Values": [value]}]
        for page in ssm.get_paginator("describe_maintenance_window_targets").paginate(
            WindowId=first
        ):
            for target in page.get("Targets", []):
                if target.get("Targets") == wanted and not found.target_id:
                    found.target_id = str(target["WindowTargetId"])
        for page in ssm.get_paginator("describe_maintenance_window_tasks").paginate(WindowId=first):
            for task in page.get("Tasks", []):
                found.tasks.setdefault(str(task["TaskArn"]), str(task["WindowTaskId"]))
    for platform in PLATFORMS:
        document = _document_name(name, platform)
        try:
            described = ssm.describe_document(Name=document)["Document"]
        except Exception as exc:
            if error_code(exc) in GONE:
                continue
            raise
        tags = {str(t["Key"]): str(t["Value"]) for t in described.get("Tags", [])}
        if _ours(tags, name, tag, value):
            found.documents[document] = tags
        else:
            found.foreign.append(f"SSM document {document}")
    return found


def _ours(tags: dict[str, str], name: str, tag: str, value: str) -> bool:
    return (tags.get(POLICY_TAG), tags.get(TAG_TAG), tags.get(VALUE_TAG)) == (name, tag, value)


def _tags(ssm: Any, kind: str, resource_id: str) -> dict[str, str]:
    try:
        listed = ssm.list_tags_for_resource(ResourceType=kind, ResourceId=resource_id)
    except Exception as exc:
        if error_code(exc) in GONE:
            return {}
        raise
    return {str(t["Key"]): str(t["Value"]) for t in listed.get("TagList", [])}


def _document_name(name: str, platform: str) -> str:
    return f"{name}-{platform}"


# --- writing -----------------------------------------------------------------------------------


def _resource_tags(
    name: str, tag: str, value: str, minutes: int, action: str
) -> list[dict[str, str]]:
    return [
        {"Key": POLICY_TAG, "Value": name},
        {"Key": TAG_TAG, "Value": tag},
        {"Key": VALUE_TAG, "Value": value},
        {"Key": MINUTES_TAG, "Value": str(minutes)},
        {"Key": ACTION_TAG, "Value": action},
    ]


def _put_documents(
    ssm: Any, name: str, tag: str, value: str, minutes: int, action: str, found: _Found
) -> tuple[str, ...]:
    """Create the documents, or update those whose content or tags differ."""
    tags = _resource_tags(name, tag, value, minutes, action)
    names = []
    for platform in PLATFORMS:
        document = _document_name(name, platform)
        content = idle_document(platform, minutes)
        names.append(document)
        if document not in found.documents:
            ssm.create_document(
                Name=document,
                Content=json.dumps(content, indent=2),
                DocumentType="Command",
                DocumentFormat="JSON",
                TargetType="/AWS::EC2::Instance",
                Tags=tags,
            )
            continue
        stored = ssm.get_document(Name=document)  # the default version
        if json.loads(stored["Content"]) != content:
            updated = ssm.update_document(
                Name=document,
                Content=json.dumps(content, indent=2),
                DocumentVersion="$LATEST",
                DocumentFormat="JSON",
                TargetType="/AWS::EC2::Instance",
            )
            version = updated["DocumentDescription"]["DocumentVersion"]
            ssm.update_document_default_version(Name=document, DocumentVersion=version)
        if any(found.documents[document].get(t["Key"]) != t["Value"] for t in tags):
            ssm.add_tags_to_resource(ResourceType="Document", ResourceId=document, Tags=tags)
    return tuple(names)


def _set_shutdown_behavior(ec2: Any, tag: str, value: str, action: str) -> list[str]:
    """Set InstanceInitiatedShutdownBehavior = action on every live instance tagged tag=value."""
    changed = []
    filters = [
        {"Name": f"tag:{tag}", "Values": [value]},
        {"Name": "instance-state-name", "Values": LIVE_STATES},
    ]
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                instance_id = str(instance["InstanceId"])
                try:
                    ec2.modify_instance_attribute(
                        InstanceId=instance_id,
                        Attribute="instanceInitiatedShutdownBehavior",
                        Value=action,
                    )
                except Exception as exc:
                    # Gone, or in a state that takes no change: nothing to shut down there.
                    if error_code(exc) in ("InvalidInstanceID.NotFound", "IncorrectInstanceState"):
                        continue
                    raise
                changed.append(instance_id)
    return changed


# --- errors ------------------------------------------------------------------------------------


def _explain(exc: Exception, doing: str) -> AwsError:
    code = error_code(exc)
    if code in _DENIED:
        return AwsError(
            f"AWS refused to {doing} ({code}): the credentials where JupyterLab runs lack the "
            "permission; see docs/ec2-idle-policy.md for the IAM policy"
        )
    return explain(exc, doing)
