"""The few AWS calls the access routes make, with errors a notebook user can act on.

boto3 is optional (`pip install dcv_widget[aws]`) and imported only here, only when a route needs
AWS. Endpoints follow boto3's own rules (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_EC2`, profiles),
so VPC endpoints and the tests' moto server need no setting of ours. Timeouts are short and
retries use botocore's "standard" mode (throttling backs off), because a card waits on them.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

CLIENT_CONFIG = {
    "connect_timeout": 3,
    "read_timeout": 10,
    "retries": {"mode": "standard", "max_attempts": 4},
}
IMDS_DEFAULT = "http://169.254.169.254"


class AwsError(Exception):
    """An AWS lookup failed; the message says what and what to do."""


class AwsNotSetUp(AwsError):
    """AWS cannot be asked from here at all: boto3, the profile, a region or credentials is
    missing where JupyterLab runs. `missing` says each (with where to set it), so a panel can
    show them apart from the failures of calls AWS did answer."""

    def __init__(self, *missing: str) -> None:
        self.missing = missing
        super().__init__("; ".join(missing))


@dataclass(frozen=True)
class Instance:
    """An EC2 instance as the routes need it."""

    instance_id: str
    region: str
    private_ip: str = ""
    public_ip: str = ""
    state: str = ""


class Aws:
    """boto3 clients for one profile, created on first use and shared by the threads (a boto3
    Session is not thread-safe: it and the clients are made under a lock; clients are)."""

    def __init__(
        self,
        *,
        profile: str = "",
        region: str = "",
        profile_setting: str = "c.DesktopSettings.aws_profile",
        region_setting: str = "c.DesktopSettings.aws_region",
        settings_file: str = "jupyter_dcv_widget_config.py",
    ) -> None:
        """`profile_setting`, `region_setting`: what gives `profile` and `region`, named in the
        messages saying what to set; `settings_file`: where they are set ("" when they are
        not settings, such as the arguments of a call)."""
        self.profile = profile
        self.region_setting = region
        self._setting_names = {"profile": profile_setting, "region": region_setting}
        self._settings_file = settings_file
        self._session: Any = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.RLock()

    def session(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = self._new_session()
            return self._session

    def _new_session(self) -> Any:
        try:
            import boto3
        except ImportError as exc:
            raise AwsNotSetUp(
                "this needs boto3 where JupyterLab runs: pip install 'dcv_widget[aws]'"
            ) from exc
        try:
            return boto3.Session(profile_name=self.profile or None)
        except Exception as exc:  # botocore's ProfileNotFound
            raise AwsNotSetUp(
                f"AWS profile {self.profile!r} is not configured here ({exc}); fix "
                f"{self._setting_names['profile']} or run `aws configure --profile {self.profile}`"
            ) from exc

    def region(self, hint: str = "") -> str:
        """`hint` (the node's own region), else the setting, the profile/environment, or this
        machine's instance metadata."""
        found = (
            hint
            or self.region_setting
            or os.environ.get("AWS_REGION")  # the CLI's and other SDKs' variable; boto3 skips it
            or self.session().region_name
            or metadata_region()
        )
        if not found:
            where = f" in {self._settings_file}" if self._settings_file else ""
            raise AwsNotSetUp(
                f"no AWS region is known here; set {self._setting_names['region']}{where} "
                "(or AWS_REGION where JupyterLab runs)"
            )
        return str(found)

    def missing(self, hint: str = "") -> tuple[str, ...]:
        """What this machine lacks before AWS can be asked at all, each with where to set it
        (boto3 or the profile, else a region and credentials); () when nothing is. Asks no AWS
        service: only the local chain (and, on EC2, the instance metadata)."""
        try:
            session = self.session()
        except AwsNotSetUp as exc:
            return exc.missing
        missing: list[str] = []
        try:
            self.region(hint)
        except AwsNotSetUp as exc:
            missing.extend(exc.missing)
        if session.get_credentials() is None:
            missing.append(self._no_credentials())
        return tuple(missing)

    def _no_credentials(self) -> str:
        return (
            "no AWS credentials where JupyterLab runs; attach an instance role, set AWS_PROFILE "
            f"(or {self._setting_names['profile']}), or run `aws configure`"
        )

    def client(self, service: str, region: str) -> Any:
        """The service's client in `region`, made once."""
        from botocore.config import Config

        with self._lock:
            found = self._clients.get((service, region))
            if found is not None:
                return found
            session = self.session()
            if session.get_credentials() is None:
                raise AwsNotSetUp(self._no_credentials())
            made = session.client(service, region_name=region, config=Config(**CLIENT_CONFIG))
            self._clients[(service, region)] = made
            return made

    def instance_by_ip(self, ip: str, region: str, *, public: bool = False) -> Instance:
        """The one live instance with this private (or public) IPv4 address."""
        ec2 = self.client("ec2", region)
        key = "ip-address" if public else "private-ip-address"
        filters = [
            {"Name": key, "Values": [ip]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
        try:
            pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
            found = [
                instance_of(raw, region)
                for page in pages
                for reservation in page.get("Reservations", [])
                for raw in reservation.get("Instances", [])
            ]
        except Exception as exc:
            raise explain(exc, f"look up the EC2 instance with IP {ip} in {region}") from exc
        if not found:
            raise AwsError(
                f"no running EC2 instance has the IP {ip} in {region}; is aws_region right, "
                "and is the node an EC2 instance? Otherwise use the ssh route"
            )
        if len(found) > 1:
            ids = ", ".join(sorted(i.instance_id for i in found))
            raise AwsError(
                f"several running instances have the IP {ip} in {region} ({ids}): VPCs with "
                "overlapping addresses; use the ssh route, or set the node's instance metadata "
                "so the job records its own instance id"
            )
        return found[0]

    def ssm_ping_status(self, instance_id: str, region: str) -> str:
        """The SSM agent's PingStatus ("Online", "ConnectionLost", …); "" when the agent never
        registered; raises AwsError when SSM cannot be asked."""
        ssm = self.client("ssm", region)
        try:
            reply = ssm.describe_instance_information(
                Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
            )
        except Exception as exc:
            raise explain(exc, f"ask SSM about {instance_id}") from exc
        return ping_status(reply, instance_id)


def instance_of(raw: dict[str, Any], region: str) -> Instance:
    """An Instance from one DescribeInstances item."""
    return Instance(
        instance_id=str(raw["InstanceId"]),
        region=region,
        private_ip=str(raw.get("PrivateIpAddress", "")),
        public_ip=str(raw.get("PublicIpAddress", "")),
        state=str(raw.get("State", {}).get("Name", "")),
    )


def ping_status(reply: dict[str, Any], instance_id: str) -> str:
    """The agent's PingStatus in a DescribeInstanceInformation reply; "" if not listed."""
    for info in reply.get("InstanceInformationList", []):
        if info.get("InstanceId") == instance_id:
            return str(info.get("PingStatus", ""))
    return ""


# EC2 error codes a person can act on (launch templates and instances of the EC2 backend).
_EC2_ADVICE = {
    "InvalidLaunchTemplateName.NotFoundException": "no launch template has that name in this "
    "region; check the name (and the region) in the EC2 console under Launch Templates",
    "InvalidLaunchTemplateId.NotFound": "no launch template has that id in this region; check "
    "the id (and the region) in the EC2 console under Launch Templates",
    "InvalidLaunchTemplateId.Malformed": "that is not a launch template id (lt- and 17 hex "
    "digits); give the template's id or its name",
    "InvalidLaunchTemplateId.VersionNotFound": "the launch template has no such version; use "
    "$Default, $Latest or an existing version number",
    "InvalidInstanceID.NotFound": "no such instance in this region (terminated long ago, or "
    "another region?)",
    "InvalidInstanceID.Malformed": "that is not an EC2 instance id",
    "IncorrectInstanceState": "the instance is not in a state that allows this; refresh the "
    "list and try again once it has settled",
    "InsufficientInstanceCapacity": "AWS has no capacity for this instance type in that "
    "availability zone right now; try another instance type or subnet, or later",
    "InstanceLimitExceeded": "the account's instance quota for this type is used up; request "
    "an increase in Service Quotas, or stop another instance",
    "VcpuLimitExceeded": "the account's vCPU quota for this instance family is used up; request "
    "an increase in Service Quotas, or stop another instance",
}


def error_code(exc: Exception) -> str:
    """AWS's error code of a botocore failure ("AccessDenied", ...), "" for any other error."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def explain(exc: Exception, doing: str, *, needs: str = "") -> AwsError:
    """An AwsError for a botocore failure: the error code and what to do, no request dump.

    `needs`: the IAM actions the call takes (named when AWS refuses them). An AwsError (the
    call could not be made: AWS not set up, a bad argument) already says what to do: as is."""
    if isinstance(exc, AwsError):
        return exc
    code = error_code(exc)
    if code in ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException"):
        if needs:
            return AwsError(
                f"AWS refused to {doing} ({code}): the credentials where JupyterLab runs lack "
                f"the permission to do so (it takes {needs}); grant it in their IAM policy"
            )
        return AwsError(
            f"AWS refused to {doing} ({code}): the credentials where JupyterLab runs lack the "
            "permission; see docs/access-routes.md for the IAM policy"
        )
    if code in ("AuthFailure", "InvalidClientTokenId", "UnrecognizedClientException"):
        return AwsError(f"AWS did not accept the credentials to {doing} ({code}); renew them")
    if code in ("Throttling", "ThrottlingException", "RequestLimitExceeded"):
        return AwsError(f"AWS is throttling requests to {doing}; try again in a minute")
    if code in _EC2_ADVICE:
        return AwsError(f"could not {doing} ({code}): {_EC2_ADVICE[code]}")
    name = code or type(exc).__name__
    return AwsError(f"could not {doing}: {name}: {getattr(exc, 'message', '') or exc}")


def metadata_region() -> str:
    """This machine's region from IMDSv2, or "" off EC2 (answers within a second either way)."""
    return instance_metadata().get("placement/region", "")


def instance_metadata(names: tuple[str, ...] = ("placement/region",)) -> dict[str, str]:
    """Some of this machine's IMDSv2 metadata; {} off EC2 or with AWS_EC2_METADATA_DISABLED."""
    if os.environ.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
        return {}
    import urllib.request

    base = os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT", IMDS_DEFAULT).rstrip("/")
    if not base.startswith(("http://", "https://")):
        return {}
    # Instance metadata is link-local: never asked through an HTTP proxy of the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        ask = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
            f"{base}/latest/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
        )
        with opener.open(ask, timeout=1) as reply:
            token = reply.read().decode()
        found = {}
        for name in names:
            get = urllib.request.Request(  # noqa: S310
                f"{base}/latest/meta-data/{name}", headers={"X-aws-ec2-metadata-token": token}
            )
            with opener.open(get, timeout=1) as reply:
                found[name] = reply.read().decode().strip()
        return found
    except (OSError, ValueError):
        return {}
