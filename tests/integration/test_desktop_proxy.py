"""The desktop proxy of the Jupyter server extension, attacked and used through a real Jupyter
server, real Slurm jobs and real unix users (docs/security.md, "The desktop proxy").

The desktop behind it is tests/fakes/echo_desktop.py, registered the way a desktop job
registers itself (a running dcv-widget job of this user, its 0600 session file), so each test
sees exactly what crossed the proxy. The real noVNC desktop through the proxy is in
test_novnc_desktop.py and the e2e tests.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import pytest
import websocket

from dcv_widget.access.instructions import JUPYTER_ROUTE_ENV
from dcv_widget.desktops.engines.novnc import vnc_password
from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import SessionState
from dcv_widget.desktops.session_file import SessionPaths
from dcv_widget.desktops.slurm import JOB_NAME, JobTag, job_comment

if TYPE_CHECKING:
    from tests.e2e.lab import Lab, connect_target, running_lab
    from tests.fakes.dcv_web import self_signed
    from tests.integration.fake_dcv import (
        FAKES,
        FakeNode,
        recorded_session_id,
        running_fake_dcv,
        serve,
    )
else:
    from e2e.lab import Lab, connect_target, running_lab
    from fake_dcv import FAKES, FakeNode, recorded_session_id, running_fake_dcv, serve
    from fakes.dcv_web import self_signed

OTHER_USER = "dcvstudent2"
# Every secret a fake desktop of this module held: none may reach the Jupyter server's log.
SECRETS: list[str] = []


@dataclass(frozen=True)
class Upstream:
    port: int
    cert: str
    log: Path


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    folder = tmp_path_factory.mktemp("echo-desktop")
    cert, key = self_signed(folder)
    log = folder / "echo.log"
    argv = [sys.executable, str(FAKES / "echo_desktop.py"), "--cert", str(cert), "--key", str(key)]
    process, port = serve(argv, log, dict(os.environ))
    yield Upstream(port, cert.read_text(), log)
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("proxy-lab")
    root = folder / "root"
    root.mkdir()
    with running_lab(root, folder, artifacts / "proxy-lab.log") as running:
        status, _, body = request(running, "GET", "/dcv-widget/api/info")
        assert status == 200, f"the dcv_widget server extension is not loaded: {body[:200]!r}"
        yield running


@dataclass(frozen=True)
class Server:
    """A Jupyter server to send requests to: its URL and token."""

    url: str
    token: str


def request(
    lab: Lab | Server,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    *,
    login: bool = True,
    body: bytes | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One raw request (the path exactly as given), logged in with Jupyter's token header."""
    connection = http.client.HTTPConnection(lab.url.removeprefix("http://"), timeout=30)
    sent = dict(headers or {})
    if login:
        sent["Authorization"] = f"token {lab.token}"
    connection.request(method, path, body=body, headers=sent)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, response.headers, data


@dataclass(frozen=True)
class FakeDesktop:
    job_id: str
    secret: str

    @property
    def prefix(self) -> str:
        return f"/dcv-widget/desktops/{self.job_id}/"


