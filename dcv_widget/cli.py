"""`dcv-desktop`: the same desktops from a terminal (launch, list, connect, end).

dcv-desktop launch --partition dcv --time 2:00:00     waits until ready, prints the job id
                                                      (or why it will not start: see _launch)
dcv-desktop list                                      this user's live desktops
dcv-desktop connect 1234                              prints the URL that opens it (through
                                                      your running JupyterLab on its route)
dcv-desktop connect 1234 --resize scale --quality 2   noVNC's display choice (the card's Display)
dcv-desktop end 1234
dcv-desktop launch --preset GPU --time 2:00:00        a preset (the site's or yours), flags on top
dcv-desktop presets list | save NAME --cpus 4 … | delete NAME     your own presets
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from dataclasses import asdict
from typing import Any

from .access.instructions import LABELS
from .api import DesktopFailed, DesktopHandle, DesktopStuck, launch, sessions
from .desktops.display import NAMES as DISPLAY_NAMES
from .desktops.display import DisplayChoice
from .desktops.manager import SessionManager
from .desktops.presets import saved_values
from .desktops.request import InvalidRequest
from .desktops.session import ACTIVE_STATES, DesktopSession, SessionState, asked
from .desktops.session_file import SessionFileError
from .desktops.slurm import SlurmError
from .managers import session_manager
from .settings import load_settings
from .transport.base import TransportError
from .ui.desktop_cards import expected_words
from .ui.launcher import chosen_partition, fit_warnings

# Launch options the command line offers, with their types; defaults come from the settings.
_OPTIONS: dict[str, type] = {
    "partition": str,
    "time": str,
    "cpus": int,
    "memory": str,
    "gpus": int,
    "account": str,
    "engine": str,
    "geometry": str,
    "idle_timeout": int,
    "access": str,
    "qos": str,
    "reservation": str,
    "constraint": str,
    "gpu_type": str,
    "exclusive": bool,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dcv-desktop", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("launch", help="submit a desktop and wait until it is ready")
    _add_options(start)
    start.add_argument("--no-wait", action="store_true", help="return once submitted")
    start.add_argument("--timeout", type=float, default=900, help="seconds to wait for ready")
    commands.add_parser("list", help="list this user's live desktops")
    connect = commands.add_parser("connect", help="print the URL that opens a desktop")
    connect.add_argument("job_id")
    # noVNC's display choice, as the card's Display control offers it (checked by DisplayChoice).
    connect.add_argument("--resize", help="novnc: remote (the default), scale or off")
    connect.add_argument("--quality", help="novnc: 0 (lowest) to 9 (best)")
    connect.add_argument("--compression", help="novnc: 0 (none) to 9 (most)")
    end = commands.add_parser("end", help="end a desktop (cancel its job)")
    end.add_argument("job_id")
    presets = commands.add_parser("presets", help="list, save or delete launch presets")
    acts = presets.add_subparsers(dest="act", required=True)
    acts.add_parser("list", help="the site's presets and yours")
    save = acts.add_parser("save", help="save your own preset (the options given, on the defaults)")
    save.add_argument("name")
    _add_options(save)
    delete = acts.add_parser("delete", help="delete your own preset")
    delete.add_argument("name")
    return parser


def _add_options(parser: argparse.ArgumentParser) -> None:
    """--partition, --time, …, and --preset: the launch options, defaults from the settings."""
    parser.add_argument("--preset", help="start from this preset (`dcv-desktop presets list`)")
    for name, kind in _OPTIONS.items():
        flag = f"--{name.replace('_', '-')}"
        if kind is bool:  # --exclusive / --no-exclusive; neither: the settings' default
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction)
        else:
            parser.add_argument(flag, dest=name, type=kind)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The launch options given on the command line, the preset's name included."""
    names = ["preset", *_OPTIONS]
    return {k: getattr(args, k) for k in names if getattr(args, k) is not None}


def _presets(args: argparse.Namespace) -> None:
    """`dcv-desktop presets …`: the site's presets are listed only; the user's own are saved
    in their Jupyter data dir (docs/configuration.md, Presets)."""
    settings = load_settings()
    store = settings.preset_store()
    if args.act == "list":
        mine, problems = store.load()
        for problem in problems:
            print(f"dcv-desktop: warning: {problem}", file=sys.stderr)
        print(f"{'NAME':<20} {'WHOSE':<12} {'ASKS FOR':<28} DESCRIPTION")
        for preset in [*settings.site_presets(), *mine]:
            whose = "yours" if preset.mine else "site, locked" if preset.locked else "site"
            what = asked(preset.request(settings.base_request))
            print(f"{preset.name:<20} {whose:<12} {what:<28} {preset.description}")
    elif args.act == "save":
        options = _options(args)
        values = saved_values(settings.request(**options))
        saved = store.save(args.name, values, settings.site_presets())
        print(f"saved your preset {saved.name!r} in {store.path}")
    elif not store.delete(args.name):
        raise LookupError(f"you have no preset called {args.name!r}; `dcv-desktop presets list`")
    else:
        print(f"deleted your preset {args.name!r}")


def _find(manager: SessionManager, job_id: str) -> DesktopHandle:
    for handle in sessions(manager=manager):
        if handle.job_id == job_id:
            return handle
    raise LookupError(f"no live desktop with job id {job_id}; `dcv-desktop list` shows yours")


