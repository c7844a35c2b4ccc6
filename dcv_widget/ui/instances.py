"""`Instances()`: the second seed's managed DCV desktops (stand-alone EC2 instances) in a
notebook, drawn by the same view as the Slurm desktops: a launch form (launch template,
instance type, name), then a card per instance with Connect, Start, Stop, Reboot, Terminate.

The view sends `set`, `launch`, `connect` and one message per action; the kernel decides which
actions a card offers and ignores any other.
"""

from __future__ import annotations

import getpass
import threading
from concurrent.futures import Future
from functools import partial
from typing import Any

from ..access.aws import AwsNotSetUp
from ..instances.ec2 import INSTANCE_TYPE, PLAIN, TEMPLATE_ID, TEMPLATE_NAME
from ..instances.manager import ACTIONS, InstancesManager
from ..managers import instances_manager
from ..settings import InstanceSettings, load_instance_settings
from .card_widget import CardWidget
from .instance_cards import instance_card, panel_problem

_FIELDS = (
    ("template", "Launch template", "id lt-… or name"),
    ("instance_type", "Instance type", "empty: the template's"),
    ("name", "Name", "shown in the EC2 console"),
)


def field_error(name: str, value: str) -> str:
    """Why a launch form value is refused ("" when it is fine); names the field by its label."""
    if name == "template" and not (TEMPLATE_ID.fullmatch(value) or TEMPLATE_NAME.fullmatch(value)):
        return (
            "Launch template: give a launch template id (lt-…) or name "
            "(or set c.InstanceSettings.launch_template)"
        )
    if name == "instance_type" and value and not INSTANCE_TYPE.fullmatch(value):
        return f"Instance type: {value!r} is not an instance type such as g4dn.xlarge"
    if name == "name" and value and not (len(value) <= 64 and PLAIN.fullmatch(value)):
        return "Name: use at most 64 letters, digits, spaces and _ . : / = + @ -"
    return ""


