"""The DCV token verifier: its decisions, the session-file checks, and its HTTP answer."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest

from dcv_widget.node.verifier import (
    DEFAULT_PORT,
    OwnerCache,
    VerifierServer,
    answer,
    job_id_of,
    read_session_record,
    token_matches,
    verify,
)

TOKEN = "k7Qx-good-token_0123456789abcdefghijklmnopq"
SUFFIX = "k3x9q2m4p7z1a8b5"  # the random part a job adds (16 of [a-z0-9])
SESSION = f"dcvw-42-{SUFFIX}"


def session_of(job_id: str) -> str:
    return f"dcvw-{job_id}-{SUFFIX}"


def write_session_file(home: Path, job_id: str = "42", mode: int = 0o600, **fields: str) -> Path:
    sessions = home / ".dcv-widget" / "sessions"
    sessions.mkdir(parents=True, exist_ok=True)
    record = {"engine": "dcv", "job_id": job_id, "session_id": session_of(job_id), "secret": TOKEN}
    path = sessions / f"{job_id}.json"
    path.write_text(json.dumps({**record, **fields}))
    path.chmod(mode)
    return path


def alice_owns(home: Path, uid: int | None = None) -> partial[str | None]:
    """verify() for a node where DCV says alice owns every session and her home is `home`."""
    account = (str(home), os.getuid() if uid is None else uid)
    return partial(verify, owner_of=lambda session: "alice", account_of=lambda user: account)


@pytest.mark.parametrize(
    ("session_id", "job_id"),
    [(SESSION, "42"), (f"dcvw-123456789012-{SUFFIX}", "123456789012"),
     ("dcvw-7-" + "a1" * 32, "7"),
     # The old predictable form, and anything else that is not a job's random name:
     ("dcvw-42", None), ("dcvw-42-", None), ("dcvw-42-short1234", None),
     (f"dcvw-42-{SUFFIX.upper()}", None), (f"dcvw-42-{SUFFIX[:-1]}_", None),
     ("dcvw-42-" + "a" * 65, None), (f"dcvw-1234567890123-{SUFFIX}", None),
     (f"dcvw--{SUFFIX}", None), (f"dcvw-4/../x-{SUFFIX}", None), (f"{SESSION}\n", None),
     (f"x{SESSION}", None), (f"dcvw-42-{SUFFIX}-1", None), ("console", None), ("", None)],
)  # fmt: skip
def test_only_dcv_widget_sessions_have_a_job(session_id: str, job_id: str | None) -> None:
    assert job_id_of(session_id) == job_id


def test_token_matches_only_this_sessions_token() -> None:
    record = {"engine": "dcv", "session_id": SESSION, "secret": TOKEN}
    assert token_matches(record, SESSION, TOKEN)
    assert not token_matches(record, SESSION, TOKEN[:-1] + "x")
    assert not token_matches(record, SESSION, "")
    assert not token_matches(record, session_of("43"), TOKEN)
    assert not token_matches(record, "dcvw-42-" + "0" * 16, TOKEN)  # same job, another name
    assert not token_matches({**record, "engine": "novnc"}, SESSION, TOKEN)
    assert not token_matches({**record, "secret": ""}, SESSION, "")
    assert not token_matches({**record, "secret": 7}, SESSION, "7")
    assert not token_matches(record, SESSION, "é" * 43)  # non-ASCII input is just wrong


def test_right_token_lets_the_owner_in(tmp_path: Path) -> None:
    write_session_file(tmp_path)
    assert alice_owns(tmp_path)(SESSION, TOKEN) == "alice"


def test_wrong_token_is_refused(tmp_path: Path) -> None:
    write_session_file(tmp_path)
    assert alice_owns(tmp_path)(SESSION, "not-the-token") is None
    assert alice_owns(tmp_path)(SESSION, "") is None


def test_stale_token_is_refused(tmp_path: Path) -> None:
    """A token of an ended desktop: its file is gone, or a new job wrote a new token."""
    path = write_session_file(tmp_path)
    path.unlink()
    assert alice_owns(tmp_path)(SESSION, TOKEN) is None
    write_session_file(tmp_path, secret="the-next-desktops-token")
    assert alice_owns(tmp_path)(SESSION, TOKEN) is None


def test_a_token_opens_only_its_own_session(tmp_path: Path) -> None:
    write_session_file(tmp_path, job_id="42")
    write_session_file(tmp_path, job_id="43", secret="token-of-43")
    assert alice_owns(tmp_path)(session_of("43"), TOKEN) is None
    # A file claiming another session id is not this session's, whatever its name.
    write_session_file(tmp_path, job_id="44", session_id=SESSION)
    assert alice_owns(tmp_path)(session_of("44"), TOKEN) is None
    # Nor is a session of the same job with another random name (one taken first by someone).
    assert alice_owns(tmp_path)("dcvw-42-" + "0" * 16, TOKEN) is None


def test_file_of_another_user_is_refused(tmp_path: Path) -> None:
    """DCV says alice owns the session, but the file belongs to someone else."""
    write_session_file(tmp_path)
    assert alice_owns(tmp_path, uid=os.getuid() + 1)(SESSION, TOKEN) is None


def test_group_or_world_readable_file_is_refused(tmp_path: Path) -> None:
    for mode in (0o640, 0o604, 0o660):
        write_session_file(tmp_path, mode=mode)
        assert alice_owns(tmp_path)(SESSION, TOKEN) is None, oct(mode)


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    real = write_session_file(elsewhere)
    home = tmp_path / "home"
    (home / ".dcv-widget" / "sessions").mkdir(parents=True)
    (home / ".dcv-widget" / "sessions" / "42.json").symlink_to(real)
    assert alice_owns(home)(SESSION, TOKEN) is None
    # Nor a symlinked folder on the way.
    other = tmp_path / "other"
    (other / ".dcv-widget").mkdir(parents=True)
    (other / ".dcv-widget" / "sessions").symlink_to(real.parent)
    assert alice_owns(other)(SESSION, TOKEN) is None
    assert alice_owns(elsewhere)(SESSION, TOKEN) == "alice"  # the real file itself is fine


def test_unreadable_or_odd_files_are_refused_without_hanging(tmp_path: Path) -> None:
    sessions = tmp_path / ".dcv-widget" / "sessions"
    sessions.mkdir(parents=True)
    os.mkfifo(sessions / "42.json", 0o600)
    assert read_session_record(str(tmp_path), "42", os.getuid()) is None
    (sessions / "42.json").unlink()
    (sessions / "42.json").write_text("{not json")
    (sessions / "42.json").chmod(0o600)
    assert read_session_record(str(tmp_path), "42", os.getuid()) is None
    assert read_session_record(str(tmp_path / "nobody"), "42", os.getuid()) is None


def test_unknown_sessions_and_owners_are_refused(tmp_path: Path) -> None:
    write_session_file(tmp_path)
    asked: list[str] = []

    def owner_of(session: str) -> str | None:
        asked.append(session)
        return None

    account = (str(tmp_path), os.getuid())
    assert verify(SESSION, TOKEN, owner_of=owner_of, account_of=lambda u: account) is None
    assert verify("console", TOKEN, owner_of=owner_of, account_of=lambda u: account) is None
    assert asked == [SESSION]  # DCV is not even asked about sessions that are not ours
    no_account = verify(SESSION, TOKEN, owner_of=lambda s: "ghost", account_of=lambda u: None)
    assert no_account is None


def test_answers_are_dcvs_xml() -> None:
    yes = ElementTree.fromstring(answer("alice"))
    assert (yes.tag, yes.get("result"), yes.findtext("username")) == ("auth", "yes", "alice")
    assert ElementTree.fromstring(answer(None)).get("result") == "no"
    assert ElementTree.fromstring(answer("a<b&c")).findtext("username") == "a<b&c"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """The real HTTP server on loopback, deciding with alice_owns(tmp_path)."""
    server = VerifierServer(("127.0.0.1", 0), alice_owns(tmp_path))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def post(url: str, **form: str) -> ElementTree.Element:
    with urllib.request.urlopen(url, data=urlencode(form).encode(), timeout=10) as reply:
        assert reply.headers["Content-Type"] == "text/xml"
        return ElementTree.fromstring(reply.read())


def test_http_server_speaks_dcvs_protocol(
    served: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_session_file(tmp_path)
    caplog.set_level(logging.INFO, logger="dcv_widget.node.verifier")
    client = "198.51.100.9"
    yes = post(served, sessionId=SESSION, authenticationToken=TOKEN, clientAddress=client)
    assert (yes.get("result"), yes.findtext("username")) == ("yes", "alice")
    wrong = post(served, sessionId=SESSION, authenticationToken="guess", clientAddress=client)
    assert wrong.get("result") == "no"
    assert post(served).get("result") == "no"  # nothing asked, nothing granted
    assert f"{SESSION}: yes for alice" in caplog.text and f"{SESSION}: no" in caplog.text
    assert TOKEN not in caplog.text and "guess" not in caplog.text


def test_http_server_refuses_oversized_requests(served: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(served, data=b"x" * 100_000, timeout=10)
    assert refused.value.code == 413
    refused.value.close()  # the error holds the open reply


# -- the owner cache ---------------------------------------------------------------------------


class Clock:
    """An injected clock: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingOwners:
    """DCV's answers, counting how often it is asked about each session."""

    def __init__(self, owners: dict[str, str]) -> None:
        self.owners = owners
        self.asked: list[str] = []

    def __call__(self, session_id: str) -> str | None:
        self.asked.append(session_id)
        return self.owners.get(session_id)