def _submit(user: str | None, comment: str) -> str:
    argv = ["sbatch", "--parsable", f"--job-name={JOB_NAME}", "--partition=dcv", "--time=10",
            f"--comment={comment}", "--output=/dev/null", "--wrap=sleep 600"]  # fmt: skip
    if user:
        argv = ["sudo", "-n", "-u", user, "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, cwd="/tmp")
    return done.stdout.strip().split(";")[0]


def _wait_running(job_id: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        state = subprocess.run(
            ["squeue", "--noheader", "--states=all", f"--jobs={job_id}", "--format=%T"],
            capture_output=True, text=True, check=False,
        ).stdout.strip()  # fmt: skip
        if state == "RUNNING":
            return
        assert time.monotonic() < deadline, f"job {job_id} is {state or 'gone'}, not running"
        time.sleep(0.3)


@pytest.fixture
def desktop(upstream: Upstream) -> Iterator[Callable[..., FakeDesktop]]:
    """Register the echo server as a desktop of this user: a running dcv-widget job and its
    session file, as a novnc job writes them (any field can be changed)."""
    made: list[str] = []
    paths = SessionPaths(str(Path.home()))

    def make(*, register: bool = True, comment: str = "", **fields: Any) -> FakeDesktop:
        tag = JobTag("novnc", uuid.uuid4().hex[:12], "", "jupyter")
        job_id = _submit(None, comment or job_comment(tag))
        made.append(job_id)
        _wait_running(job_id)
        secret = secrets.token_urlsafe(24)
        SECRETS.extend((secret, vnc_password(secret)))
        record = {"version": 1, "engine": "novnc", "job_id": job_id, "launch": tag.launch_id,
                  "host": "127.0.0.1", "port": upstream.port, "secret": secret,
                  "cert": upstream.cert, **fields}  # fmt: skip
        if register:
            Path(paths.sessions).mkdir(parents=True, exist_ok=True, mode=0o700)
            session_file = Path(paths.session_file(job_id))
            session_file.write_text(json.dumps(record))
            session_file.chmod(0o600)
        return FakeDesktop(job_id, secret)

    yield make
    for job_id in made:
        subprocess.run(["scancel", job_id], check=False)
        Path(paths.session_file(job_id)).unlink(missing_ok=True)


def echoed(body: bytes) -> dict[str, Any]:
    facts: dict[str, Any] = json.loads(body)
    facts["header_names"] = {name.lower() for name, _ in facts["headers"]}
    return facts


# -- what crosses ---------------------------------------------------------------------------------


def test_http_reaches_the_desktop_without_jupyters_credentials(
    lab: Lab, desktop: Callable[..., FakeDesktop]
) -> None:
    fake = desktop()
    status, _, body = request(
        lab,
        "GET",
        f"{fake.prefix}echo/a%20b?x=1&token={lab.token}&_xsrf=abc",
        {
            "Cookie": "_xsrf=abc; username-127-0-0-1=secret-cookie",
            "X-XSRFToken": "abc",
            "Referer": f"{lab.url}/lab?token={lab.token}",
            "Origin": lab.url,
            "X-Forwarded-For": "10.9.9.9",
            "X-Desktop-Client": "kept",
        },
    )
    assert status == 200, body
    facts = echoed(body)
    assert facts["path"] == "/echo/a%20b"
    # Jupyter's token and XSRF value stay here; the proxy adds websockify's own token.
    assert facts["query"] == f"x=1&token={fake.secret}"
    assert not {"cookie", "authorization", "x-xsrftoken", "referer", "origin",
                "x-forwarded-for"} & facts["header_names"]  # fmt: skip
    assert ["X-Desktop-Client", "kept"] in facts["headers"]
    assert lab.token not in body.decode()


def test_a_post_is_relayed_whole(lab: Lab, desktop: Callable[..., FakeDesktop]) -> None:
    fake = desktop()
    payload = os.urandom(300_000)
    # tornado's client would add a form Content-Type to a POST without one (relay.py says so).
    headers = {"Content-Type": "application/octet-stream"}
    status, _, body = request(lab, "POST", f"{fake.prefix}echo", headers, body=payload)
    assert status == 200
    assert echoed(body)["body_length"] == len(payload)


def test_cookies_stay_under_the_desktops_path_and_origin_wide_headers_are_dropped(
    lab: Lab, desktop: Callable[..., FakeDesktop]
) -> None:
    fake = desktop()
    status, headers, _ = request(lab, "GET", f"{fake.prefix}cookie")
    assert status == 200
    # Jupyter's own login cookie (the request logged in with its token) is not the desktop's.
    cookies = [c for c in headers.get_all("Set-Cookie") or [] if not c.startswith("username-")]
    assert cookies == [
        f"root=1; Path={fake.prefix}; HttpOnly",
        f"sub=2; Path={fake.prefix}sub; Secure",
        f"wide=3; Path={fake.prefix}",
    ]
    for header in ("Strict-Transport-Security", "Clear-Site-Data", "X-Frame-Options"):
        assert headers.get(header) is None, header
    # JupyterLab's tab may frame the desktop (same origin); no other site may.
    assert headers["Content-Security-Policy"] == "frame-ancestors 'self'"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/next/page?a=1", "next/page?a=1"),
        ("relative/page", None),  # relative to the page: unchanged
        ("https://evil.example/steal", ""),
        ("//evil.example/steal", ""),
    ],
)
def test_redirects_stay_under_the_desktop(
    lab: Lab, desktop: Callable[..., FakeDesktop], target: str, expected: str | None
) -> None:
    fake = desktop()
    from urllib.parse import quote

    status, headers, _ = request(lab, "GET", f"{fake.prefix}redirect?to={quote(target, safe='')}")
    assert status == 302
    location = headers["Location"]
    assert location == (target if expected is None else fake.prefix + expected)


