"""Scheduler load of one kernel: slurmctld RPCs per minute (from sdiag) for 1 and 50 sessions.

The manager makes one squeue call per poll for all its sessions, so the load should not grow
with their number. Sessions here are light stand-ins: `sleep` jobs carrying dcv_widget's job
name and comment, adopted by `SessionManager.rediscover()` exactly as after a kernel restart,
so they are polled as desktops still starting (the fast poll, the worst case).

Run it on the local Slurm as a user with nothing else running (sdiag counts RPCs per user):

    python benchmarks/scheduler_load.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import getpass
import re
import subprocess
import time
import uuid

from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.slurm import JOB_NAME, JobTag, job_comment


def rpc_count(user: str) -> int:
    """slurmctld's running count of RPCs from `user`."""
    out = subprocess.run(["sdiag"], capture_output=True, text=True, check=True).stdout
    found = re.search(rf"^\s*{re.escape(user)}\s+\(\s*\d+\)\s+count:(\d+)", out, re.M)
    return int(found.group(1)) if found else 0


def submit_stand_ins(count: int) -> list[str]:
    jobs = []
    for _ in range(count):
        done = subprocess.run(
            [
                "sbatch",
                "--parsable",
                f"--job-name={JOB_NAME}",
                f"--comment={job_comment(JobTag('novnc', uuid.uuid4().hex))}",
                "--partition=dcv",
                "--time=10",
                "--output=/dev/null",
                "--wrap=sleep 600",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        jobs.append(done.stdout.strip().split(";")[0])
    return jobs


def measure(sessions: int, seconds: float, user: str) -> float:
    jobs = submit_stand_ins(sessions)
    try:
        manager = SessionManager(startup_timeout=3600)
        adopted = manager.rediscover()
        assert len(adopted) == sessions, f"adopted {len(adopted)} of {sessions}"
        before = rpc_count(user)
        time.sleep(seconds)
        after = rpc_count(user)
    finally:
        subprocess.run(["scancel", *jobs], check=False)
    return (after - before) * 60 / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    seconds = parser.parse_args().seconds
    user = getpass.getuser()
    one = measure(1, seconds, user)
    fifty = measure(50, seconds, user)
    print(f"slurmctld RPCs per minute, 1 session:   {one:.0f}")
    print(f"slurmctld RPCs per minute, 50 sessions: {fifty:.0f}  (ratio {fifty / one:.2f})")


if __name__ == "__main__":
    main()
