"""Scheduler load of one kernel: slurmctld RPCs per minute (from sdiag), side by side.

For 1 and 50 desktops, queued and ready, and for one desktop in its first minutes in the queue
after its launch, it measures in one run:
- this manager, with the default settings (the job files' channel; squeue after a launch and on
  news, otherwise every 60 s);
- the previous fast-poll loop, reproduced by its fixed intervals: squeue every 1 s while any
  desktop is not ready (slow_poll=1), every 15 s once all are (slow_poll=15);
- Open OnDemand's way: one `squeue -j <job>` per desktop every 10 s.

Desktops here are light stand-ins that Slurm and the manager treat as desktops: jobs with
dcv_widget's name and comment, adopted by `SessionManager.rediscover()` as after a kernel
restart. Queued ones wait on the down partition dcv-maint; ready ones run on dcv, sharing its
cores (`--oversubscribe`, which the local Slurm's dcv partition allows) and write the files a
desktop job writes (started, ready) with a closed port and a dummy secret.

Run it on the local Slurm as a user with nothing else running (sdiag counts RPCs per user),
from a `git archive` export so that no test run cancels its jobs:

    python benchmarks/scheduler_load.py [--seconds 180] [--others 60] [--rows queued,ready,launched]
"""

from __future__ import annotations

import argparse
import getpass
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable

from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import SessionState
from dcv_widget.desktops.slurm import JOB_NAME, JobTag, job_comment

# A ready stand-in: the files a desktop job writes once its desktop answers (no desktop runs;
# port 9 is closed), and its last word when Slurm stops it.
READY_SCRIPT = """#!/bin/bash
umask 077
s="$HOME/.dcv-widget/sessions"
mkdir -p "$s" && chmod 700 "$HOME/.dcv-widget" "$s"
j=$SLURM_JOB_ID
trap 'rm -f "$s/$j.json" "$s/$j.started.json"
      printf "{\\"launch\\": \\"%s\\", \\"cause\\": \\"signal\\", \\"reason\\": \\"stopped\\"}" \
        "$LAUNCH" > "$s/$j.end.json"; exit 0' TERM
printf '{"job_id": "%s", "launch": "%s", "node": "x"}' "$j" "$LAUNCH" > "$s/$j.started.json"
printf '{"engine": "novnc", "host": "127.0.0.1", "port": 9, "launch": "%s", "secret": "x"}' \
    "$LAUNCH" > "$s/$j.json"
sleep 3600 & wait
"""


def rpc_count(user: str) -> int:
    """slurmctld's running count of RPCs from `user`."""
    out = subprocess.run(["sdiag"], capture_output=True, text=True, check=True).stdout
    found = re.search(rf"^\s*{re.escape(user)}\s+\(\s*\d+\)\s+count:(\d+)", out, re.M)
    return int(found.group(1)) if found else 0


def submit_stand_ins(count: int, ready: bool) -> list[str]:
    jobs = []
    for _ in range(count):
        launch = uuid.uuid4().hex
        where = ["--partition=dcv", "--oversubscribe"] if ready else ["--partition=dcv-maint"]
        done = subprocess.run(
            [
                "sbatch",
                "--parsable",
                f"--job-name={JOB_NAME}",
                f"--comment={job_comment(JobTag('novnc', launch))}",
                *where,
                "--time=60",
                "--output=/dev/null",
                f"--export=ALL,LAUNCH={launch}",
            ],
            input=READY_SCRIPT if ready else "#!/bin/sh\nsleep 3600\n",
            capture_output=True,
            text=True,
            check=True,
        )
        jobs.append(done.stdout.strip().split(";")[0])
    return jobs