def test_responses_stream_rather_than_wait_for_the_whole(
    lab: Lab, desktop: Callable[..., FakeDesktop], upstream: Upstream
) -> None:
    # The desktop sends one chunk, then waits for /open-gate: a relay that buffered whole
    # responses would hand the browser nothing before the gate opened.
    fake = desktop()
    connection = http.client.HTTPConnection(lab.url.removeprefix("http://"), timeout=30)
    connection.request(
        "GET", f"{fake.prefix}gated", headers={"Authorization": f"token {lab.token}"}
    )
    response = connection.getresponse()
    assert response.status == 200
    first = response.read1(65536)
    assert first and set(first) == {0x5A}, "nothing arrived before the desktop finished"
    assert request(lab, "GET", f"{fake.prefix}open-gate")[0] == 200
    rest = response.read()
    assert len(first) + len(rest) == 2 * 65536
    connection.close()


def test_a_large_response_arrives_whole(lab: Lab, desktop: Callable[..., FakeDesktop]) -> None:
    fake = desktop()
    status, _, body = request(lab, "GET", f"{fake.prefix}big?mb=48")
    assert status == 200
    assert len(body) == 48 * 1024 * 1024 and body.count(0x5A) == len(body)


def _ws(lab: Lab | Server, path: str, **options: Any) -> websocket.WebSocket:
    return websocket.create_connection(
        lab.url.replace("http://", "ws://") + path, timeout=30, **options
    )


def test_websocket_frames_cross_both_ways_with_the_subprotocol(
    lab: Lab, desktop: Callable[..., FakeDesktop]
) -> None:
    fake = desktop()
    ws = _ws(
        lab,
        f"{fake.prefix}ws?token={lab.token}",
        header=[f"Authorization: token {lab.token}", "Cookie: username-x=secret-cookie"],
        subprotocols=["binary", "base64"],
    )
    assert ws.getsubprotocol() == "binary"
    facts = echoed(str(ws.recv()).encode())
    assert facts["path"] == "/ws"
    assert facts["query"] == f"token={fake.secret}"
    assert not {"cookie", "authorization"} & facts["header_names"]
    big = os.urandom(8 * 1024 * 1024)
    ws.send_binary(big)
    assert ws.recv() == big
    for n in range(200):
        ws.send_binary(n.to_bytes(4, "big"))
    echoes = [ws.recv() for _ in range(200)]
    assert echoes == [n.to_bytes(4, "big") for n in range(200)]
    ws.send("text stays text")
    assert ws.recv() == "text stays text"
    ws.close()


def test_desktop_traffic_counts_as_activity_of_the_jupyter_server(
    lab: Lab, desktop: Callable[..., FakeDesktop]
) -> None:
    """JupyterHub's idle culler reads the server's last activity: someone in a desktop is
    using it (docs/access-routes.md, JupyterHub)."""

    def last_activity() -> str:
        status, _, body = request(lab, "GET", "/api/status")
        assert status == 200
        return str(json.loads(body)["last_activity"])

    fake = desktop()
    time.sleep(6)  # the proxy marks activity at most every 5 s
    before = last_activity()
    ws = _ws(lab, f"{fake.prefix}ws", header=[f"Authorization: token {lab.token}"])
    ws.recv()
    ws.send_binary(b"key press")
    assert ws.recv() == b"key press"
    ws.close()
    assert last_activity() > before


# -- who may ----------------------------------------------------------------------------------


def test_nothing_without_a_logged_in_user(lab: Lab, desktop: Callable[..., FakeDesktop]) -> None:
    fake = desktop()
    status, headers, _ = request(lab, "GET", f"{fake.prefix}echo", login=False)
    assert status == 302 and headers["Location"].startswith("/login?next=")
    assert request(lab, "POST", f"{fake.prefix}echo", login=False, body=b"x")[0] == 403
    assert request(lab, "GET", f"/dcv-widget/open/{fake.job_id}", login=False)[0] == 302
    # A WebSocket with no login is refused before anything else (GHSA-w3vc-fx9p-wp4v).
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        _ws(lab, f"{fake.prefix}ws")
    assert refused.value.status_code == 403