def test_the_owner_is_asked_once_for_repeated_requests(tmp_path: Path) -> None:
    write_session_file(tmp_path)
    dcv = CountingOwners({SESSION: "alice"})
    cached = OwnerCache(dcv, clock=Clock())
    account = (str(tmp_path), os.getuid())
    decide = partial(verify, owner_of=cached, account_of=lambda user: account)
    for _ in range(20):
        assert decide(SESSION, TOKEN) == "alice"
        assert decide(SESSION, "a-wrong-token") is None  # the token is still checked each time
    assert dcv.asked == [SESSION]


def test_cached_owners_expire(tmp_path: Path) -> None:
    clock = Clock()
    dcv = CountingOwners({SESSION: "alice"})
    cached = OwnerCache(dcv, ttl=60, clock=clock)
    assert cached(SESSION) == "alice"
    clock.now += 59
    assert cached(SESSION) == "alice"
    assert dcv.asked == [SESSION]
    clock.now += 1  # 60 s after DCV answered: asked again
    dcv.owners[SESSION] = "bob"
    assert cached(SESSION) == "bob"
    assert dcv.asked == [SESSION, SESSION]


def test_unknown_sessions_are_never_cached() -> None:
    """A refusal is not remembered: the session may be created a moment later, and nothing but
    an owner DCV named can ever come out of the cache."""
    dcv = CountingOwners({})
    cached = OwnerCache(dcv, clock=Clock())
    assert cached(SESSION) is None
    assert cached(SESSION) is None
    assert len(cached) == 0 and dcv.asked == [SESSION, SESSION]
    dcv.owners[SESSION] = "alice"  # the job created it meanwhile
    assert cached(SESSION) == "alice"


