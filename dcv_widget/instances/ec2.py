"""Stand-alone DCV instances on EC2: one user's desktops, launched from a launch template.

The instances are the state: each carries tags saying whose it is (and which project), so
listing is a tag filter and nothing is stored on our side. Every action first reads the
instance's owner tag, so a user never stops or terminates someone else's instance even with an
id typed by hand. boto3 is reached only through `Aws` (imported lazily there); the retry and
timeout policy is its CLIENT_CONFIG (botocore's standard mode: throttling backs off).
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import math
import re
import ssl
import time
from dataclasses import dataclass
from typing import Any

from ..access.aws import Aws, AwsError, AwsNotSetUp, explain
from ..access.instructions import Access, ssm_forward
from .prices import on_demand_price
from .windows_password import decrypt_password

__all__ = ["Ec2Backend", "Ec2Desktop", "Ec2InputError", "decrypt_password", "on_demand_price"]

# The states in which an instance runs (and costs): the others have no uptime.
_UP_STATES = ("pending", "running", "stopping")
# Tag keys and values AWS accepts everywhere, minus the wildcards of DescribeInstances filters
# (`*`, `?`): an owner "*" must never match everyone's instances.
PLAIN = re.compile(r"[A-Za-z0-9 _.:/=+\-@]+")
_INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}")
TEMPLATE_ID = re.compile(r"lt-[0-9a-f]{17}")
TEMPLATE_NAME = re.compile(r"[A-Za-z0-9().\-/_]{3,128}")
_TEMPLATE_VERSION = re.compile(r"\$Default|\$Latest|[1-9][0-9]{0,8}")
INSTANCE_TYPE = re.compile(r"[a-z0-9][a-z0-9-]*\.[a-z0-9-]+")
_SUBNET = re.compile(r"subnet-[0-9a-f]{8,17}")
_SECURITY_GROUP = re.compile(r"sg-[0-9a-f]{8,17}")
# The Pricing API has endpoints in a few regions only; us-east-1 answers for every region.
PRICING_REGION = "us-east-1"
# Polling steps: the waiters ask EC2 every WAITER_DELAY s, the DCV probe every PROBE_DELAY s.
WAITER_DELAY = 5.0
PROBE_DELAY = 2.0


class Ec2InputError(AwsError, ValueError):
    """An argument that cannot go to AWS as given (named in the message); nothing was sent."""


@dataclass(frozen=True)
class Ec2Desktop:
    """One DCV instance as the widget shows it."""

    instance_id: str
    name: str
    state: str
    instance_type: str
    platform: str
    public_ip: str
    private_ip: str
    launch_time: float
    region: str
    owner: str

    @property
    def uptime(self) -> float:
        """Seconds since launch while the instance runs (AWS resets LaunchTime on each start)."""
        if self.state not in _UP_STATES or not self.launch_time:
            return 0.0
        return max(0.0, time.time() - self.launch_time)


class Ec2Backend:
    """One user's DCV instances in one region, marked by tags. `region` "": Aws's (its
    setting, the environment or profile, the instance metadata), found on the first call."""

    def __init__(
        self,
        aws: Aws,
        region: str,
        *,
        owner: str,
        owner_tag: str = "dcv-widget:owner",
        project: tuple[str, str] | None = None,
    ) -> None:
        self.aws = aws
        self.region = region
        self.owner = _tag_value("owner", owner)
        self.owner_tag = _tag_key("owner_tag", owner_tag)
        if project is not None:
            project = (_tag_key("project key", project[0]), _tag_value("project", project[1]))
        self.project = project
        self._ec2: Any = None

    # -- reading -------------------------------------------------------------------------------

    def desktops(self) -> list[Ec2Desktop]:
        """This owner's instances in every state (terminated ones stay listed about an hour),
        newest first."""
        filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in self._marks()]
        try:
            pages = self.ec2().get_paginator("describe_instances").paginate(Filters=filters)
            found = [
                self._desktop(raw)
                for page in pages
                for reservation in page.get("Reservations", [])
                for raw in reservation.get("Instances", [])
            ]
        except Exception as exc:
            raise explain(
                exc, f"list your DCV instances in {self.region}", needs="ec2:DescribeInstances"
            ) from exc
        return sorted(found, key=lambda d: (d.launch_time, d.instance_id), reverse=True)

    def get(self, instance_id: str) -> Ec2Desktop:
        """The instance, if it carries this owner's (and project's) tags; AwsError otherwise."""
        if not _INSTANCE_ID.fullmatch(instance_id):
            raise Ec2InputError(f"instance_id {instance_id!r} is not an EC2 instance id")
        try:
            reply = self.ec2().describe_instances(InstanceIds=[instance_id])
        except Exception as exc:
            raise explain(
                exc, f"look up {instance_id} in {self.region}", needs="ec2:DescribeInstances"
            ) from exc
        found = [raw for r in reply.get("Reservations", []) for raw in r.get("Instances", [])]
        if not found:
            raise AwsError(f"{instance_id} does not exist in {self.region}")
        tags = _tags(found[0])
        if any(tags.get(key) != value for key, value in self._marks()):
            raise AwsError(
                f"{instance_id} is not one of {self.owner}'s DCV instances (its {self.owner_tag} "
                "tag says otherwise), so dcv_widget will not act on it"
            )
        return self._desktop(found[0])

    # -- acting --------------------------------------------------------------------------------

    def launch(
        self,
        template: str,
        *,
        version: str = "$Default",
        instance_type: str = "",
        subnet_id: str = "",
        security_group_ids: tuple[str, ...] = (),
        name: str = "",
        shutdown_behavior: str = "",
        extra_tags: tuple[tuple[str, str], ...] = (),
    ) -> Ec2Desktop:
        """One instance from a launch template (its id lt-… or its name), tagged as this owner's
        (plus `extra_tags`, e.g. the idle policy's) on the instance and its volumes. Nothing
        here depends on the AMI's platform: the template carries the Windows or Linux image,
        key pair and user data."""
        spec: dict[str, Any] = {
            "MinCount": 1,
            "MaxCount": 1,
            # botocore fills in ClientToken, so a retried RunInstances never launches twice.
            "LaunchTemplate": {**_template_ref(template), "Version": _version(version)},
        }
        if instance_type:
            spec["InstanceType"] = _checked(
                "instance_type", instance_type, INSTANCE_TYPE, "an instance type like g4dn.xlarge"
            )
        if subnet_id:
            spec["SubnetId"] = _checked("subnet_id", subnet_id, _SUBNET, "a subnet id (subnet-…)")
        if security_group_ids:
            spec["SecurityGroupIds"] = [
                _checked("security_group_ids", group, _SECURITY_GROUP, "a security group id (sg-…)")
                for group in security_group_ids
            ]
        if shutdown_behavior:
            if shutdown_behavior not in ("stop", "terminate"):
                raise Ec2InputError(
                    f"shutdown_behavior {shutdown_behavior!r} is not 'stop' or 'terminate'"
                )
            spec["InstanceInitiatedShutdownBehavior"] = shutdown_behavior
        extra = [(_tag_key("tag", k), _tag_value("tag", v)) for k, v in extra_tags]
        marks = [*self._marks(), *extra]
        tags = [{"Key": key, "Value": value} for key, value in marks]
        if name:
            tags.append({"Key": "Name", "Value": _tag_value("name", name)})
        spec["TagSpecifications"] = [
            {"ResourceType": kind, "Tags": tags} for kind in ("instance", "volume")
        ]
        try:
            reply = self.ec2().run_instances(**spec)
        except Exception as exc:
            raise explain(
                exc,
                f"launch an instance from the launch template {template!r} in {self.region}",
                needs="ec2:RunInstances and ec2:CreateTags",
            ) from exc
        return self._desktop(reply["Instances"][0])

    def start(self, instance_id: str) -> None:
        desktop = self._refuse_unless(instance_id, "start", ("stopped", "stopping", "running"))
        self._call("start_instances", desktop, "start", "ec2:StartInstances")

    def stop(self, instance_id: str) -> None:
        desktop = self._refuse_unless(instance_id, "stop", ("pending", "running", "stopped"))
        self._call("stop_instances", desktop, "stop", "ec2:StopInstances")

    def terminate(self, instance_id: str) -> None:
        desktop = self.get(instance_id)
        self._call("terminate_instances", desktop, "terminate", "ec2:TerminateInstances")

    def reboot(self, instance_id: str) -> None:
        desktop = self._refuse_unless(instance_id, "reboot", ("running",))
        self._call("reboot_instances", desktop, "reboot", "ec2:RebootInstances")

    # -- readiness -----------------------------------------------------------------------------

    def wait_ready(
        self, instance_id: str, timeout: float = 900, *, port: int = 8443, host: str = ""
    ) -> Ec2Desktop:
        """Wait until the instance runs, passes its status checks, and DCV answers on `port`.

        `host`: where to probe DCV instead of the instance's public (else private) IP, e.g. the
        local end of an SSM tunnel. TimeoutError names the step still waited for."""
        deadline = time.monotonic() + timeout
        desktop = self.get(instance_id)
        self._wait("instance_running", desktop, deadline, f"{instance_id} to be running")
        # Status checks may not be askable here (permission, an EC2 look-alike without the
        # API): DCV answering decides then.
        with contextlib.suppress(AwsError):
            self._wait("instance_status_ok", desktop, deadline, f"{instance_id}'s status checks")
        desktop = self.get(instance_id)
        target = host or desktop.public_ip or desktop.private_ip
        if not target:
            raise AwsError(f"{instance_id} is running but has no IP address to reach DCV at")
        while True:
            left = deadline - time.monotonic()
            if self.dcv_answers(target, port, timeout=max(0.5, min(3.0, left))):
                return desktop
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"{instance_id} is running but DCV did not answer on {target}:{port} within "
                    f"{timeout:.0f} s; still waiting for the DCV server (is it installed and "
                    f"started, and does the security group allow TCP {port} from here?)"
                )
            time.sleep(min(PROBE_DELAY, left))

    def dcv_answers(self, host: str, port: int = 8443, timeout: float = 3) -> bool:
        """Whether an HTTPS server answers at host:port (any HTTP status counts).

        The certificate is not checked: DCV makes a self-signed one, and this probe sends
        nothing but `GET /`, so there is nothing for an impostor to learn."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
        try:
            connection.request("GET", "/")
            connection.getresponse().read(0)
            return True
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    # -- reaching the desktop ------------------------------------------------------------------

    def connect_url(self, desktop: Ec2Desktop, port: int = 8443) -> str:
        """DCV's web client on the instance's public IP."""
        if desktop.state != "running":
            raise AwsError(f"{desktop.instance_id} is {desktop.state}; start it first")
        if not desktop.public_ip:
            raise AwsError(
                f"{desktop.instance_id} has no public IP; reach it through AWS SSM port "
                "forwarding instead (ssm_access()), or from inside its VPC"
            )
        return f"https://{desktop.public_ip}:{port}/"

    def ssm_access(
        self, desktop: Ec2Desktop, local_port: int, port: int = 8443, document: str = ""
    ) -> Access:
        """The SSM port-forwarding card: no inbound rule, no public IP needed. `document`: the
        site's session document (c.InstanceSettings.ssm_document); empty: AWS's."""
        return ssm_forward(desktop.instance_id, desktop.region, port, local_port, document=document)

    def windows_password(self, instance_id: str, private_key_pem: str) -> str:
        """The Administrator password EC2 made at first boot, decrypted with the key pair's
        private key (RSA). Neither appears in any message or log."""
        desktop = self.get(instance_id)
        if desktop.platform != "windows":
            raise AwsError(
                f"{instance_id} runs Linux: EC2 makes no password for it; log in as its "
                "image's user with the key pair"
            )
        try:
            reply = self.ec2().get_password_data(InstanceId=instance_id)
        except Exception as exc:
            raise explain(
                exc, f"get {instance_id}'s Windows password", needs="ec2:GetPasswordData"
            ) from exc
        return decrypt_password(str(reply.get("PasswordData", "")), private_key_pem, instance_id)

    # -- cost ----------------------------------------------------------------------------------

    def hourly_price(self, instance_type: str, operating_system: str = "Linux") -> float | None:
        """On-demand USD per hour in this region from the AWS Pricing API; None when it cannot
        be known (no answer, no permission, no product): a price is a hint, never a blocker.

        Products are matched by `regionCode` (the region name) rather than the `location`
        display name, which AWS renames ("EU (Ireland)" → "Europe (Ireland)"); no map to keep."""
        if not INSTANCE_TYPE.fullmatch(instance_type):
            return None
        wanted = {
            "instanceType": instance_type,
            "regionCode": self.region,
            "operatingSystem": operating_system,
            "tenancy": "Shared",
            "preInstalledSw": "NA",
            "capacitystatus": "Used",
        }
        filters = [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in wanted.items()]
        try:
            pricing = self.aws.client("pricing", PRICING_REGION)
            reply = pricing.get_products(ServiceCode="AmazonEC2", Filters=filters, MaxResults=20)
            return on_demand_price(reply.get("PriceList", []))
        except Exception:
            return None

    # -- helpers -------------------------------------------------------------------------------

    def ec2(self) -> Any:
        """The EC2 client (botocore clients are thread-safe: one for the backend); until AWS
        is set up here, AwsNotSetUp naming everything missing at once."""
        if self._ec2 is None:
            missing = self.aws.missing(self.region)
            if missing:
                raise AwsNotSetUp(*missing)
            self.region = self.aws.region(self.region)
            self._ec2 = self.aws.client("ec2", self.region)
        return self._ec2

    def _marks(self) -> list[tuple[str, str]]:
        return [(self.owner_tag, self.owner), *([self.project] if self.project else [])]

    def _desktop(self, raw: dict[str, Any]) -> Ec2Desktop:
        tags = _tags(raw)
        launched = raw.get("LaunchTime")
        return Ec2Desktop(
            instance_id=str(raw["InstanceId"]),
            name=tags.get("Name", ""),
            state=str(raw.get("State", {}).get("Name", "")),
            instance_type=str(raw.get("InstanceType", "")),
            platform=_platform(raw),
            public_ip=str(raw.get("PublicIpAddress", "")),
            private_ip=str(raw.get("PrivateIpAddress", "")),
            launch_time=launched.timestamp() if isinstance(launched, datetime.datetime) else 0.0,
            region=self.region,
            owner=tags.get(self.owner_tag, ""),
        )

    def _refuse_unless(self, instance_id: str, action: str, states: tuple[str, ...]) -> Ec2Desktop:
        """The instance, if it is ours and in a state the action applies to (checked here too:
        a clear word beats EC2's IncorrectInstanceState, and not every EC2 look-alike checks)."""
        desktop = self.get(instance_id)
        if desktop.state not in states:
            raise AwsError(f"cannot {action} {instance_id}: it is {desktop.state}")
        return desktop

    def _call(self, method: str, desktop: Ec2Desktop, action: str, needs: str) -> None:
        try:
            getattr(self.ec2(), method)(InstanceIds=[desktop.instance_id])
        except Exception as exc:
            raise explain(exc, f"{action} {desktop.instance_id}", needs=needs) from exc

    def _wait(self, waiter: str, desktop: Ec2Desktop, deadline: float, what: str) -> None:
        """A boto3 waiter bounded by `deadline`: TimeoutError when it runs out, AwsError when
        EC2 says it will never happen (terminated) or cannot be asked."""
        left = deadline - time.monotonic()
        delay = max(1.0, min(WAITER_DELAY, left))
        config = {"Delay": delay, "MaxAttempts": max(1, math.ceil(left / delay))}
        ec2 = self.ec2()
        try:
            ec2.get_waiter(waiter).wait(InstanceIds=[desktop.instance_id], WaiterConfig=config)
        except Exception as exc:
            reason = str(getattr(exc, "kwargs", {}).get("reason", ""))
            if "Max attempts exceeded" in reason:
                raise TimeoutError(f"still waiting for {what} after the timeout") from None
            last = getattr(exc, "last_response", None)
            if isinstance(last, dict) and "Error" in last:  # EC2 refused the waiter's question
                raise explain(_Refused(last), f"wait for {what}") from None
            if reason:  # a failure state, e.g. terminated while waiting to run
                raise AwsError(f"gave up waiting for {what}: {reason}") from None
            raise explain(exc, f"wait for {what}") from exc


class _Refused(Exception):
    """A waiter's last error reply, shaped like botocore's ClientError for explain()."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__(str(response["Error"].get("Message", "")))
        self.response = response


def _platform(raw: dict[str, Any]) -> str:
    platform = str(raw.get("Platform", "")).lower()
    details = str(raw.get("PlatformDetails", "")).lower()
    return "windows" if platform == "windows" or details.startswith("windows") else "linux"


def _tags(raw: dict[str, Any]) -> dict[str, str]:
    return {str(t.get("Key", "")): str(t.get("Value", "")) for t in raw.get("Tags", [])}


def _tag_value(field: str, value: str) -> str:
    if not (0 < len(value) <= 256 and PLAIN.fullmatch(value)) or value != value.strip():
        raise Ec2InputError(
            f"{field} {value!r} cannot be a tag value: use 1-256 letters, digits, spaces "
            "and _ . : / = + - @"
        )
    return value


def _tag_key(field: str, key: str) -> str:
    _tag_value(field, key)
    if len(key) > 128 or key.lower().startswith("aws:"):
        raise Ec2InputError(f"{field} {key!r} cannot be a tag key (at most 128, not aws:…)")
    return key


def _template_ref(template: str) -> dict[str, str]:
    if TEMPLATE_ID.fullmatch(template):
        return {"LaunchTemplateId": template}
    if TEMPLATE_NAME.fullmatch(template):
        return {"LaunchTemplateName": template}
    raise Ec2InputError(
        f"template {template!r} is neither a launch template id (lt-…) nor a template name"
    )


def _version(version: str) -> str:
    return _checked("version", version, _TEMPLATE_VERSION, "$Default, $Latest or a number")


def _checked(field: str, value: str, pattern: re.Pattern[str], expected: str) -> str:
    if not pattern.fullmatch(value):
        raise Ec2InputError(f"{field} {value!r} is not {expected}")
    return value