def _login_cookie(lab: Lab) -> str:
    """The cookie a browser holds after logging in (what a cross-site page would ride on)."""
    status, headers, _ = request(lab, "GET", f"/lab?token={lab.token}", login=False)
    assert status == 200
    cookies = [c.split(";")[0] for c in headers.get_all("Set-Cookie") or []]
    login = [c for c in cookies if c.startswith("username-")]
    assert login, cookies
    return "; ".join(login)


def test_cross_origin_requests_riding_the_login_cookie_are_refused(
    lab: Lab, desktop: Callable[..., FakeDesktop], upstream: Upstream
) -> None:
    fake = desktop()
    cookie = _login_cookie(lab)
    evil, own = "http://evil.example", lab.url
    marker = f"cross-{uuid.uuid4().hex}"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        _ws(lab, f"{fake.prefix}ws?{marker}", cookie=cookie, origin=evil)
    assert refused.value.status_code == 403
    # Refused before the desktop was asked anything (no upstream connection left open).
    assert marker not in upstream.log.read_text()
    for origin, expected in ((evil, 403), (own, 200)):
        headers = {"Cookie": cookie, "Origin": origin}
        assert request(lab, "POST", f"{fake.prefix}echo", headers, login=False, body=b"x")[0] == (
            expected
        )
    # The same cookie from the page's own origin: the desktop's web client at work.
    ws = _ws(lab, f"{fake.prefix}ws", cookie=cookie, origin=own)
    assert echoed(str(ws.recv()).encode())["path"] == "/ws"
    ws.close()


def test_only_this_users_running_desktops_are_reached(
    lab: Lab, desktop: Callable[..., FakeDesktop]
) -> None:
    def refused(job_id: str, words: str) -> None:
        for path in (f"/dcv-widget/desktops/{job_id}/echo", f"/dcv-widget/open/{job_id}"):
            status, _, body = request(lab, "GET", path)
            assert status == 404, (path, status, body[:300])
            assert words in body.decode(), body.decode()[-600:]

    refused("999999999", "is not one of your desktops")
    plain = desktop(comment="not a desktop")  # this user's job, but not a dcv-widget desktop
    refused(plain.job_id, "is not one of your desktops")
    unpublished = desktop(register=False)
    refused(unpublished.job_id, "not ready yet")
    ended = desktop()
    subprocess.run(["scancel", ended.job_id], check=True)
    deadline = time.monotonic() + 30
    while request(lab, "GET", f"/dcv-widget/desktops/{ended.job_id}/echo")[0] != 404:
        assert time.monotonic() < deadline
        time.sleep(1)
    refused(ended.job_id, "not")
    # Another user's desktop job on the same node: its id is not this user's to relay.
    tag = JobTag("novnc", uuid.uuid4().hex[:12], "", "jupyter")
    theirs = _submit(OTHER_USER, job_comment(tag))
    try:
        _wait_running(theirs)
        refused(theirs, "is not one of your desktops")
    finally:
        subprocess.run(["sudo", "-n", "-u", OTHER_USER, "scancel", theirs], check=False)


