"""InstancesManager: one user's stand-alone DCV EC2 instances, followed by one poll loop.

Like the Slurm SessionManager, every AWS call runs on the manager's own threads (never the
kernel's), listeners hear of each change, and one DescribeInstances per poll covers all the
user's instances: fast while one changes state or its DCV is not answering yet, slow otherwise.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ..access import instructions as routes
from ..access.aws import AwsError, AwsNotSetUp
from ..access.instructions import Access
from ..common.listeners import Listeners
from ..common.poll_loop import PollLoop
from .ec2 import Ec2Backend, Ec2Desktop

log = logging.getLogger(__name__)
T = TypeVar("T")

ACTIONS = ("start", "stop", "reboot", "terminate")
_DOING = {
    "start": "starting",
    "stop": "stopping",
    "reboot": "rebooting",
    "terminate": "terminating",
}
_CHANGING = ("pending", "stopping", "shutting-down")
DCV_PORT = 8443


class InstancesManager:
    """The DCV instances of one owner in one region, listed and acted on off the kernel thread."""

    def __init__(
        self,
        backend: Ec2Backend,
        *,
        access: str = "direct",
        local_port_base: int = 19443,
        fast_poll: float = 5.0,
        slow_poll: float = 60.0,
        port: int = DCV_PORT,
        ssm_document: str = "",
    ) -> None:
        if access not in ("direct", "ssm"):
            raise ValueError(f"access: {access!r} is not valid; choose direct or ssm")
        self.backend = backend
        self.route = access
        self.ssm_document = ssm_document
        self.local_port_base = local_port_base
        self.fast_poll, self.slow_poll, self.port = fast_poll, slow_poll, port
        self._desktops: dict[str, Ec2Desktop] = {}
        self._dcv_up: set[str] = set()  # running instances whose DCV has answered
        self._busy: dict[str, str] = {}  # instance id -> the action under way, in words
        self._prices: dict[tuple[str, str], float | None] = {}  # (type, platform) -> $/h
        self.problem = ""  # why the last listing failed, for the panel
        # What the last listing found missing to ask AWS at all (AwsNotSetUp.missing).
        self.not_set_up: tuple[str, ...] = ()
        self._listeners: Listeners[Callable[[], None]] = Listeners()
        self._lock = threading.Lock()
        self._loop = PollLoop("dcv-widget-ec2-poll", self._poll_round, lambda: not self._closed)
        self._closed = False
        self._actions = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dcv-widget-ec2")

    # -- what callers see -------------------------------------------------------------------

    def desktops(self) -> list[Ec2Desktop]:
        """Newest first."""
        with self._lock:
            return sorted(self._desktops.values(), key=lambda d: -d.launch_time)

    def dcv_ready(self, instance_id: str) -> bool:
        with self._lock:
            return instance_id in self._dcv_up

    def busy(self, instance_id: str) -> str:
        with self._lock:
            return self._busy.get(instance_id, "")

    def hourly_price(self, desktop: Ec2Desktop) -> float | None:
        """The On-Demand price per hour of its type and platform once looked up, else None."""
        with self._lock:
            return self._prices.get((desktop.instance_type, desktop.platform))

    def check_setup(self) -> tuple[str, ...]:
        """What this machine lacks to ask AWS at all (boto3, the profile, a region,
        credentials), each with where to set it; () when nothing is. Asked now, on the
        caller's thread, of the local chain only (no AWS call)."""
        return self.backend.aws.missing(self.backend.region)

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener()` after every change; returns an unsubscribe."""
        return self._listeners.add(listener)

    def start(self) -> None:
        """Start following the instances (idempotent)."""
        self._loop.ensure_running()

    def close(self) -> None:
        """Stop polling and the action threads (the instances themselves go on)."""
        self._closed = True
        self._loop.wake()
        self._actions.shutdown(wait=False, cancel_futures=True)

    def run_later(self, work: Callable[[], T]) -> Future[T]:
        """`work` on an action thread: for callers (the kernel's thread) that must not wait."""
        return self._actions.submit(work)

    def launch(self, template: str, **options: Any) -> Future[Ec2Desktop]:
        """Launch an instance from a launch template (Ec2Backend.launch's options)."""
        return self._actions.submit(self._launch, template, options)

    def act(self, instance_id: str, action: str) -> Future[None]:
        """start, stop, reboot or terminate one of the owner's instances."""
        if action not in ACTIONS:
            raise ValueError(f"action: {action!r} is not one of {', '.join(ACTIONS)}")
        with self._lock:
            self._busy[instance_id] = _DOING[action]
        self._notify()
        return self._actions.submit(self._act, instance_id, action)

    def access(self, instance_id: str) -> Access | None:
        """How the browser reaches a ready instance on this manager's route."""
        with self._lock:
            desktop = self._desktops.get(instance_id)
        if desktop is None or instance_id not in self._dcv_up:
            return None
        if self.route == "ssm":
            return self.backend.ssm_access(
                desktop, self._local_port(desktop), self.port, self.ssm_document
            )
        if not desktop.public_ip:
            return routes.problem(
                "direct",
                f"{desktop.instance_id} has no public IP, so a browser outside its VPC cannot "
                "reach it; set c.InstanceSettings.access = 'ssm'",
            )
        return routes.direct(desktop.public_ip, self.port)

    def connect_url(self, instance_id: str) -> Future[str]:
        """The URL that opens the instance's DCV (its own login page: no secret in it)."""
        return self._actions.submit(self._connect_url, instance_id)

    # -- on the manager's threads ---------------------------------------------------------------

    def _launch(self, template: str, options: dict[str, Any]) -> Ec2Desktop:
        desktop = self.backend.launch(template, **options)
        with self._lock:
            self._desktops[desktop.instance_id] = desktop
        self._notify()
        self.start()
        return desktop

    def _act(self, instance_id: str, action: str) -> None:
        try:
            getattr(self.backend, action)(instance_id)
            with self._lock:
                self._dcv_up.discard(instance_id)
        finally:
            with self._lock:
                self._busy.pop(instance_id, None)
            self.start()  # a fast look at the new state

    def _connect_url(self, instance_id: str) -> str:
        found = self.access(instance_id)
        if found is None:
            raise RuntimeError(f"{instance_id} is not ready: wait until its DCV answers")
        if found.problem:
            raise RuntimeError(found.problem)
        if self.route == "ssm":
            # 127.0.0.1, the address the session-manager plugin binds, never "localhost",
            # which may reach another user's [::1] listener first (access/instructions.py).
            port = self._local_port(self._desktops[instance_id])
            return f"https://{routes.LOOPBACK}:{port}/"
        return self.backend.connect_url(self._desktops[instance_id], self.port)

    def _local_port(self, desktop: Ec2Desktop) -> int:
        """Stable per instance, so the user's running forward still fits after a restart."""
        return self.local_port_base + int(desktop.instance_id[-5:], 16) % 1000

    def _poll_round(self) -> float:
        """One listing; the seconds until the next (fast while an instance changes state)."""
        try:
            changing = self.poll_once()
        except AwsNotSetUp as exc:
            self.problem, self.not_set_up = "", exc.missing
            self._notify()
            changing = False
        except Exception as exc:  # the loop must live on: the panel says what failed
            if not isinstance(exc, AwsError):
                log.exception("listing the instances failed")
            self.problem, self.not_set_up = str(exc) or type(exc).__name__, ()
            self._notify()
            changing = False
        return self.fast_poll if changing else self.slow_poll

    def poll_once(self) -> bool:
        """One listing, DCV probes for running instances not answering yet, prices of new
        instance types; returns whether something is still changing.

        On the ssm route the instances have no inbound access from here, so a running one
        counts as ready (its DCV page answers through the user's forward once it is up)."""
        listed = {d.instance_id: d for d in self.backend.desktops()}
        self.problem, self.not_set_up = "", ()
        answering = set()
        for desktop in listed.values():
            host = desktop.public_ip or desktop.private_ip
            if desktop.state != "running" or not host:
                continue
            if (
                self.route == "ssm"
                or self.dcv_ready(desktop.instance_id)
                or self.backend.dcv_answers(host, self.port)
            ):
                answering.add(desktop.instance_id)
        with self._lock:
            new_kinds = {(d.instance_type, d.platform) for d in listed.values()} - set(self._prices)
            self._prices.update(dict.fromkeys(new_kinds))  # None until looked up
        for kind in new_kinds:  # the Pricing API may be slow: not on the poll
            self._actions.submit(self._look_up_price, kind)
        with self._lock:
            self._desktops, self._dcv_up = listed, answering
        self._notify()
        return any(
            d.state in _CHANGING or (d.state == "running" and d.instance_id not in answering)
            for d in listed.values()
        )

    def _look_up_price(self, kind: tuple[str, str]) -> None:
        instance_type, platform = kind
        system = "Windows" if platform == "windows" else "Linux"
        price = self.backend.hourly_price(instance_type, system)
        with self._lock:
            self._prices[kind] = price
        if price is not None:
            self._notify()

    def _notify(self) -> None:
        self._listeners.call(what="an instances listener")
