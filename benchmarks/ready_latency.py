"""Ready-to-shown latency: from the job writing its session file to the manager's READY.

Launches real novnc desktops on the local Slurm one after another and compares the session
file's modification time with the moment a subscriber sees READY. The figure is bounded by the
fast poll interval (settings.fast_poll, 1 s by default) plus one NodeAddr lookup.

    python benchmarks/ready_latency.py [--desktops 5] [--fast-poll 1.0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import DesktopSession, SessionState


def one_latency(manager: SessionManager) -> float:
    ready_at: dict[str, float] = {}
    seen = threading.Event()

    def on_change(session: DesktopSession) -> None:
        # Sessions of earlier rounds still report while they shut down: only READY of a new
        # key counts, the first time.
        if session.state == SessionState.READY and session.key not in ready_at:
            ready_at[session.key] = time.time()
            seen.set()

    known = {s.key for s in manager.sessions()}
    ready_at.update(dict.fromkeys(known, 0.0))
    unsubscribe = manager.subscribe(on_change)
    session = manager.launch(LaunchRequest(partition="dcv", time="5"))
    try:
        if not seen.wait(180):
            raise TimeoutError(f"desktop not ready: {manager.get(session.key).detail}")
        session = manager.get(session.key)
        written = os.stat(manager.paths().session_file(session.job_id)).st_mtime
        return ready_at[session.key] - written
    finally:
        unsubscribe()
        manager.end(session.key).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--desktops", type=int, default=5)
    parser.add_argument("--fast-poll", type=float, default=1.0)
    args = parser.parse_args()
    manager = SessionManager(fast_poll=args.fast_poll)
    latencies = [one_latency(manager) for _ in range(args.desktops)]
    print(
        f"ready-to-shown latency: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms over {args.desktops} desktops "
        f"(fast poll {args.fast_poll:g} s)"
    )


if __name__ == "__main__":
    main()
