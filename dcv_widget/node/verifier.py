"""DCV's external token verifier (`auth-token-verifier` in dcv.conf), run as root on each node.

The protocol (Amazon DCV Administrator Guide, "Use external authentication"): for every client,
DCV POSTs the form fields `sessionId`, `authenticationToken` and `clientAddress`, and lets the
client in as USER only on `<auth result="yes"><username>USER</username></auth>`.

How a token is looked up. A desktop job (desktops/engines/dcv_job.sh) names its DCV session
`dcvw-<job id>-<random suffix>` (the suffix makes the name unguessable, so nobody can create it
first) and writes it and the token nowhere but `~/.dcv-widget/sessions/<job id>.json`. For such a
session the verifier

1. asks DCV who owns the session (`dcv describe-session <session> --json`): DCV's own record,
   which no user can forge; an owner DCV named is cached for a minute (`OwnerCache`), so
   repeated logins to a live desktop do not run `dcv` as root again (a flood of unknown names
   is bounded by the worker pool instead);
2. opens that owner's session file from their home directory one component at a time, never
   following a symlink (openat with O_NOFOLLOW), and trusts it only if it is a regular file
   owned by the owner with no group or other permission bits;
3. answers yes, with the owner as user, only if the file is the DCV session file of exactly
   this session and its token equals the presented one (constant-time compare).

So a token opens one desktop, as its owner, and only while its job lives: the job removes the
file on exit, and a new desktop gets a new file and token. Another user cannot plant a file in
the owner's folders, and a symlink or a group-readable file is refused. Tokens are never logged
or echoed; the log says only which session was asked about and the answer.

Who may answer DCV. DCV trusts whatever listens on the verifier's address, so it must be one no
user can take: a privileged port (DEFAULT_PORT, below 1024), held by systemd's socket unit
(dcv-widget-verifier.socket) even while this service restarts; the socket arrives as fd 3
(sd_listen_fds protocol). At most `workers` requests are served at once; further connections
wait in the kernel's listen backlog.

Stdlib only, importing nothing else from dcv_widget and written for Python 3.7 (Amazon Linux 2),
so the node bootstrap (dcv_widget/node/) installs this one file: `python3 verifier.py` serves on
127.0.0.1:844, where only DCV on the same node asks (`--port 0` picks a free port, for tests).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hmac
import json
import logging
import os
import pwd
import queue
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from functools import partial
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

log = logging.getLogger("dcv_widget.node.verifier")

DEFAULT_PORT = 844  # privileged: no user can bind it, whether or not the verifier runs
# dcvw-<job id>-<suffix>: the suffix is 16 characters of [a-z0-9] from python's secrets (82 bits).
SESSION_ID = re.compile(r"dcvw-([0-9]{1,12})-[a-z0-9]{16,64}")
MAX_BODY = 16 * 1024
MAX_FILE = 64 * 1024
WORKERS = 16  # requests served at once
BACKLOG = 64  # connections the kernel queues beyond those
# The longest one request may hold a worker, reading and deciding (`dcv describe-session` may
# take up to 10 s): a client trickling a byte at a time is cut off here, not kept forever.
REQUEST_DEADLINE = 15.0
REAP_EVERY = 0.25  # seconds between looks for overdue requests
OWNER_TTL = 60.0  # seconds a session's owner is remembered
OWNER_ENTRIES = 1024
SD_LISTEN_FDS_START = 3


def job_id_of(session_id: str) -> str | None:
    """The Slurm job id in a dcv_widget session id, None for any other session."""
    match = SESSION_ID.fullmatch(session_id)
    return match.group(1) if match else None


def token_matches(record: Mapping[str, Any], session_id: str, token: str) -> bool:
    """Whether `record` (a parsed session file) is this DCV session's and holds `token`."""
    secret = record.get("secret")
    if record.get("engine") != "dcv" or record.get("session_id") != session_id:
        return False
    if not isinstance(secret, str) or not secret or not token:
        return False
    return hmac.compare_digest(secret.encode(), token.encode())


def read_session_record(home: str, job_id: str, uid: int) -> dict[str, Any] | None:
    """`home/.dcv-widget/sessions/<job_id>.json` if it is safe to trust, else None.

    Each component below `home` is opened relative to the previous one with O_NOFOLLOW, so no
    symlink can send root elsewhere; O_NONBLOCK keeps a FIFO from hanging the verifier.
    """
    opened: list[int] = []
    try:
        opened.append(os.open(home, os.O_RDONLY | os.O_DIRECTORY))
        for folder in (".dcv-widget", "sessions"):
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
            opened.append(os.open(folder, flags, dir_fd=opened[-1]))
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
        opened.append(os.open(f"{job_id}.json", flags, dir_fd=opened[-1]))
        info = os.fstat(opened[-1])
        if not stat.S_ISREG(info.st_mode) or info.st_uid != uid or info.st_mode & 0o077:
            return None
        data = json.loads(os.read(opened[-1], MAX_FILE))
    except (OSError, ValueError):
        return None
    finally:
        for fd in opened:
            os.close(fd)
    return data if isinstance(data, dict) else None


