"""DCV's external token verifier (`auth-token-verifier` in dcv.conf), run as root on each node.

The protocol (Amazon DCV Administrator Guide, "Use external authentication"): for every client,
DCV POSTs the form fields `sessionId`, `authenticationToken` and `clientAddress`, and lets the
client in as USER only on `<auth result="yes"><username>USER</username></auth>`.

How a token is looked up. A desktop job (engines/dcv_job.sh) names its DCV session
`dcvw-<job id>` and writes the token nowhere but `~/.dcv-widget/sessions/<job id>.json`. For
`dcvw-<job>` the verifier

1. asks DCV who owns the session (`dcv describe-session dcvw-<job> --json`): DCV's own record,
   which no user can forge;
2. opens that owner's session file from their home directory one component at a time, never
   following a symlink (openat with O_NOFOLLOW), and trusts it only if it is a regular file
   owned by the owner with no group or other permission bits;
3. answers yes, with the owner as user, only if the file is the DCV session file of exactly
   this session and its token equals the presented one (constant-time compare).

So a token opens one desktop, as its owner, and only while its job lives: the job removes the
file on exit, and a new desktop gets a new file and token. Another user cannot plant a file in
the owner's folders, and a symlink or a group-readable file is refused. Tokens are never logged
or echoed; the log says only which session was asked about and the answer.

Stdlib only, importing nothing else from dcv_widget and written for Python 3.7 (Amazon Linux 2),
so the node bootstrap (dcv_widget/node/) installs this one file:
`python3 verifier.py --port 8444` serves on 127.0.0.1, where only DCV on the same node asks.
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import pwd
import re
import stat
import subprocess
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

log = logging.getLogger("dcv_widget.verifier")

DEFAULT_PORT = 8444
SESSION_ID = re.compile(r"dcvw-([0-9]{1,12})")
MAX_BODY = 16 * 1024
MAX_FILE = 64 * 1024


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


class VerifierServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], decide: Callable[[str, str], str | None]):
        super().__init__(address, _Handler)
        self.decide = decide


class _Handler(BaseHTTPRequestHandler):
    server: VerifierServer
    server_version = "dcv-widget-verifier"
    # A client that sends less than it announced must not hold a thread forever: every other
    # user's login waits on this server.
    timeout = 5

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="DCV auth-token verifier for dcv_widget desktops")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    server = VerifierServer((args.bind, args.port), verify)
    host, port = server.server_address[:2]
    log.info("listening on %s:%s", host, port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