class Instances(CardWidget):
    """Your stand-alone DCV EC2 instances (running, stopped, terminated) as cards, and a form
    to launch more from a launch template. Keyword arguments override `InstanceSettings`:
    `template`, `instance_type`, `name`. `manager` (an InstancesManager) does what the buttons
    do, for code: `manager.act(instance_id, "stop")`, `manager.desktops()`."""

    def __init__(
        self,
        *,
        manager: InstancesManager | None = None,
        settings: InstanceSettings | None = None,
        **values: str,
    ) -> None:
        self._settings = settings or load_instance_settings()
        self._owns_manager = manager is None  # closed with this widget
        self.manager = manager or instances_manager(
            self._settings, self._settings.owner or getpass.getuser()
        )
        self._values = {
            "template": self._settings.launch_template,
            "instance_type": self._settings.instance_type,
            "name": "",
        }
        unknown = set(values) - set(self._values)
        if unknown:
            raise ValueError(
                f"{sorted(unknown)[0]}: unknown option; use template, instance_type or name"
            )
        self._values.update(values)
        self._policy = ""
        self._idle_action = ""  # the installed idle policy's action, once read
        self._launching = False  # a launch is under way: another click is the same one
        self._message = ""
        self._card_errors: dict[str, tuple[str, str]] = {}
        self._sync_lock = threading.RLock()
        super().__init__()
        self._refresh()
        self._unsubscribe = self.manager.subscribe(self._refresh)
        self.on_msg(self._on_message)
        self.manager.start()
        self._read_policy()

    def launch(self) -> Future[Any]:
        """Launch an instance with the form's values (checked again here), with the idle tag
        and the idle policy's shutdown behaviour when the site sets an idle tag value."""
        errors = [e for e in (field_error(n, self._values[n]) for n, _, _ in _FIELDS) if e]
        if errors:
            raise ValueError(errors[0])
        options: dict[str, Any] = {
            "instance_type": self._values["instance_type"],
            "name": self._values["name"],
            "version": self._settings.launch_template_version,
            "security_group_ids": tuple(self._settings.security_group_ids),
        }
        if self._settings.subnet_id:
            options["subnet_id"] = self._settings.subnet_id
        if self._settings.idle_value:
            options["extra_tags"] = ((self._settings.idle_tag, self._settings.idle_value),)
            # EC2 stops or terminates an instance that shuts itself down as this says.
            options["shutdown_behavior"] = self._idle_action or "stop"
        self._launching = True
        self._message = "Launching…"
        self._refresh()
        future = self.manager.launch(self._values["template"], **options)
        future.add_done_callback(self._launched)
        return future

    def close(self) -> None:
        self._unsubscribe()
        if self._owns_manager:
            self.manager.close()
        super().close()

    # -- messages from the view -------------------------------------------------------------

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        action = str(content.get("action", ""))
        key = str(content.get("key", ""))
        if action == "set":
            name = str(content.get("field", ""))
            if name in self._values:
                self._values[name] = str(content.get("value", "")).strip()
                self._refresh()
        elif action == "launch" and not self._launching:
            try:
                self.launch()
            except ValueError as exc:
                self._message = str(exc)
                self._refresh()
        elif action == "connect":
            request = str(content.get("request", ""))
            if "connect" in self._allowed(key):
                future = self.manager.connect_url(key)
                future.add_done_callback(partial(self._send_url, key, request))
            else:
                self._send_url(key, request, None)
        elif action in ACTIONS and action in self._allowed(key):
            self.manager.act(key, action).add_done_callback(partial(self._acted, key, action))

    def _launched(self, future: Future[Any]) -> None:
        self._launching = False
        exc = future.exception()
        self._message = f"Launch failed: {exc}" if exc else ""
        self._refresh()

    def _acted(self, key: str, action: str, future: Future[None]) -> None:
        exc = future.exception()
        if exc is not None:
            self._card_error(key, f"{action.capitalize()} failed: {exc}")

    def _card_error(self, key: str, message: str) -> None:
        desktop = next((d for d in self.manager.desktops() if d.instance_id == key), None)
        self._card_errors[key] = (desktop.state if desktop else "", message)
        self._refresh()

    def _read_policy(self) -> None:
        """The idle policy in effect for the instances' idle tag, read once, off this thread."""
        tag, value = self._settings.idle_tag, self._settings.idle_value
        if not value:
            return

        def read() -> str:
            from ..instances.idle_policy import idle_policy

            backend = self.manager.backend
            policy = idle_policy(tag, value, aws=backend.aws, region=backend.region)
            if policy is None:
                return f"No idle policy is installed for {tag}={value}: idle ones keep running."
            self._idle_action = policy.action
            return policy.describe()

        def done(future: Future[str]) -> None:
            exc = future.exception()
            if isinstance(exc, AwsNotSetUp):  # the panel's box says what to set
                return
            self._policy = f"Could not read the idle policy: {exc}" if exc else future.result()
            self._refresh()

        self.manager.run_later(read).add_done_callback(done)

    # -- state for the view -----------------------------------------------------------------

    def _refresh(self) -> None:
        with self._sync_lock:
            errors = {n: field_error(n, self._values[n]) for n, _, _ in _FIELDS}
            not_set_up = self.manager.not_set_up
            self.launcher = {
                "fields": [
                    {
                        "name": n,
                        "label": label,
                        "kind": "text",
                        "value": self._values[n],
                        "options": [],
                        "error": errors[n],
                        "hint": hint,
                    }
                    for n, label, hint in _FIELDS
                ],
                "heading": "New DCV instance",
                "locked": False,
                "can_launch": not any(errors.values()) and not self._launching and not not_set_up,
                "message": "\n".join(m for m in (self._message, self._policy) if m),
                "problem": panel_problem(not_set_up, self.manager.problem),
            }
            cards = [self._card(d) for d in self.manager.desktops()]
            self._show_cards(cards)

    def _card(self, desktop: Any) -> dict[str, Any]:
        key = desktop.instance_id
        state, error = self._card_errors.get(key, ("", ""))
        return instance_card(
            desktop,
            dcv_ready=self.manager.dcv_ready(key),
            access=self.manager.access(key),
            hourly=self.manager.hourly_price(desktop),
            busy=self.manager.busy(key),
            error=error if state == desktop.state else "",
        )