def _run(args: argparse.Namespace) -> int:
    manager = session_manager(load_settings())
    if args.command == "presets":
        _presets(args)
    elif args.command == "launch":
        options = _options(args)
        _warn_unfit(manager, options)
        handle = launch(manager=manager, **options)
        if args.no_wait:
            manager.wait_for(handle.key, lambda s: bool(s.job_id) or not s.active, 120)
        else:
            _launch_wait(handle, args.timeout)
        print(f"job {handle.job_id or '-'}: {handle.state.value}: {handle.session.detail}")
        if handle.job_id:
            print(f"open it with: dcv-desktop connect {handle.job_id}")
    elif args.command == "list":
        print(f"{'JOB':>8}  {'STATE':<10} {'NODE':<16} {'LEFT':>10}  DETAIL")
        for handle in sessions(manager=manager):
            s = handle.session
            node = s.node or "-"
            left = f"{max(0, int(s.ends_at - time.time())) // 60} min" if s.ends_at else "-"
            print(f"{s.job_id:>8}  {s.display_state:<10} {node:<16} {left:>10}  {s.detail}")
    elif args.command == "connect":
        given = {name: getattr(args, name) for name in DISPLAY_NAMES}
        display = DisplayChoice.from_params(given) if any(given.values()) else None
        handle = _find(manager, args.job_id)
        if handle.session.request.access == "jupyter":
            _connect_through_jupyter(handle, display)
            return 0
        url = handle.connect_url(display=display)
        route = handle.access()
        if route.commands:  # on stderr: stdout stays the URL alone, for scripts
            print(f"{route.label}: {route.instructions}", file=sys.stderr)
            print(f"  {route.commands[0].text}", file=sys.stderr)
        print(url, flush=True)
        if route.route == "tunnel":  # the tunnel lives in this process: keep it open
            print("The tunnel is open while this runs; Ctrl-C closes it.", file=sys.stderr)
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
    elif args.command == "end":
        handle = _find(manager, args.job_id)
        handle.end()
        print(f"job {handle.job_id}: {handle.session.outcome}")
    return 0


def _warn_unfit(manager: SessionManager, options: dict[str, Any]) -> None:
    """Say on stderr, before submitting, what no node of the partition could hold (one sinfo),
    as the form does under its fields. A warning: sinfo may not show every node a site can
    bring up; if Slurm agrees, the wait below stops at once with its reason."""
    values = asdict(load_settings().request(**options))
    try:
        partition = chosen_partition(values["partition"], manager.slurm.partitions())
    except SlurmError:
        return  # the launch itself says what is wrong with Slurm
    for warning in fit_warnings(partition, values).values():
        print(f"dcv-desktop: warning: {warning}", file=sys.stderr, flush=True)


def _launch_wait(handle: DesktopHandle, timeout: float) -> None:
    """Wait until ready, saying on stderr what the queue says as it changes (its reason, Slurm's
    expected start). A desktop that will not start by itself stops the wait: one that can never
    start as asked is ended (nothing could start it, and nobody else follows it), one waiting
    for someone (an admin, a hold) is left queued; either way the error says why and what to
    change."""
    deadline = time.monotonic() + timeout
    said = ""

    def news(s: DesktopSession) -> bool:
        return _progress(s) != said or s.state not in ACTIVE_STATES or s.stuck

    while True:
        session = handle.manager.wait_for(handle.key, news, max(0.0, deadline - time.monotonic()))
        if _progress(session) != said:
            said = _progress(session)
            print(said, file=sys.stderr, flush=True)
        try:
            if session.state not in ACTIVE_STATES or session.stuck:
                handle.wait_ready(timeout=0)
                return
        except DesktopStuck as stuck:
            if not stuck.never:
                raise RuntimeError(
                    f"{stuck}. It stays queued in case that changes; `dcv-desktop end "
                    f"{handle.job_id}` ends it"
                ) from None
            handle.end()
            raise RuntimeError(f"{stuck}. Ended it (job {handle.job_id})") from None


def _progress(session: DesktopSession) -> str:
    """One line of a launch's progress: the state, what holds it, Slurm's expected start."""
    line = f"job {session.job_id or '-'}: {session.display_state}: {session.detail}"
    expected = expected_words(session)
    return f"{line}; {expected}" if expected else line


def _connect_through_jupyter(handle: DesktopHandle, display: DisplayChoice | None) -> None:
    """The jupyter route's URL: this user's running JupyterLab that relays desktops opens it
    (with noVNC's `display` choice in its query: not a secret)."""
    from .server.discovery import desktop_server_url

    if handle.state != SessionState.READY:
        raise RuntimeError(f"desktop {handle.job_id} is {handle.state.value}, not ready yet")
    server = desktop_server_url()
    if not server:
        raise LookupError(
            f"desktop {handle.job_id} opens through JupyterLab (access 'jupyter'), and no Jupyter "
            "server of yours with dcv_widget's server extension is running here: start "
            "JupyterLab and click Connect on the desktop's card, or run this again; for a "
            "desktop without JupyterLab, launch with --access direct or --access ssh"
        )
    print(f"{LABELS['jupyter']}: open this where you are logged in to it", file=sys.stderr)
    query = f"?{display.query()}" if display else ""
    print(f"{server}dcv-widget/open/{handle.job_id}{query}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except InvalidRequest as exc:
        print(f"dcv-desktop: {exc}", file=sys.stderr)
        return 2
    except (
        DesktopFailed,
        SlurmError,
        TransportError,
        SessionFileError,
        OSError,
        LookupError,
        TimeoutError,
        RuntimeError,
    ) as exc:
        print(f"dcv-desktop: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
