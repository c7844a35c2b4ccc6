"""What JupyterLab's Desktops panel asks the server for, apart from HTTP (rest.py holds the
handlers): the user's desktops as the widget's cards, the launcher form checked by the widget's
rules, and the actions, through one SessionManager per Jupyter server.

One manager per server process, made on the API's first use from the settings the kernels
read: one poll loop (one `squeue` per round for every desktop) however many browser tabs list
them. It follows the desktops it launched and adopts the user's others (from a notebook, the
CLI, a script) by their job comment, at most once per slow poll while someone lists them.
Cards and answers never hold a secret: Connect answers the proxy's entry path, where the
server adds what the desktop needs.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import fields
from functools import partial
from math import inf
from typing import Any

from ..access.instructions import through_jupyter
from ..desktops.manager import SessionManager
from ..desktops.presets import find, saved_values
from ..desktops.request import InvalidRequest, LaunchRequest
from ..desktops.session import DesktopSession, SessionState
from ..desktops.slurm import Partition, SlurmError
from ..desktops.slurm_options import SlurmChoices
from ..managers import session_manager
from ..settings import DesktopSettings, load_settings
from ..ui.desktop_cards import actions_for, card_for
from ..ui.launcher import (
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
from ..ui.presets import (
    all_presets,
    chooser,
    locked_preset,
    relaunch_change,
    relaunch_form,
    still_chosen,
)

log = logging.getLogger(__name__)

# The partitions' state is re-read at most this often (seconds), for every browser together: the
# widget's pace (ui/desktop.py, PARTITIONS_REFRESH).
PARTITIONS_REFRESH = 90.0


class FormInvalid(Exception):
    """Fields of a launch that the form's rules refuse: field -> the error, named by its label."""

    def __init__(self, errors: dict[str, str], launcher: dict[str, Any]) -> None:
        self.errors = errors
        self.launcher = launcher
        self.field = next(iter(errors))
        super().__init__(errors[self.field])


class NotFound(Exception):
    """No desktop of this user has that id (another user's job is never one)."""


class NotAllowed(Exception):
    """The desktop does not offer that action now (ended, not ready yet)."""


def checked_form(
    raw: Mapping[str, Any], settings: DesktopSettings
) -> tuple[dict[str, Any], dict[str, str]]:
    """The launch values for the form's `raw` values on top of the site's defaults, and each bad
    field's error named by its label: the widget's rules (launcher.parse_field: LaunchRequest,
    then the site's bounds). `raw["preset"]` names the preset they sit on ("" or none: the
    site's defaults, default_preset included). A locked panel takes the site's values only, a
    locked preset its own."""
    errors: dict[str, str] = {}
    preset = None
    if raw.get("preset"):
        try:
            preset = settings.preset(str(raw["preset"]))
        except InvalidRequest as exc:
            errors["preset"] = str(exc)
        # A locked panel sits on the site's defaults (default_preset included), never on another.
        if (
            settings.panel_locked
            and preset is not None
            and find([preset], settings.default_preset) is None
        ):
            errors["preset"] = (
                f"Preset: {preset.name!r} cannot be chosen; the site fixed the form "
                "(c.DesktopSettings.panel_locked)"
            )
            preset = None
    defaults = settings.request(preset=preset.name if preset else None)
    baseline = {f.name: getattr(defaults, f.name) for f in fields(LaunchRequest)}
    values = dict(baseline)
    fixed = (
        "c.DesktopSettings.panel_locked"
        if settings.panel_locked
        else f"the preset {preset.name!r} is locked"
        if preset is not None and preset.locked
        else ""
    )
    for name in raw:
        if name == "preset":
            continue
        if name not in FIELD_NAMES:
            errors[name] = f"{name}: not a field of the launcher form; use {', '.join(FIELD_NAMES)}"
        else:
            values[name] = raw[name]
    bounds = settings.bounds()
    for name in FIELD_NAMES:
        parsed, error = parse_field(name, values[name], baseline, bounds)
        values[name] = parsed
        if error:
            errors[name] = error
        elif fixed and parsed != baseline[name]:
            errors[name] = (
                f"{LABELS[name]}: {parsed!r} cannot be chosen; the site fixed it to "
                f"{baseline[name]!r} ({fixed})"
            )
    return values, errors or combined_error(values)