def dcv_session_owner(session_id: str) -> str | None:
    """The owner DCV records for the session, None if DCV does not know it."""
    try:
        described = subprocess.run(
            ["dcv", "describe-session", session_id, "--json"],  # noqa: S607 (dcv from PATH)
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        owner = json.loads(described.stdout).get("owner") if described.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError, AttributeError):
        return None
    return owner if isinstance(owner, str) and owner else None


class OwnerCache:
    """`owner_of` with memory: a session's owner, once DCV named it, for `ttl` seconds.

    Safe because a session id is unguessable and unique to its job, so its owner cannot change
    while it lives; the token and the owner's file are still checked on every request. Only a
    found owner is kept: an unknown session is asked about again (it may be created a moment
    later), so a refusal is never remembered as anything. At most `max_entries` are kept, the
    oldest dropped first.
    """

    def __init__(
        self,
        owner_of: Callable[[str], str | None] = dcv_session_owner,
        *,
        ttl: float = OWNER_TTL,
        max_entries: int = OWNER_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or max_entries < 1:
            raise ValueError("ttl must be > 0 and max_entries >= 1")
        self._owner_of = owner_of
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._owners: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._owners)

    def __call__(self, session_id: str) -> str | None:
        now = self._clock()
        with self._lock:
            found = self._owners.get(session_id)
            if found is not None and found[0] > now:
                return found[1]
            self._owners.pop(session_id, None)
        owner = self._owner_of(session_id)  # outside the lock: dcv may take seconds
        if owner is None:
            return None
        with self._lock:
            self._owners[session_id] = (self._clock() + self._ttl, owner)
            self._owners.move_to_end(session_id)
            while len(self._owners) > self._max:
                self._owners.popitem(last=False)
        return owner


def system_account(user: str) -> tuple[str, int] | None:
    """(home directory, uid) of the user, from the system's user database."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return entry.pw_dir, entry.pw_uid


def verify(
    session_id: str,
    token: str,
    *,
    owner_of: Callable[[str], str | None] = dcv_session_owner,
    account_of: Callable[[str], tuple[str, int] | None] = system_account,
) -> str | None:
    """The user to let into `session_id` with `token`, or None to refuse."""
    job_id = job_id_of(session_id)
    if job_id is None or not token:
        return None
    owner = owner_of(session_id)
    account = account_of(owner) if owner else None
    if owner is None or account is None:
        return None
    home, uid = account
    record = read_session_record(home, job_id, uid)
    if record is None or not token_matches(record, session_id, token):
        return None
    return owner


def answer(user: str | None) -> bytes:
    """DCV's expected reply: yes with the user name, or no."""
    if user is None:
        return b'<auth result="no"><message>token refused</message></auth>'
    return f'<auth result="yes"><username>{escape(user)}</username></auth>'.encode()


def inherited_socket(environ: Mapping[str, str] | None = None) -> socket.socket | None:
    """The listening socket systemd passed (sd_listen_fds: fd 3 when LISTEN_PID is this process
    and LISTEN_FDS >= 1), None when started otherwise. The variables are then removed, so that
    no child (dcv) takes the socket for its own."""
    env = os.environ if environ is None else environ
    try:
        mine = int(env.get("LISTEN_PID", "")) == os.getpid()
        count = int(env.get("LISTEN_FDS", ""))
    except ValueError:
        return None
    if environ is None:
        for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            os.environ.pop(name, None)
    if not mine or count < 1:
        return None
    os.set_inheritable(SD_LISTEN_FDS_START, False)
    sock = socket.socket(fileno=SD_LISTEN_FDS_START)
    listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    if sock.type != socket.SOCK_STREAM or not listening:
        sock.detach()
        raise SystemExit(
            "the socket systemd passed (fd 3) is not a listening TCP socket; check "
            "ListenStream= in dcv-widget-verifier.socket"
        )
    return sock


