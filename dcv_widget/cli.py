"""`dcv-desktop`: the same desktops from a terminal (launch, list, connect, end).

dcv-desktop launch --partition dcv --time 2:00:00     waits until ready, prints the job id
dcv-desktop list                                      this user's live desktops
dcv-desktop connect 1234                              prints the URL that opens it (through
                                                      your running JupyterLab on its route)
dcv-desktop end 1234
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from typing import Any

from .access.instructions import LABELS
from .api import DesktopFailed, DesktopHandle, launch, sessions
from .desktops.manager import SessionManager
from .desktops.request import InvalidRequest
from .desktops.session import SessionState
from .desktops.session_file import SessionFileError
from .desktops.slurm import SlurmError
from .managers import session_manager
from .settings import load_settings
from .transport.base import TransportError

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
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dcv-desktop", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("launch", help="submit a desktop and wait until it is ready")
    for name, kind in _OPTIONS.items():
        start.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind)
    start.add_argument("--no-wait", action="store_true", help="return once submitted")
    start.add_argument("--timeout", type=float, default=900, help="seconds to wait for ready")
    commands.add_parser("list", help="list this user's live desktops")
    connect = commands.add_parser("connect", help="print the URL that opens a desktop")
    connect.add_argument("job_id")
    end = commands.add_parser("end", help="end a desktop (cancel its job)")
    end.add_argument("job_id")
    return parser


def _find(manager: SessionManager, job_id: str) -> DesktopHandle:
    for handle in sessions(manager=manager):
        if handle.job_id == job_id:
            return handle
    raise LookupError(f"no live desktop with job id {job_id}; `dcv-desktop list` shows yours")


def _run(args: argparse.Namespace) -> int:
    manager = session_manager(load_settings())
    if args.command == "launch":
        options: dict[str, Any] = {
            k: getattr(args, k) for k in _OPTIONS if getattr(args, k) is not None
        }
        handle = launch(manager=manager, **options)
        if args.no_wait:
            manager.wait_for(handle.key, lambda s: bool(s.job_id) or not s.active, 120)
        else:
            handle.wait_ready(timeout=args.timeout)
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
        handle = _find(manager, args.job_id)
        if handle.session.request.access == "jupyter":
            _connect_through_jupyter(handle)
            return 0
        url = handle.connect_url()
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


def _connect_through_jupyter(handle: DesktopHandle) -> None:
    """The jupyter route's URL: this user's running JupyterLab that relays desktops opens it."""
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
    print(f"{server}dcv-widget/open/{handle.job_id}", flush=True)


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