def test_the_cache_is_bounded() -> None:
    dcv = CountingOwners({session_of(str(n)): f"user{n}" for n in range(100)})
    cached = OwnerCache(dcv, max_entries=10, clock=Clock())
    for n in range(100):
        assert cached(session_of(str(n))) == f"user{n}"
    assert len(cached) == 10
    dcv.asked.clear()
    assert cached(session_of("99")) == "user99"  # the newest are kept
    assert cached(session_of("0")) == "user0"  # the oldest were dropped: asked again
    assert dcv.asked == [session_of("0")]
    assert len(cached) == 10


def test_bad_cache_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="ttl"):
        OwnerCache(ttl=0)
    with pytest.raises(ValueError, match="max_entries"):
        OwnerCache(max_entries=0)


# -- the server: a bounded pool ----------------------------------------------------------------


def accept_queue(port: int) -> int:
    """How many connections wait in the kernel's accept queue of the socket listening on
    127.0.0.1:port (/proc/net/tcp's rx_queue of a LISTEN socket)."""
    wanted = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and fields[3] == "0A":
            return int(fields[4].split(":")[1], 16)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


def test_at_most_n_requests_are_decided_at_once() -> None:
    workers, extra = 4, 5
    lock = threading.Condition()
    inside = entered = peak = 0
    release = threading.Event()

    def slow_decide(session_id: str, token: str) -> str | None:
        nonlocal inside, entered, peak
        with lock:
            inside += 1
            entered += 1
            peak = max(peak, inside)
            lock.notify_all()
        release.wait(timeout=60)
        with lock:
            inside -= 1
        return None

    def has_entered(n: int) -> Callable[[], bool]:
        return lambda: entered == n

    before = set(threading.enumerate())
    server = VerifierServer(("127.0.0.1", 0), slow_decide, workers=workers)
    assert set(threading.enumerate()) - before == {*server.workers, server.reaper}  # fixed
    assert len(server.workers) == workers
    port = server.server_address[1]
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    answers: list[str | None] = []

    def client() -> None:
        answers.append(post(f"http://127.0.0.1:{port}/", sessionId=SESSION).get("result"))

    clients = [threading.Thread(target=client) for _ in range(workers + extra)]
    try:
        # The first N are taken by the N workers...
        for n, thread in enumerate(clients[:workers], start=1):
            thread.start()
            with lock:
                assert lock.wait_for(has_entered(n), timeout=30), entered
        # ...the next ones wait in the kernel's listen backlog, not in a thread of their own.
        for n, thread in enumerate(clients[workers:], start=1):
            thread.start()
            for _ in range(3000):
                if accept_queue(port) == n:
                    break
                time.sleep(0.01)
            assert accept_queue(port) == n
        with lock:
            assert entered == workers and peak == workers
        started = set(threading.enumerate()) - before
        assert started == {*server.workers, server.reaper, serving, *clients}  # none per request
    finally:
        release.set()
        for thread in clients:
            thread.join(timeout=60)
        server.shutdown()
        server.server_close()
    # Once let go, every request was answered, never more than N at a time.
    assert answers == ["no"] * (workers + extra)
    assert (entered, peak) == (workers + extra, workers)


