"""The IAM policies and SSM session documents the docs tell sites to use are least-privilege.

Every fenced ```json block of docs/*.md that is a policy ("Statement") or a session document
("sessionType"), and every document shipped in dcv_widget/access/ssm_documents/, is read and
checked by rule. moto cannot check them further: its IAM enforcement matches a resource of "*" only
and passes conditions it has no value for (moto/iam/access_control.py), so a test through moto
could not fail for the right reason (docs/ec2-instances.md says so).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dcv_widget.access import ssm_documents

DOCS = Path(__file__).parents[2] / "docs"
READ_ONLY = re.compile(r"(Describe|Get|List)[A-Za-z]*")
FENCED_JSON = re.compile(r"^```json\n(.*?)^```", re.M | re.S)
# Ports a desktop's forward must never reach: ssh, JupyterLab, http, the verifier's and
# held tunnels' usual ones, and instance metadata's host below.
NOT_DESKTOP_PORTS = ["22", "80", "443", "8080", "8888", "18443", "0", "65536", "8443 ", "x"]


def blocks(page: Path) -> list[str]:
    """The policy and session-document blocks of a page, as written."""
    return [
        text
        for text in FENCED_JSON.findall(page.read_text())
        if '"Statement"' in text or '"sessionType"' in text
    ]


def parsed(page: Path) -> list[Any]:
    found = []
    for text in blocks(page):
        try:
            found.append(json.loads(text))
        except json.JSONDecodeError as exc:  # the page says what to paste: it must parse
            pytest.fail(f"{page.name}: a JSON block does not parse ({exc}):\n{text}")
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def condition_keys(statement: dict[str, Any]) -> set[str]:
    """Every condition key of a statement, whatever its operator."""
    return {key for keys in statement.get("Condition", {}).values() for key in keys}


def allows(statement: dict[str, Any], action: str) -> bool:
    """Whether an Allow statement names `action` (exactly or by a trailing wildcard)."""
    if statement["Effect"] != "Allow":
        return False
    return any(
        re.fullmatch(re.escape(named).replace(r"\*", ".*"), action, re.I)
        for named in as_list(statement["Action"])
    )


def policy_problems(policy: dict[str, Any]) -> list[str]:
    """What makes a policy more than least-privilege, statement by statement."""
    problems = []
    for n, statement in enumerate(as_list(policy["Statement"])):
        name = statement.get("Sid", f"statement {n}")
        if statement["Effect"] != "Allow":
            continue
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"{name}: Allow with NotAction/NotResource grants all the rest")
            continue
        actions = as_list(statement["Action"])
        resources = as_list(statement["Resource"])
        mutating = [a for a in actions if not READ_ONLY.fullmatch(a.partition(":")[2])]
        if "*" in resources and mutating and "Condition" not in statement:
            problems.append(f"{name}: {mutating} allowed on any resource without a condition")
        if any(a.partition(":")[2] == "*" for a in actions):
            problems.append(f"{name}: every action of a service")
        if allows(statement, "iam:PassRole") and any(
            r == "*" or r.endswith(":role/*") for r in resources
        ):
            problems.append(f"{name}: iam:PassRole on any role")
        if allows(statement, "iam:PassRole") and "iam:PassedToService" not in condition_keys(
            statement
        ):
            problems.append(f"{name}: iam:PassRole to any service")
        keys = condition_keys(statement)
        if allows(statement, "ec2:RunInstances") and "ec2:LaunchTemplate" not in keys:
            problems.append(f"{name}: ec2:RunInstances not bound to the launch template")
        for action in ("Start", "Stop", "Reboot", "Terminate"):
            if allows(statement, f"ec2:{action}Instances") and not any(
                re.fullmatch(r"(aws|ec2):ResourceTag/.+", key) for key in keys
            ):
                problems.append(f"{name}: ec2:{action}Instances not bound to the owner tag")
        if allows(statement, "ec2:CreateTags") and keys.isdisjoint({"ec2:CreateAction"}):
            problems.append(f"{name}: ec2:CreateTags outside a launch")
        if allows(statement, "ssm:StartSession"):
            if "ssm:SessionDocumentAccessCheck" not in keys:
                problems.append(f"{name}: ssm:StartSession without SessionDocumentAccessCheck")
            documents = [r for r in resources if ":document/" in r]
            aws_documents = [r for r in documents if ":document/AWS-" in r or r.endswith("/*")]
            if aws_documents:
                problems.append(f"{name}: unrestricted session documents {aws_documents}")
            instances = [r for r in resources if ":instance/*" in r or r == "*"]
            if instances and not any(k.lower().startswith("ssm:resourcetag/") for k in keys):
                problems.append(f"{name}: sessions on any instance, not the cluster's")
    return problems


def document_problems(document: dict[str, Any]) -> list[str]:
    """What lets a port-forwarding document reach more than a desktop."""
    problems = []
    parameters = document.get("parameters", {})
    properties = document.get("properties", {})
    if document.get("sessionType") != "Port":
        return [f"sessionType {document.get('sessionType')!r}: not a port forward"]
    port = parameters.get("portNumber", {}).get("allowedPattern")
    if not port:
        problems.append("portNumber has no allowedPattern: any port of the node")
    elif not re.search(port, "8443") or [p for p in NOT_DESKTOP_PORTS if re.search(port, p)]:
        problems.append(f"portNumber pattern {port!r} is not DCV's port only")
    if "host" in parameters:
        host = parameters["host"].get("allowedPattern")
        far = ["localhost", "127.0.0.1", "169.254.169.254", "10.0.2.1", "example.org", "10.0.1.1 "]
        if not host:
            problems.append("host has no allowedPattern: any host the instance reaches")
        elif [h for h in far if re.search(host, h)] or not re.search(host, "10.0.1.23"):
            problems.append(f"host pattern {host!r} is not the compute subnet's addresses")
    elif properties.get("host") != "127.0.0.1":
        problems.append(f"host {properties.get('host')!r}: fix it to 127.0.0.1 on the node")
    return problems


PAGES = sorted(DOCS.glob("*.md"))


@pytest.mark.parametrize(
    "page", [page for page in PAGES if blocks(page)], ids=lambda page: page.name
)
def test_every_policy_and_document_in_the_docs_is_least_privilege(page: Path) -> None:
    problems = []
    for found in parsed(page):
        if "Statement" in found:
            problems += policy_problems(found)
        else:
            problems += document_problems(found)
    assert problems == [], "\n".join(problems)


def test_the_pages_hold_what_the_rules_are_about() -> None:
    """The checks above must not pass because a page lost its policy."""
    statements = [
        statement
        for page in ("ec2-instances.md", "access-routes.md")
        for policy in parsed(DOCS / page)
        if "Statement" in policy
        for statement in policy["Statement"]
    ]
    for action in ("ec2:RunInstances", "ec2:TerminateInstances", "ec2:CreateTags"):
        assert any(allows(s, action) for s in statements), action
    assert any(allows(s, "iam:PassRole") for s in statements)
    assert any(allows(s, "ssm:StartSession") for s in statements)
    documents = [d for d in parsed(DOCS / "access-routes.md") if "sessionType" in d]
    assert len(documents) == len(ssm_documents.NAMES)


def test_the_shipped_documents_are_the_documented_ones_and_least_privilege() -> None:
    documented = [d for d in parsed(DOCS / "access-routes.md") if "sessionType" in d]
    for name in ssm_documents.NAMES:
        shipped = json.loads(ssm_documents.content(name))
        assert shipped in documented, f"{name} differs from its copy in docs/access-routes.md"
        assert document_problems(shipped) == [], name


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        ({"Effect": "Allow", "Action": "ec2:TerminateInstances", "Resource": "*"}, "without a"),
        (
            {
                "Effect": "Allow",
                "Action": "ec2:StopInstances",
                "Resource": "arn:aws:ec2:*:*:instance/*",
            },
            "owner tag",
        ),
        (
            {
                "Effect": "Allow",
                "Action": "ec2:RunInstances",
                "Resource": "*",
                "Condition": {"StringEquals": {"ec2:InstanceType": "t3.micro"}},
            },
            "launch template",
        ),
        (
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": "*",
                "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            },
            "any role",
        ),
        (
            {
                "Effect": "Allow",
                "Action": "ssm:StartSession",
                "Resource": "arn:aws:ssm:*::document/AWS-StartPortForwardingSession",
                "Condition": {"BoolIfExists": {"ssm:SessionDocumentAccessCheck": "true"}},
            },
            "unrestricted session documents",
        ),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "NotAction"),
        (
            {
                "Effect": "Allow",
                "Action": "ssm:StartSession",
                "Resource": "arn:aws:ec2:*:*:instance/*",
                "Condition": {"BoolIfExists": {"ssm:SessionDocumentAccessCheck": "true"}},
            },
            "not the cluster's",
        ),
    ],
)
def test_the_rules_catch_what_they_are_for(policy: dict[str, Any], problem: str) -> None:
    problems = policy_problems({"Statement": [policy]})
    assert any(problem in p for p in problems), problems


def test_the_document_rules_catch_aws_own_documents() -> None:
    """AWS's AWS-StartPortForwardingSession[ToRemoteHost], as AWS defines their parameters."""
    any_port = (
        r"^([1-9]|[1-9][0-9]{1,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|"
        r"6553[0-5])$"
    )
    to_node = {
        "sessionType": "Port",
        "parameters": {"portNumber": {"allowedPattern": any_port}},
        "properties": {"portNumber": "{{ portNumber }}"},
    }
    assert any("not DCV's port only" in p for p in document_problems(to_node))
    assert any("fix it to 127.0.0.1" in p for p in document_problems(to_node))
    to_host = {
        "sessionType": "Port",
        "parameters": {
            "host": {"allowedPattern": r"^[^,$^&\(\)!;'\"<>\`{}\[\]\|#=]{3,}$"},
            "portNumber": {"allowedPattern": "^8443$"},
        },
        "properties": {"host": "{{ host }}"},
    }
    assert any("compute subnet" in p for p in document_problems(to_host))