def test_another_users_jupyter_server_cannot_reach_this_users_desktop(
    desktop: Callable[..., FakeDesktop], tmp_path_factory: pytest.TempPathFactory
) -> None:
    fake = desktop()
    folder = Path(f"/tmp/dcvw-proxy-{OTHER_USER}-{uuid.uuid4().hex[:8]}")
    token = secrets.token_hex(16)
    env = {
        "HOME": f"/home/{OTHER_USER}", "USER": OTHER_USER, "PATH": os.environ["PATH"],
        "JUPYTER_TOKEN": token, "JUPYTER_CONFIG_DIR": f"{folder}/config",
        "JUPYTER_RUNTIME_DIR": f"{folder}/runtime",
    }  # fmt: skip
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    jupyter = str(Path(sys.executable).parent / "jupyter")
    port = _free_port()
    server = subprocess.Popen(
        ["sudo", "-n", "-u", OTHER_USER, "--", "env", "-i", *[f"{k}={v}" for k, v in env.items()],
         "sh", "-c", f"mkdir -p {folder} && cd {folder} && exec {jupyter} server --no-browser "
         f"--ServerApp.ip=127.0.0.1 --ServerApp.port={port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        theirs = Server(f"http://127.0.0.1:{port}", token)
        deadline = time.monotonic() + 60
        while True:
            try:
                if request(theirs, "GET", "/dcv-widget/api/info")[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "their server died"
            time.sleep(0.5)
        for path in (f"{fake.prefix}echo", f"/dcv-widget/open/{fake.job_id}"):
            status, _, body = request(theirs, "GET", path)
            assert status == 404, (path, body[:300])
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            _ws(theirs, f"{fake.prefix}ws", header=[f"Authorization: token {token}"])
        assert refused.value.status_code == 404
    finally:
        subprocess.run(
            ["sudo", "-n", "-u", OTHER_USER, "pkill", "-u", OTHER_USER, "-f", f"port={port}"],
            check=False,
        )
        server.wait(timeout=30)
        subprocess.run(["sudo", "-n", "-u", OTHER_USER, "rm", "-rf", str(folder)], check=False)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- what the job recorded is checked -------------------------------------------------------


def test_a_desktop_presenting_another_certificate_gets_nothing(
    lab: Lab, desktop: Callable[..., FakeDesktop], upstream: Upstream, tmp_path: Path
) -> None:
    other_cert, _ = self_signed(tmp_path)  # the same names, another key: an impostor
    fake = desktop(cert=other_cert.read_text())
    marker = f"never-{uuid.uuid4().hex}"
    status, _, body = request(lab, "GET", f"{fake.prefix}echo/{marker}")
    assert status == 502
    assert "TLS certificate is not the one its job recorded" in body.decode()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        _ws(lab, f"{fake.prefix}ws?{marker}", header=[f"Authorization: token {lab.token}"])
    assert refused.value.status_code == 502
    assert marker not in upstream.log.read_text()


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"host": "127.0.0.2"}, "not an address of its node"),
        ({"cert": ""}, "recorded no TLS certificate"),
        ({"port": "not a port"}, "malformed"),
    ],
)
def test_a_session_file_that_does_not_fit_its_job_is_refused(
    lab: Lab, desktop: Callable[..., FakeDesktop], fields: dict[str, Any], words: str
) -> None:
    fake = desktop(**fields)
    status, _, body = request(lab, "GET", f"{fake.prefix}echo")
    assert status == 502
    assert words in body.decode()


@pytest.mark.parametrize(
    "tail",
    [
        "..%2F..%2Fapi%2Fcontents",
        "../../api/contents",
        "/evil.example/x",
        "@evil.example/x",
        "http://evil.example/x",
        "%2F%2Fevil.example%2Fx",
        "a%0d%0aHost:%20evil.example",
        "a\\..\\b",
    ],
)
def test_hostile_paths_stay_on_the_desktop(
    lab: Lab, desktop: Callable[..., FakeDesktop], upstream: Upstream, tail: str
) -> None:
    fake = desktop()
    before = upstream.log.read_text().count("\nrequest ")
    status, _, body = request(lab, "GET", f"{fake.prefix}{tail}")
    # Either the proxy refused it (400), or the echo desktop answered (its own 404, or its echo),
    # having received exactly this one request: the path only ever chose a page on it.
    if status == 400:
        assert upstream.log.read_text().split("\nrequest ")[before + 1 :] == []
        return
    # The desktop logs a request once it has answered it: maybe a moment after the answer.
    deadline = time.monotonic() + 10
    while not (relayed := upstream.log.read_text().split("\nrequest ")[before + 1 :]):
        assert time.monotonic() < deadline, "the desktop never saw the request"
        time.sleep(0.1)
    assert b"Desktop:" not in body, body[:300]  # not the proxy's own error page
    assert len(relayed) == 1 and relayed[0].startswith("GET /"), relayed


def test_huge_headers_are_refused_by_the_server(
    lab: Lab, desktop: Callable[..., FakeDesktop]
) -> None:
    fake = desktop()
    try:
        status, _, _ = request(lab, "GET", f"{fake.prefix}echo", {"X-Huge": "a" * 200_000})
    except (ConnectionError, http.client.HTTPException):
        return  # tornado closed the connection: nothing was relayed
    assert status in (400, 431)


def test_connect_leads_into_the_page_with_no_secret_outside_the_fragment(
    lab: Lab, desktop: Callable[..., FakeDesktop]
) -> None:
    fake = desktop()
    status, headers, body = request(lab, "GET", f"/dcv-widget/open/{fake.job_id}")
    assert status == 200  # a page moving on by script: no Location header for a log to keep
    assert headers.get("Location") is None
    location = connect_target(body.decode())
    page, _, fragment = location.partition("#")
    assert page == f"{fake.prefix}vnc.html"
    assert f"password={vnc_password(fake.secret)}" in fragment
    assert f"path=dcv-widget%2Fdesktops%2F{fake.job_id}%2Fwebsockify" in fragment
    assert fake.secret not in location  # websockify's token stays in the Jupyter server
    assert headers["Cache-Control"] == "no-store"