def test_a_client_trickling_bytes_is_cut_off_and_frees_its_worker() -> None:
    """Slowloris: a byte now and then keeps every read under the socket timeout; the request's
    deadline still ends it, and the only worker answers the next client."""
    server = VerifierServer(("127.0.0.1", 0), lambda s, t: None, workers=1, deadline=1.0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    sent = 0
    cut = threading.Event()

    def trickle() -> None:
        nonlocal sent
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            slow.sendall(b"POST / HTTP/1.1\r\n")
            for _ in range(200):  # 200 x 0.1 s: far longer than the deadline
                try:
                    slow.sendall(b"X")
                except OSError:
                    break
                sent += 1
                time.sleep(0.1)
            cut.set()

    trickling = threading.Thread(target=trickle, daemon=True)
    trickling.start()
    try:
        answer = post(f"http://127.0.0.1:{port}/", sessionId=SESSION).get("result")
        assert answer == "no"
        assert sent < 200  # answered while the trickle would still be going
        assert cut.wait(30) and sent < 200  # the trickling connection was closed by the server
    finally:
        server.shutdown()
        server.server_close()


def test_a_failing_decision_is_a_no_and_frees_its_worker() -> None:
    def broken(session_id: str, token: str) -> str | None:
        raise RuntimeError("dcv crashed")

    server = VerifierServer(("127.0.0.1", 0), broken, workers=1)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        for _ in range(3):  # one worker: each answer needs the previous one's worker back
            assert post(url, sessionId=SESSION, authenticationToken=TOKEN).get("result") == "no"
    finally:
        server.shutdown()
        server.server_close()


# -- the socket: systemd's, or its own ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


needs_socket_activate = pytest.mark.skipif(
    shutil.which("systemd-socket-activate") is None,
    reason="systemd-socket-activate is not installed (Debian's systemd package)",
)


@needs_socket_activate
def test_serves_on_the_socket_systemd_passes(tmp_path: Path) -> None:
    """systemd's own socket-activation tool holds the port and starts the verifier on the first
    connection with the socket as fd 3 (LISTEN_FDS, LISTEN_PID): the protocol of the node's
    dcv-widget-verifier.socket. The default port (privileged) could not even be bound here."""
    port = free_port()
    log = tmp_path / "verifier.log"
    env_names = ["PATH", "PYTHONPATH", "HOME"]
    with open(log, "wb") as out:
        activator = subprocess.Popen(
            ["systemd-socket-activate", "-l", f"127.0.0.1:{port}"]
            + [f"--setenv={name}" for name in env_names if name in os.environ]
            + [sys.executable, "-m", "dcv_widget.node.verifier"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(500):
            if "Listening on" in log.read_text():
                break
            assert activator.poll() is None, log.read_text()
            time.sleep(0.02)
        url = f"http://127.0.0.1:{port}/"
        reply = post(url, sessionId=SESSION, authenticationToken=TOKEN)
        assert reply.get("result") == "no"  # DCV knows no such session on this machine
        assert post(url, sessionId="console").get("result") == "no"
        text = log.read_text()
        assert f"listening on 127.0.0.1:{port} (the socket systemd passed)" in text, text
        assert activator.poll() is None  # still serving: the same process, exec'd in place
    finally:
        activator.terminate()
        activator.wait(timeout=10)
    assert TOKEN not in log.read_text()


def test_without_systemds_socket_it_binds_its_own(tmp_path: Path) -> None:
    """LISTEN_FDS meant for another process (LISTEN_PID not ours) is ignored, and the default
    port, privileged, is refused to an ordinary user with a message saying what to do."""
    env = {**os.environ, "LISTEN_FDS": "1", "LISTEN_PID": "1"}
    if os.getuid() != 0:
        refused = subprocess.run(
            [sys.executable, "-m", "dcv_widget.node.verifier"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert refused.returncode == 1
        assert f"cannot listen on 127.0.0.1:{DEFAULT_PORT}: Permission denied" in refused.stderr
        assert "need root" in refused.stderr and "--port 0" in refused.stderr
    log = tmp_path / "verifier.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dcv_widget.node.verifier", "--port", "0"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(500):
            if "listening on" in log.read_text():
                break
            assert process.poll() is None, log.read_text()
            time.sleep(0.02)
        assert "(a socket of its own)" in log.read_text()
        assert "is not privileged on this node" in log.read_text()  # a free port is a test's
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_default_port_is_privileged() -> None:
    assert 0 < DEFAULT_PORT < 1024
