"""The notebook widget: a launcher form and one card per desktop, as synced data.

The view (js/src/widget.ts) renders `launcher` and `cards` and sends messages:
`set` (a form field changed), `launch`, `connect`, `end`, `dismiss`, `relaunch` (Launch
again), `preset` / `save_preset` / `delete_preset` (the chooser above the fields), `shown` (the
form is on screen, so its partition labels are kept fresh). The kernel owns every
decision: validation, which actions exist, what a card says (card_widget.py: the connect URL
is never synced).
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import Future
from dataclasses import fields
from functools import partial
from math import inf
from typing import Any

from ..common.poll_loop import PollLoop
from ..desktops.display import DisplayChoice
from ..desktops.manager import SessionManager
from ..desktops.presets import find, saved_values
from ..desktops.request import InvalidRequest, LaunchRequest
from ..desktops.session import DesktopSession
from ..desktops.slurm import Partition, SlurmError
from ..desktops.slurm_options import SlurmChoices
from ..managers import default_manager
from ..settings import DesktopSettings, load_settings
from .card_widget import CardWidget
from .desktop_cards import card_for
from .launcher import (
    CHOICES_REFRESH,
    DOUBLE_CLICK,
    FIELD_NAMES,
    LABELS,
    combined_error,
    labelled,
    launch_blocker,
    launcher_fields,
    parse_field,
    partitions_unread,
)
from .presets import (
    all_presets,
    chooser,
    locked_preset,
    preset_values,
    relaunch_change,
    relaunch_form,
    still_chosen,
)

# While a view shows the form, its partition labels are re-read this often (seconds): one sinfo
# (about 2 slurmctld RPCs) per round for every widget of the kernel, however many views they
# have. With a queued desktop's squeue every 30 s that keeps a kernel under 8 RPCs a minute.
PARTITIONS_REFRESH = 90.0
# A view showing the form says so every 20 s (js/src/launcher.ts, SHOWN_EVERY_MS) while its page
# is visible; the form counts as shown this long (seconds) after the last word. A closed or
# hidden page stops the refresh within this time.
SHOWN_LEASE = 50.0


class Desktop(CardWidget):
    """Remote desktops on the cluster: a launcher form, then a card per desktop to follow it
    until ready, *Connect*, *End*.

    Keyword arguments are launch options (partition, time, cpus, memory, gpus, account, engine,
    geometry, idle_timeout, access, qos, reservation, constraint, gpu_type, exclusive) on top of
    the site's defaults (`DesktopSettings`); they are validated here, so a bad value fails in
    the cell that set it; `preset="GPU"` starts from a preset (the site's or the user's;
    default: `default_preset`), the options on top. The form offers the presets first, and
    saves and deletes the user's own. `locked=True` shows the values read-only: students only
    click *Launch*. Cards show every live desktop of the user (after a kernel restart too:
    `attach`), this notebook's first, newest first; ended ones stay until dismissed.
    """

    def __init__(
        self,
        *,
        manager: SessionManager | None = None,
        locked: bool = False,
        attach: bool = True,
        settings: DesktopSettings | None = None,
        preset: str | None = None,
        **launch_options: Any,
    ) -> None:
        self._settings = settings or load_settings()
        self._bounds = self._settings.bounds()
        self._request = self._settings.request(preset=preset, **launch_options)
        self._presets, self._preset_problems = all_presets(self._settings)
        self._manager = manager or default_manager()
        self._locked = locked
        self._values: dict[str, Any] = {
            f.name: getattr(self._request, f.name) for f in fields(LaunchRequest)
        }
        self._baseline = dict(self._values)
        self._errors: dict[str, str] = {}
        self._message = ""
        # The preset the form holds ("": Custom), and what the last preset action or Launch
        # again has to say above the form.
        chosen = self._settings.default_preset if preset is None else preset
        self._preset = still_chosen(self._settings, self._presets, chosen, self._values)
        self._note = ""
        # The field Launch again marked, and a counter so each click moves the focus there.
        self._focus = ""
        self._focus_count = 0
        self._partitions: list[Partition] = []
        self._choices: SlurmChoices | None = None  # None until read
        self._partitions_read = 0.0  # time.monotonic() of the last sinfo
        self._shown_at = -SHOWN_LEASE  # time.monotonic() of the last "shown" from a view
        self._partitions_loop = PollLoop(
            "dcv-widget partitions", self._partitions_round, self._shown
        )
        # The last Launch or Launch again click: when, and what it launched (see DOUBLE_CLICK).
        self._last_launch: tuple[float, Any] = (0.0, None)
        # A failed Connect or End, shown on its card until the desktop's state changes:
        # key -> (the state it happened in, the message).
        self._card_errors: dict[str, tuple[str, str]] = {}
        # Re-entrant: a trait observer of the user's may launch or dismiss from inside an update.
        self._sync_lock = threading.RLock()
        super().__init__()
        self._refresh()
        self._unsubscribe = self._manager.subscribe(lambda _session: self._refresh_cards())
        self.on_msg(self._on_message)
        self._manager.run_later(self._read_partitions)
        if attach:
            self._manager.rediscover_later().add_done_callback(lambda _: self._refresh_cards())

    @classmethod
    def from_config(cls, **kwargs: Any) -> Desktop:
        """The site's defaults (Jupyter config files), locked: a one-line cell for a class."""
        return cls(locked=True, **kwargs)

    # -- what a click does; also callable from code ---------------------------------------

    def launch(self) -> DesktopSession:
        """Submit a desktop with the form's values (validated again here, bounds included); a
        bad one raises InvalidRequest naming its field as the form labels it, shown there too."""
        try:
            request = LaunchRequest(**self._values)
            self._bounds.check(request)
        except InvalidRequest as exc:
            error = labelled(exc)
            self._errors[exc.field] = str(error)
            self._refresh()
            raise error from None
        session = self._manager.launch(request)
        self._refresh()
        return session

    def relaunch(self, key: str) -> DesktopSession | None:
        """*Launch again*: a new desktop with the same options, or, when the end says what to
        change (relaunch.py) or the options are not all known (adopted), the form filled with
        them and the field to change marked (None then)."""
        session = self._manager.get(key)
        now, change = relaunch_change(self._settings, session, self._partitions)
        if now:
            launched = self._manager.launch(session.request)
            self._refresh()
            return launched
        self._values, self._errors, self._note = relaunch_form(
            self._settings, session, change, LABELS
        )
        self._baseline = dict(self._values)
        self._preset = ""
        self._focus_count += 1
        self._focus = f"{change.field if change else FIELD_NAMES[0]}#{self._focus_count}"
        self._refresh()
        return None

    def end(self, key: str) -> None:
        self._manager.end(key).add_done_callback(partial(self._report, key))

    def dismiss(self, key: str) -> None:
        """Forget an ended desktop: its card goes from every widget of this kernel."""
        self._manager.forget(key)

    def close(self) -> None:
        self._unsubscribe()
        super().close()

    # -- messages from the view -------------------------------------------------------------

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        action = content.get("action")
        key = str(content.get("key", ""))
        allowed = self._allowed(key)
        if action == "set" and not self._fields_locked():
            self._set_field(str(content.get("field", "")), content.get("value"))
        elif action in ("preset", "save_preset", "delete_preset") and not self._locked:
            self._preset_action(action, str(content.get("name", "")))
        elif action == "relaunch" and "relaunch" in allowed:
            if self._double_click(("relaunch", key)):
                return
            with contextlib.suppress(InvalidRequest):  # shown in the form
                self.relaunch(key)
        elif action == "launch" and self.launcher.get("can_launch"):
            if self._double_click(dict(self._values)):
                return
            with contextlib.suppress(InvalidRequest):  # shown inline by launch()
                self.launch()
        elif action == "connect":
            request = str(content.get("request", ""))
            if "connect" in allowed:
                display = content.get("display")
                try:
                    # The browser's choice for this one Connect (not synced: js/src/display.ts).
                    shown = (
                        DisplayChoice.from_params(display) if isinstance(display, dict) else None
                    )
                except InvalidRequest as exc:
                    self._card_error(key, f"Connect failed: display {exc}; choose again")
                    self.send({"event": "open-failed", "request": request})
                    return
                future = self._manager.connect_url(key, shown)
                future.add_done_callback(partial(self._send_url, key, request))
            else:
                self._send_url(key, request, None)
        elif action == "shown":
            self._shown_at = time.monotonic()
            self._partitions_loop.ensure_running()
        elif action == "check" and "check" in allowed:
            self._manager.route(key)  # the card follows when the route is worked out again
        elif action == "end" and "end" in allowed:
            self.end(key)
        elif action == "dismiss" and "dismiss" in allowed:
            self.dismiss(key)

    def _double_click(self, what: Any) -> bool:
        """A double click is one launch: the same Launch (its values) or Launch again (its
        desktop) clicked again within DOUBLE_CLICK seconds; else this click is the last."""
        clicked = (time.monotonic(), what)
        last_time, last_what = self._last_launch
        if clicked[0] - last_time < DOUBLE_CLICK and what == last_what:
            return True
        self._last_launch = clicked
        return False

    def _fields_locked(self) -> bool:
        """Whether the form's fields are read-only: a locked widget, or a locked preset."""
        return self._locked or locked_preset(self._presets, self._preset)

    def _preset_action(self, action: str, name: str) -> None:
        """Choose a preset ("" for Custom: the values stay, free to edit), save the form's
        values as the user's preset `name`, or delete the user's preset `name`."""
        self._note = ""
        if action == "preset":
            preset = find(self._presets, name) if name else None
            if preset is not None:
                self._values = preset_values(self._settings, preset)
                self._baseline = dict(self._values)
                self._errors = {}
            self._preset = preset.name if preset else ""
        elif action == "save_preset":
            try:
                request = LaunchRequest(**self._values)
                site = self._settings.site_presets()
                saved = self._settings.preset_store().save(name, saved_values(request), site)
            except InvalidRequest as exc:
                self._note = f"Not saved: {exc}"
            else:
                self._presets, self._preset_problems = all_presets(self._settings)
                self._preset = saved.name
                self._note = f"Saved your preset {saved.name!r}."
        elif action == "delete_preset":
            if self._settings.preset_store().delete(name):
                self._note = f"Deleted your preset {name!r}."
            self._presets, self._preset_problems = all_presets(self._settings)
            self._preset = still_chosen(self._settings, self._presets, self._preset, self._values)
        self._refresh()

    def _set_field(self, name: str, value: Any) -> None:
        if name not in self._values:
            return
        self._values[name] = value
        # Every field is checked on its own against the valid values the widget started with,
        # so one bad field never hides another's error.
        self._errors = {}
        for field_name in FIELD_NAMES:
            parsed, error = parse_field(
                field_name, self._values[field_name], self._baseline, self._bounds
            )
            self._values[field_name] = parsed
            if error:
                self._errors[field_name] = error
        self._errors = self._errors or combined_error(self._values)
        self._preset = still_chosen(self._settings, self._presets, self._preset, self._values)
        self._note = ""
        self._refresh()

    def _report(self, key: str, future: Future[None]) -> None:
        exc = future.exception()
        if exc is not None:
            self._card_error(key, f"End failed: {exc}. Try again, or scancel the job.")

    def _card_error(self, key: str, message: str) -> None:
        session = next((s for s in self._manager.sessions() if s.key == key), None)
        if session is not None:
            self._card_errors[key] = (session.state.value, message)
            self._refresh_cards()

    def _shown(self) -> bool:
        """A view said lately that it shows the form (and the widget is not closed)."""
        return time.monotonic() - self._shown_at < SHOWN_LEASE and self.comm is not None

    def _partitions_round(self) -> float:
        """One round of the refresh while the form is shown: sinfo if the last is old enough."""
        wait = PARTITIONS_REFRESH - (time.monotonic() - self._partitions_read)
        if wait > 0:
            return wait
        self._read_partitions()
        return PARTITIONS_REFRESH

    def _read_partitions(self) -> None:
        """One sinfo: what a desktop can expect on each partition, or why that is not known."""
        self._partitions_read = time.monotonic()
        try:
            self._partitions = self._manager.partitions(max_age=PARTITIONS_REFRESH)
            self._message = ""
        except SlurmError as exc:
            self._message = partitions_unread(
                exc,
                bool(self._partitions),
                f"every {PARTITIONS_REFRESH:.0f} s while this form is shown",
            )
        # The user's accounts, QOS and reservations: read every CHOICES_REFRESH at most; while
        # Slurm does not answer, the last ones stay (the message above says Slurm is away).
        with contextlib.suppress(SlurmError):
            self._choices = self._manager.choices(max_age=CHOICES_REFRESH)
        self._refresh()

    # -- state for the view -----------------------------------------------------------------

    def _refresh(self) -> None:
        with self._sync_lock:
            self.launcher = {
                "fields": launcher_fields(
                    self._values,
                    self._errors,
                    self._partitions,
                    locked=self._fields_locked(),
                    bounds=self._bounds,
                    boot_seconds=self._settings.node_boot_seconds,
                    choices=self._choices,
                ),
                "locked": self._fields_locked(),
                "can_launch": not self._errors,
                "launch_blocker": launch_blocker(self._errors),
                "message": self._message,
                # No chooser on a locked widget: it launches its values only.
                "presets": None
                if self._locked
                else {
                    **chooser(self._settings, self._presets, self._preset_problems, self._preset),
                    "note": self._note,
                },
                "focus": self._focus,
            }
        self._refresh_cards()

    def _refresh_cards(self) -> None:
        with self._sync_lock:
            # This notebook's desktops (launched here, or before a kernel restart), then the
            # user's others (the front-end shows them apart); newest first by job id, the
            # same after a re-attach (the manager lists them in the order it learnt of them).
            origin = self._manager.origin
            sessions = sorted(
                self._manager.sessions(),
                key=lambda s: (s.origin != origin, -int(s.job_id) if s.job_id.isdigit() else -inf),
            )
            cards = [
                card_for(
                    s,
                    self._manager.access(s.key),
                    self._error_of(s),
                    elsewhere=s.origin != origin,
                    boot_seconds=self._settings.node_boot_seconds,
                    partitions=self._partitions,
                )
                for s in sessions
            ]
            with self.hold_sync():
                self._show_cards(cards)

    def _error_of(self, session: DesktopSession) -> str:
        """The card's error, while the desktop is still in the state it happened in."""
        state, message = self._card_errors.get(session.key, ("", ""))
        return message if state == session.state.value else ""