def test_connect_takes_the_browsers_display_choice_into_the_fragment(
    lab: Lab, desktop: Callable[..., FakeDesktop]
) -> None:
    """The card's Display choice arrives in the Connect entry's query (not a secret) and goes
    on in noVNC's page fragment; anything but noVNC's values is refused by name."""
    fake = desktop()
    query = "resize=scale&quality=2&compression=8"
    status, _, body = request(lab, "GET", f"/dcv-widget/open/{fake.job_id}?{query}")
    assert status == 200
    page, _, fragment = connect_target(body.decode()).partition("#")
    assert page == f"{fake.prefix}vnc.html"  # the query stops here: nothing in the page's
    settings = parse_qs(fragment)
    assert (settings["resize"], settings["quality"], settings["compression"]) == (
        ["scale"],
        ["2"],
        ["8"],
    )
    assert settings["password"] == [vnc_password(fake.secret)]
    status, _, body = request(lab, "GET", f"/dcv-widget/open/{fake.job_id}?quality=10")
    assert status == 400
    assert b"display quality: &#x27;10&#x27; is not valid; use a whole number from 0 to 9" in body


# -- a DCV desktop (the stand-in DCV web server, tokens checked by the real verifier) ----------


@pytest.fixture
def dcv_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNode]:
    """The stand-in DCV node, its settings in this process's environment (sbatch hands it to
    the job), and this process a kernel of a server that relays desktops."""
    with running_fake_dcv(tmp_path) as fake:
        monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
        for name, value in {**fake.env, JUPYTER_ROUTE_ENV: "/"}.items():
            monkeypatch.setenv(name, value)
        yield fake


def test_a_dcv_desktop_through_the_proxy(
    lab: Lab, dcv_node: FakeNode, manager: SessionManager, artifacts: Path
) -> None:
    request_ = LaunchRequest(partition="dcv", engine="dcv", time="10", access="jupyter")
    session = manager.launch(request_)
    session = manager.wait_for(
        session.key, lambda s: s.state in (SessionState.READY, SessionState.ENDED), timeout=120
    )
    assert session.state == SessionState.READY, (session.detail, session.log_tail)
    assert (
        manager.connect_url(session.key).result(timeout=30) == f"/dcv-widget/open/{session.job_id}"
    )
    session_id = recorded_session_id(manager, session.job_id)

    status, _, body = request(lab, "GET", f"/dcv-widget/open/{session.job_id}")
    assert status == 200
    prefix = f"/dcv-widget/desktops/{session.job_id}/"
    page, _, fragment = connect_target(body.decode()).partition("#")
    assert page.startswith(f"{prefix}?authToken=") and fragment == session_id
    token = page.split("authToken=", 1)[1]
    # DCV's web client page, then its WebSocket beside it, through the proxy over pinned TLS.
    status, _, body = request(lab, "GET", f"{prefix}?authToken={token}")
    assert status == 200 and b"authToken" in body, body[:300]
    ws = _ws(
        lab,
        f"{prefix}auth?authToken={token}&sessionId={session_id}",
        header=[f"Authorization: token {lab.token}"],
    )
    frame = os.urandom(1 << 20)
    ws.send_binary(frame)
    assert ws.recv() == frame
    ws.close()
    # A wrong token is refused by DCV (the verifier), seen through the proxy as a refusal.
    with pytest.raises(websocket.WebSocketBadStatusException):
        _ws(
            lab,
            f"{prefix}auth?authToken=wrong&sessionId={session_id}",
            header=[f"Authorization: token {lab.token}"],
        )
    log = (artifacts / "proxy-lab.log").read_text()
    assert token not in log
    manager.end(session.key).result(timeout=60)


def test_no_secret_reaches_the_jupyter_servers_log(lab: Lab, artifacts: Path) -> None:
    """Runs last in this module: no secret the tests above used is in the server's log."""
    log = (artifacts / "proxy-lab.log").read_text()
    assert SECRETS, "run with the module's other tests"
    for secret in [lab.token, "secret-cookie", *SECRETS]:
        assert secret not in log
