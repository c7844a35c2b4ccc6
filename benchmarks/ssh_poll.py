"""What the kept SSH connection saves on every poll: a poll-like command over SSHTransport's one
kept connection vs a new SSH connection (handshake, key exchange, login) per command.

Prints the median latency of each in milliseconds and their ratio. Without HOST it starts its
own sshd on 127.0.0.1 (tests/integration/sshd.py), so run it as an unprivileged user; with
HOST (an alias of ~/.ssh/config works) it measures a real head node.

    runuser -u dcvtest -- python benchmarks/ssh_poll.py [HOST] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from dcv_widget.transport.ssh import SSHTransport

if TYPE_CHECKING:
    from tests.integration.sshd import running_sshd
else:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "integration"))
    from sshd import running_sshd

POLL = ["squeue", "--me", "--noheader"]


def median_ms(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("host", nargs="?", help="SSH host; default: a loopback sshd of its own")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    with ExitStack() as stack:
        if args.host:
            where = args.host

            def connect() -> SSHTransport:
                return SSHTransport(args.host)
        else:
            if os.geteuid() == 0:
                sys.exit("run as an unprivileged user: a root sshd would need a system set-up")
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="dcv-ssh-bench-"))
            server = stack.enter_context(running_sshd(Path(folder)))
            where = f"a loopback sshd on port {server.port}"
            connect = server.transport

        kept = stack.enter_context(connect())
        kept.run(POLL)  # connect once, outside the measurement

        def new_connection_each() -> None:
            with connect() as fresh:
                fresh.run(POLL)

        on_kept = median_ms(lambda: kept.run(POLL), args.runs)
        on_new = median_ms(new_connection_each, args.runs)

    print(f"`{' '.join(POLL)}` over SSH to {where}, median of {args.runs} runs:")
    print(f"  kept connection:          {on_kept:7.1f} ms")
    print(f"  new connection each time: {on_new:7.1f} ms")
    print(f"  ratio: the kept connection is {on_new / on_kept:.1f}x faster per poll")


if __name__ == "__main__":
    main()