class Desktops:
    """The server's desktops for the panel: thread-safe; the methods that may run a Slurm
    command (`partitions`, `settings`, `form`, `find`-ing an unknown id) block."""

    def __init__(
        self,
        load: Callable[[], DesktopSettings] = load_settings,
        make_manager: Callable[[DesktopSettings], SessionManager] = session_manager,
    ) -> None:
        self._load = load
        self._make_manager = make_manager
        self._lock = threading.Lock()
        self._settings: DesktopSettings | None = None
        self._manager: SessionManager | None = None
        self._rediscovered = -inf  # time.monotonic() of the last adoption round
        self._partitions_lock = threading.Lock()
        self._partitions: list[Partition] = []
        self._partitions_read = -inf
        self._partitions_message = ""
        self._choices: SlurmChoices | None = None
        # The last launch: when, what (a request, or Launch again of a desktop), its new card.
        self._submit_lock = threading.Lock()
        self._last_submit: tuple[float, object, dict[str, Any]] = (-inf, None, {})
        # A failed End, shown on its card until the desktop's state changes: key -> (state, words).
        self._card_errors: dict[str, tuple[str, str]] = {}

    def _ready(self) -> tuple[DesktopSettings, SessionManager]:
        with self._lock:
            if self._settings is None or self._manager is None:
                self._settings = self._load()
                self._manager = self._make_manager(self._settings)
            return self._settings, self._manager

    # -- reading ------------------------------------------------------------------------------

    def listing(self) -> dict[str, Any]:
        """Every desktop this server knows of, as cards, newest first (being submitted first)."""
        settings, manager = self._ready()
        self._adopt_if_due(manager, settings.slow_poll)
        sessions = sorted(
            manager.sessions(),
            key=lambda s: -int(s.job_id) if s.job_id.isdigit() else -inf,
        )
        partitions = self._partitions  # as last read: listing runs no sinfo
        return {
            "cards": [
                card_for(s, manager.access(s.key), self._error_of(s), partitions=partitions)
                for s in sessions
            ]
        }

    def _adopt_if_due(self, manager: SessionManager, every: float) -> None:
        """Adopt desktops launched elsewhere, on an action thread, at most once per `every` s."""
        with self._lock:
            if time.monotonic() - self._rediscovered < every:
                return
            self._rediscovered = time.monotonic()
        manager.rediscover_later().add_done_callback(_log_failure)

    def settings(self) -> dict[str, Any]:
        """What the form starts from: the site's defaults, locks and bounds, and the form."""
        settings, _ = self._ready()
        defaults, _ = checked_form({}, settings)
        return {
            "defaults": {name: defaults[name] for name in FIELD_NAMES},
            "locked": settings.panel_locked,
            "launcher_tile": settings.launcher_tile,
            "bounds": settings.bounds().describe(),
            "launcher": self.form({}),
        }

    def partitions(self) -> dict[str, Any]:
        """The partitions as the form labels them (what a desktop can expect on each now)."""
        launcher = self.form({})
        field = next(f for f in launcher["fields"] if f["name"] == "partition")
        return {"options": field["options"], "message": launcher["message"]}

    def form(self, raw: Mapping[str, Any], note: str = "") -> dict[str, Any]:
        """The launcher form for `raw` values, each error under its field, as the widget's;
        the preset chooser says which preset they still are (an empty `raw`: the default)."""
        settings, _ = self._ready()
        values, errors = checked_form(raw, settings)
        return self._launcher(
            settings, values, errors, raw.get("preset", "" if raw else None), note
        )

    def _launcher(
        self,
        settings: DesktopSettings,
        values: dict[str, Any],
        errors: dict[str, str],
        preset: Any = "",
        note: str = "",
        focus: str = "",
    ) -> dict[str, Any]:
        """The form; `preset`: the preset the values sit on (None: the default preset)."""
        partitions, message = self._partitions_now()
        presets, problems = all_presets(settings)
        wanted = settings.default_preset if preset is None else str(preset)
        chosen = still_chosen(settings, presets, wanted, values)
        locked = settings.panel_locked or locked_preset(presets, chosen)
        return {
            "fields": launcher_fields(
                values,
                {name: error for name, error in errors.items() if name in FIELD_NAMES},
                partitions,
                locked=locked,
                bounds=settings.bounds(),
                boot_seconds=settings.node_boot_seconds,
                choices=self._choices_now(),
            ),
            "locked": locked,
            "can_launch": not errors,
            "launch_blocker": launch_blocker(errors),
            "message": message,
            # No chooser on a locked panel: it launches the site's values only.
            "presets": None
            if settings.panel_locked
            else {**chooser(settings, presets, problems, chosen), "note": note},
            "focus": focus,
        }

    def save_preset(self, name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Save the form's `raw` values as the user's preset `name` (InvalidRequest says why
        not); the form, on it now."""
        settings, _ = self._ready()
        values, errors = checked_form(raw, settings)
        if errors:
            field = next(iter(errors))
            raise InvalidRequest(field, values.get(field), f"fix the form first: {errors[field]}")
        request = LaunchRequest(**values)
        saved = settings.preset_store().save(name, saved_values(request), settings.site_presets())
        return self.form({"preset": saved.name}, f"Saved your preset {saved.name!r}.")

    def delete_preset(self, name: str) -> dict[str, Any]:
        """Delete the user's preset `name` (NotFound if there is none); the form, on Custom."""
        settings, _ = self._ready()
        if not settings.preset_store().delete(name):
            raise NotFound(f"you have no preset called {name[:40]!r}; reload the form")
        return self.form({}, f"Deleted your preset {name!r}.")

    def relaunch(self, ident: str) -> dict[str, Any]:
        """*Launch again*: {"card"} of a new desktop with the same options; or, when its end
        says what to change or its options are not all known, {"values", "launcher"}: the
        form to open, filled with them, the field to change marked."""
        settings, manager = self._ready()
        session = self._offering(ident, "relaunch")
        partitions, _ = self._partitions_now()
        now, change = relaunch_change(settings, session, partitions)
        if now:
            request = session.request
            return {"card": self._once(("again", ident), lambda: manager.launch(request))}
        values, errors, note = relaunch_form(settings, session, change, LABELS)
        raw = {name: values[name] for name in FIELD_NAMES}
        form_values, _ = checked_form(raw, settings)
        focus = change.field if change else FIELD_NAMES[0]
        launcher = self._launcher(settings, form_values, errors, "", note, f"{focus}#{ident}")
        return {"values": raw, "launcher": launcher}

    def _choices_now(self) -> SlurmChoices | None:
        """The user's accounts, QOS and reservations (read every CHOICES_REFRESH at most); the
        last ones while Slurm does not answer (None: none read yet)."""
        _, manager = self._ready()
        with contextlib.suppress(SlurmError):
            self._choices = manager.choices(max_age=CHOICES_REFRESH)
        return self._choices

    def _partitions_now(self) -> tuple[list[Partition], str]:
        """The partitions, read again if the last sinfo is older than PARTITIONS_REFRESH."""
        _, manager = self._ready()
        with self._partitions_lock:
            if time.monotonic() - self._partitions_read >= PARTITIONS_REFRESH:
                self._partitions_read = time.monotonic()
                try:
                    self._partitions = manager.partitions(max_age=PARTITIONS_REFRESH)
                    self._partitions_message = ""
                except SlurmError as exc:
                    self._partitions_message = partitions_unread(
                        exc, bool(self._partitions), f"in {PARTITIONS_REFRESH:.0f} s"
                    )
            return self._partitions, self._partitions_message

    # -- acting -------------------------------------------------------------------------------

    def launch(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Submit a desktop with the form's values (FormInvalid names a bad field); its card."""
        settings, manager = self._ready()
        values, errors = checked_form(raw, settings)
        if not errors:
            try:
                request = LaunchRequest(**values)
                settings.bounds().check(request)
            except InvalidRequest as exc:
                errors = {exc.field: str(labelled(exc))}
        if errors:
            raise FormInvalid(errors, self._launcher(settings, values, errors))
        return self._once(request, lambda: manager.launch(request))

    def _once(self, what: object, launch: Callable[[], DesktopSession]) -> dict[str, Any]:
        """Launch and give the new desktop's card; but a double click (two POSTs of the same
        `what` within DOUBLE_CLICK) is one launch: the second gets the first's card, as the
        widget does."""
        with self._submit_lock:
            at, last, card = self._last_submit
            if what == last and time.monotonic() - at < DOUBLE_CLICK:
                return card
            card = card_for(launch())
            self._last_submit = (time.monotonic(), what, card)
            return card

    def end(self, ident: str) -> None:
        """End a desktop (scancel on the manager's thread); a failure shows on its card."""
        _, manager = self._ready()
        session = self._offering(ident, "end")
        manager.end(session.key).add_done_callback(partial(self._report_end, session.key))

    def dismiss(self, ident: str) -> None:
        """Forget an ended desktop: its card goes from every browser."""
        _, manager = self._ready()
        manager.forget(self._offering(ident, "dismiss").key)

    def check(self, ident: str) -> None:
        """Work a desktop's route out again (its card said what to fix)."""
        _, manager = self._ready()
        manager.route(self._offering(ident, "check").key)

    def connect_path(self, ident: str) -> str:
        """Where Connect goes, relative to the server's base URL: the proxy's entry for the job
        (no secret: the server adds what the desktop needs when the browser gets there)."""
        session = self.find(ident)
        if session.state != SessionState.READY:
            raise NotAllowed(
                f"desktop {session.job_id or ident} is {session.display_state}, not ready: "
                "connect once its card says Ready"
            )
        return through_jupyter(session.job_id).open_path

    def find(self, ident: str) -> DesktopSession:
        """This user's desktop by job id or launch key; an id this server does not follow yet
        is looked for in the queue once (a desktop just launched elsewhere)."""
        _, manager = self._ready()
        for attempt in range(2):
            found = next((s for s in manager.sessions() if ident in (s.key, s.job_id)), None)
            if found is not None:
                return found
            if attempt == 0:
                try:
                    manager.rediscover()
                except SlurmError as exc:
                    log.warning("dcv_widget: adopting desktops failed: %s", exc)
        raise NotFound(
            f"no desktop of yours has the id {ident[:40]!r} (an unknown job, another user's, or "
            "one dismissed already); refresh the Desktops panel"
        )

    def _offering(self, ident: str, action: str) -> DesktopSession:
        _, manager = self._ready()
        session = self.find(ident)
        if action not in actions_for(session, manager.access(session.key)):
            raise NotAllowed(
                f"desktop {session.job_id or ident} is {session.display_state}: it offers no "
                f"{action} now; refresh the Desktops panel"
            )
        return session

    def _report_end(self, key: str, future: Future[None]) -> None:
        exc = future.exception()
        if exc is None:
            return
        _, manager = self._ready()
        session = next((s for s in manager.sessions() if s.key == key), None)
        if session is not None:
            message = f"End failed: {exc}. Try again, or scancel the job."
            self._card_errors[key] = (session.state.value, message)

    def _error_of(self, session: DesktopSession) -> str:
        state, message = self._card_errors.get(session.key, ("", ""))
        return message if state == session.state.value else ""


def _log_failure(future: Future[Any]) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("dcv_widget: adopting desktops failed: %s", exc)
