"""How soon a card shows what a desktop job did: started, ready, ended (End, time limit, failure).

Launches real novnc desktops on the local Slurm and compares the moment the job did something
with the moment a subscriber of the manager sees it:
- started: the job's start marker (`<job>.started.json`, written as its script starts on the
  node) -> the session past QUEUED; also from Slurm's own StartTime (whole seconds);
- ready: the session file (`<job>.json`) -> READY;
- ended: the job's last word (`<job>.end.json`, written as it exits) -> ENDED, for an End, for a
  desktop reaching its one-minute time limit, and for one failing on its node (no noVNC client
  where the job looks); and, for End, the click itself -> ENDED (the job's clean-up included).
A watcher thread stats the files every 10 ms, so a file's moment is known to about 10 ms.

Side by side: this manager (default settings) and the previous fast-poll loop, reproduced by
its fixed interval (squeue every 1 s while a desktop is not ready: slow_poll=2).

    python benchmarks/ready_latency.py [--desktops 5] [--limited 3] [--failing 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import threading
import time

from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import DesktopSession, SessionState

PAST_QUEUE = (SessionState.LAUNCHING, SessionState.READY, SessionState.ENDED)


class Watch:
    """When each of a job's files first appeared, and when the manager first showed each
    state of the session."""

    def __init__(self, manager: SessionManager, key: str) -> None:
        self.manager, self.key = manager, key
        self.files: dict[str, float] = {}
        self.shown: dict[SessionState, float] = {}
        self._stop = threading.Event()
        self._unsubscribe = manager.subscribe(self._on_change)
        self._thread = threading.Thread(target=self._stat_files, daemon=True)
        self._thread.start()

    def _on_change(self, session: DesktopSession) -> None:
        if session.key == self.key:
            self.shown.setdefault(session.state, time.time())

    def _stat_files(self) -> None:
        paths = self.manager.paths()
        while not self._stop.wait(0.01):
            job_id = self.manager.get(self.key).job_id
            if not job_id:
                continue
            for kind, path in (
                ("started", paths.started_file(job_id)),
                ("ready", paths.session_file(job_id)),
                ("ended", paths.end_file(job_id)),
            ):
                if kind not in self.files and os.path.exists(path):
                    self.files[kind] = time.time()

    def wait(self, state: SessionState, timeout: float = 180) -> DesktopSession:
        def reached(s: DesktopSession) -> bool:
            return s.state == state or s.state == SessionState.ENDED

        return self.manager.wait_for(self.key, reached, timeout)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._unsubscribe()


def slurm_start(job_id: str) -> float:
    """Slurm's StartTime of the job (epoch seconds, whole)."""
    out = subprocess.run(
        ["squeue", "--noheader", f"--jobs={job_id}", "--states=all", "--format=%S"],
        capture_output=True,
        text=True,
        env={**os.environ, "SLURM_TIME_FORMAT": "%s"},
        check=True,
    ).stdout.strip()
    return float(out)


def shown_past_queue(watch: Watch) -> float:
    return min(t for state, t in watch.shown.items() if state in PAST_QUEUE)


def one_desktop(manager: SessionManager, figures: dict[str, list[float]]) -> None:
    """Launch, ready, End: the started, ready and End figures."""
    session = manager.launch(LaunchRequest(partition="dcv", time="5"))
    watch = Watch(manager, session.key)
    try:
        ready = watch.wait(SessionState.READY)
        assert ready.state == SessionState.READY, ready.detail
        shown = shown_past_queue(watch)
        figures["started (marker)"].append(shown - watch.files["started"])
        figures["started (Slurm's StartTime)"].append(shown - slurm_start(ready.job_id))
        figures["ready"].append(watch.shown[SessionState.READY] - watch.files["ready"])
        clicked = time.time()
        manager.end(session.key).result(timeout=30)
        watch.wait(SessionState.ENDED)
        ended = watch.shown[SessionState.ENDED]
        figures["ended: End (last word)"].append(ended - watch.files["ended"])
        figures["ended: End (click, clean-up included)"].append(ended - clicked)
    finally:
        watch.close()


def ended_by_itself(
    manager: SessionManager, count: int, request: LaunchRequest, name: str
) -> list[float]:
    """Desktops launched together that end by themselves: last word -> ENDED shown."""
    sessions = [manager.launch(request) for _ in range(count)]
    watches = [Watch(manager, s.key) for s in sessions]
    try:
        for watch in watches:
            ended = watch.wait(SessionState.ENDED, timeout=300)
            assert ended.state == SessionState.ENDED, f"{name}: {ended.detail}"
        return [w.shown[SessionState.ENDED] - w.files["ended"] for w in watches]
    finally:
        for watch in watches:
            watch.close()


def measure(slow_poll: float, args: argparse.Namespace) -> dict[str, list[float]]:
    manager = SessionManager(slow_poll=slow_poll)
    figures: dict[str, list[float]] = {
        "started (marker)": [],
        "started (Slurm's StartTime)": [],
        "ready": [],
        "ended: End (last word)": [],
        "ended: End (click, clean-up included)": [],
    }
    for _ in range(args.desktops):
        one_desktop(manager, figures)
    if args.limited:
        limited = LaunchRequest(partition="dcv", time="1")
        figures["ended: time limit"] = ended_by_itself(manager, args.limited, limited, "limit")
    if args.failing:
        os.environ["DCV_WIDGET_NOVNC_WEB"] = "/nonexistent/novnc"  # sbatch passes it on
        try:
            failing = LaunchRequest(partition="dcv", time="5")
            figures["ended: failure"] = ended_by_itself(manager, args.failing, failing, "fail")
        finally:
            del os.environ["DCV_WIDGET_NOVNC_WEB"]
    manager.close()
    return figures


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:5.0f} ms, max {max(values) * 1000:5.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--desktops", type=int, default=5)
    parser.add_argument("--limited", type=int, default=3, help="desktops left to their limit")
    parser.add_argument("--failing", type=int, default=3, help="desktops failing on the node")
    args = parser.parse_args()
    ours = measure(60.0, args)
    previous = measure(2.0, args)
    print("job did it -> card shows it (this manager | previous fast-poll loop)")
    for name, values in ours.items():
        print(f"  {name:<40} {summary(values)} | {summary(previous[name])}  (n={len(values)})")


if __name__ == "__main__":
    main()