def in_state(jobs: list[str], state: str) -> bool:
    out = subprocess.run(
        ["squeue", "--noheader", "--format=%T", f"--jobs={','.join(jobs)}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return len(out) == len(jobs) and set(out) == {state}


def per_minute(user: str, seconds: float, follow: Callable[[threading.Event], None]) -> float:
    """RPCs per minute while `follow` runs (until the event it gets is set)."""
    stop = threading.Event()
    before = rpc_count(user)
    started = time.monotonic()
    follower = threading.Thread(target=follow, args=(stop,), daemon=True)
    follower.start()
    time.sleep(seconds)
    stop.set()
    follower.join()
    return (rpc_count(user) - before) * 60 / (time.monotonic() - started)


def manager_follows(slow_poll: float, jobs: list[str], state: SessionState) -> Callable[..., None]:
    def follow(stop: threading.Event) -> None:
        manager = SessionManager(slow_poll=slow_poll, startup_timeout=7200)
        adopted = manager.rediscover()
        assert len(adopted) == len(jobs), f"adopted {len(adopted)} of {len(jobs)}"
        for session in adopted:
            manager.wait_for(session.key, lambda s: s.state == state, timeout=120)
        stop.wait()
        manager.close()

    return follow


def manager_launches(slow_poll: float) -> Callable[..., None]:
    """One desktop launched on the down partition: its submit and the first minutes queued."""

    def follow(stop: threading.Event) -> None:
        manager = SessionManager(slow_poll=slow_poll)
        session = manager.launch(LaunchRequest(partition="dcv-maint", time="60"))
        manager.wait_for(session.key, lambda s: s.state == SessionState.QUEUED, timeout=60)
        stop.wait()
        manager.end(session.key).result(timeout=30)
        manager.close()

    return follow


def ood_follows(jobs: list[str]) -> Callable[..., None]:
    def follow(stop: threading.Event) -> None:
        while not stop.is_set():
            for job in jobs:
                subprocess.run(
                    ["squeue", "--noheader", f"--jobs={job}", "--format=%T"],
                    capture_output=True,
                    check=False,
                )
            stop.wait(10)

    return follow


def scenario(count: int, ready: bool, seconds: float, others: float, user: str) -> list[float]:
    jobs = submit_stand_ins(count, ready)
    try:
        deadline = time.monotonic() + 120
        while not in_state(jobs, "RUNNING" if ready else "PENDING"):
            assert time.monotonic() < deadline, "the stand-ins did not reach their state"
            time.sleep(1)
        state = SessionState.READY if ready else SessionState.QUEUED
        ours = per_minute(user, seconds, manager_follows(60.0, jobs, state))
        previous = per_minute(user, others, manager_follows(15.0 if ready else 1.0, jobs, state))
        ood = per_minute(user, others, ood_follows(jobs))
        return [ours, previous, ood]
    finally:
        subprocess.run(["scancel", *jobs], check=False)
        time.sleep(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180, help="this manager's window")
    parser.add_argument("--others", type=float, default=60, help="the other two's window")
    parser.add_argument(
        "--rows", default="queued,ready,launched", help="which rows, comma-separated"
    )
    args = parser.parse_args()
    rows = set(args.rows.split(","))
    user = getpass.getuser()
    print(
        f"slurmctld RPCs per minute of one kernel (sdiag, user {user}; this manager over "
        f"{args.seconds:g} s, the others over {args.others:g} s)"
    )
    print(f"{'desktops':<22}{'this manager':>14}{'previous loop':>15}{'OOD squeue -j':>15}")
    for ready in [r for r in (False, True) if ("ready" if r else "queued") in rows]:
        for count in (1, 50):
            ours, previous, ood = scenario(count, ready, args.seconds, args.others, user)
            label = f"{count} {'ready' if ready else 'queued'}"
            print(f"{label:<22}{ours:>14.1f}{previous:>15.1f}{ood:>15.1f}", flush=True)
    if "launched" not in rows:
        return
    ours = per_minute(user, args.seconds, manager_launches(60.0))
    previous = per_minute(user, args.others, manager_launches(1.0))
    label = "1 launched, queued"
    print(f"{label:<22}{ours:>14.1f}{previous:>15.1f}{'':>15}  (sbatch and scancel included)")


if __name__ == "__main__":
    main()