class VerifierServer(HTTPServer):
    """The HTTP server DCV asks, on a fixed pool of `workers` threads.

    A free worker is taken before each accept, so at most `workers` requests are decided at
    once and the rest wait in the kernel's listen backlog (BACKLOG): a flood of local
    connections costs neither threads nor `dcv` processes beyond that. One more thread cuts
    off any request still running after `deadline` seconds, so a client trickling a byte at a
    time holds a worker that long at most.
    """

    request_queue_size = BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        decide: Callable[[str, str], str | None],
        *,
        workers: int = WORKERS,
        sock: socket.socket | None = None,
        deadline: float = REQUEST_DEADLINE,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.decide = decide
        self.deadline = deadline
        self._free = threading.Semaphore(workers)
        self._closing = threading.Event()
        self._requests: queue.Queue[tuple[socket.socket, Any] | None] = queue.Queue()
        self.workers: list[threading.Thread] = []
        super().__init__(address, _Handler, bind_and_activate=sock is None)
        if sock is not None:
            self.socket.close()
            self.socket = sock
            self.server_address = sock.getsockname()
        # Non-blocking accept: a client that gave up while every worker was busy must not
        # leave the accept loop stuck (and shutdown waiting) until the next connection.
        self.socket.setblocking(False)
        self._inflight: dict[socket.socket, float] = {}  # request -> its deadline
        self._inflight_lock = threading.Lock()
        self.workers = [
            threading.Thread(target=self._work, name=f"verifier-{n}", daemon=True)
            for n in range(workers)
        ]
        self.reaper = threading.Thread(target=self._reap, name="verifier-deadlines", daemon=True)
        for thread in (*self.workers, self.reaper):
            thread.start()

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept only once a worker is free (checking for shutdown now and then)."""
        while not self._free.acquire(timeout=0.5):
            if self._closing.is_set():
                raise OSError("shutting down")
        try:
            return self.socket.accept()
        except BaseException:
            self._free.release()
            raise

    def process_request(self, request: Any, client_address: Any) -> None:
        self._requests.put((request, client_address))

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("request from %s failed", client_address)

    def _work(self) -> None:
        while True:
            item = self._requests.get()
            if item is None:
                return
            request, client_address = item
            # The socket timeout bounds each read, not the request: the reaper cuts it off at
            # the deadline.
            with self._inflight_lock:
                self._inflight[request] = time.monotonic() + self.deadline
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                with self._inflight_lock:
                    del self._inflight[request]
                self.shutdown_request(request)
                self._free.release()

    def _reap(self) -> None:
        """Cut off the requests past their deadline (one thread for all of them)."""
        while not self._closing.wait(REAP_EVERY):
            now = time.monotonic()
            with self._inflight_lock:
                overdue = [request for request, due in self._inflight.items() if due <= now]
            for request in overdue:
                with contextlib.suppress(OSError):  # its blocked read returns at once
                    request.shutdown(socket.SHUT_RDWR)

    def shutdown(self) -> None:
        self._closing.set()
        super().shutdown()

    def server_close(self) -> None:
        self._closing.set()
        super().server_close()
        for _ in self.workers:
            self._requests.put(None)


class _Handler(BaseHTTPRequestHandler):
    server: VerifierServer
    server_version = "dcv-widget-verifier"
    # A client that sends less than it announced must not hold a worker for long: every other
    # user's login waits on this server.
    timeout = 5  # each read; REQUEST_DEADLINE bounds the whole request

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.send_error(413, "expected a small form")
            return
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        session_id = form.get("sessionId", [""])[0]
        try:
            user = self.server.decide(session_id, form.get("authenticationToken", [""])[0])
        except Exception:  # whatever went wrong, the answer is no (and the log never shows why
            log.exception("session check failed")  # with a token: tracebacks carry no locals)
            user = None
        shown = session_id if job_id_of(session_id) else "(not a dcv_widget session)"
        log.info("session %s: %s", shown, "yes for " + user if user else "no")
        body = answer(user)
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: do_POST logs each decision, and nothing here may ever show a token."""


def unprivileged_port_start() -> int:
    """The lowest port any user may bind on this node (Linux's sysctl; 1024 if unreadable)."""
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as sysctl:
            return int(sysctl.read())
    except (OSError, ValueError):
        return 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="DCV auth-token verifier for dcv_widget desktops")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port to listen on when systemd passes no socket; 0 picks a free one (tests)",
    )
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    decide = partial(verify, owner_of=OwnerCache(dcv_session_owner))
    sock = inherited_socket()
    try:
        server = VerifierServer((args.bind, args.port), decide, sock=sock)
    except OSError as error:
        hint = (
            f"ports below {unprivileged_port_start()} need root (the node's service runs as root)"
            if error.errno == errno.EACCES
            else "is another verifier running? (systemctl status dcv-widget-verifier)"
        )
        sys.exit(
            f"cannot listen on {args.bind}:{args.port}: {error.strerror}; {hint}; "
            "--port 0 picks a free port for a test"
        )
    host, port = server.server_address[:2]
    how = "the socket systemd passed" if sock is not None else "a socket of its own"
    log.info("listening on %s:%s (%s)", host, port, how)
    if port >= unprivileged_port_start():
        log.warning(
            "port %s is not privileged on this node: any user could answer DCV on it while this "
            "verifier is not listening; use a port below %s (the bootstrap uses %s)",
            port,
            unprivileged_port_start(),
            DEFAULT_PORT,
        )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
