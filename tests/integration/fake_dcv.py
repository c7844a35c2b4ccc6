"""The stand-in DCV node of tests/fakes, started for one test: fake `dcv` state, the real
verifier, the fake DCV web server and a fake IMDS; and what a client does with a connect URL."""

from __future__ import annotations

import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.etree import ElementTree

from dcv_widget.desktops.manager import SessionManager

FAKES = Path(__file__).resolve().parent.parent / "fakes"


@dataclass
class FakeNode:
    """The stand-in DCV node: fake `dcv` state, the real verifier, the fake web server.

    `cert` is the web server's certificate (PEM), which a dcv job on this node records in its
    session file (read over loopback from the port dcv.conf names, as on a real node); `tls`
    trusts it.
    """

    state: Path
    logs: list[Path]
    verifier_url: str
    web_port: int
    cert: str
    tls: ssl.SSLContext
    env: dict[str, str] = field(default_factory=dict)

    def dcv(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The stand-in `dcv` CLI on this node's state."""
        return subprocess.run(
            ["dcv", *args],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **self.env},
        )

    def connect(self, url: str) -> http.client.HTTPResponse | None:
        """What DCV's web client does with a connect URL: the token from the query, the session
        from the fragment. Accepted: the open reply, connected until closed. Refused: None."""
        parts = urlsplit(url)
        token = parse_qs(parts.query)["authToken"][0]
        query = urlencode({"authToken": token, "sessionId": parts.fragment})
        assert parts.hostname is not None and parts.port is not None
        client = http.client.HTTPSConnection(
            parts.hostname, parts.port, context=self.tls, timeout=15
        )
        client.request("GET", f"/connect?{query}")
        reply = client.getresponse()
        line = reply.readline().decode()
        if reply.status == 200 and line.startswith("accepted "):
            return reply  # holds the connection: http.client handed it over to the reply
        reply.close()
        assert reply.status == 403 and "refused" in line, (reply.status, line)
        return None

    def verifier_says(self, session_id: str, token: str) -> str | None:
        form = urlencode({"sessionId": session_id, "authenticationToken": token}).encode()
        with urllib.request.urlopen(self.verifier_url, data=form, timeout=10) as reply:
            auth = ElementTree.fromstring(reply.read())
        return auth.findtext("username") if auth.get("result") == "yes" else None

    def connections(self, session_id: str) -> int:
        listed = self.dcv("list-connections", "-j", session_id)
        return len(json.loads(listed.stdout)) if listed.returncode == 0 else -1

    def exists(self, session_id: str) -> bool:
        return self.dcv("describe-session", session_id).returncode == 0


def recorded_session_id(manager: SessionManager, job_id: str) -> str:
    """The DCV session name the job recorded in its session file (the one Connect opens): its
    suffix is random, so it is never derived from the job id."""
    fields = json.loads(Path(manager.paths().session_file(job_id)).read_text())
    session_id = fields["session_id"]
    assert isinstance(session_id, str)
    assert re.fullmatch(rf"dcvw-{job_id}-[a-z0-9]{{16}}", session_id), session_id
    return session_id


def serve(argv: list[str], log: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start a server that logs `listening on 127.0.0.1:PORT`; return it and its port."""
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    for _ in range(100):
        found = re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text())
        if found:
            return process, int(found.group(1))
        assert process.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"{argv[1:3]} did not start: {log.read_text()}")


@contextmanager
def running_fake_dcv(folder: Path) -> Iterator[FakeNode]:
    """Start the stand-in node's servers; its `env` is what a job needs to use them (the fakes
    first on PATH, their state, ports and the fake IMDS)."""
    state = folder / "dcv-state"
    state.mkdir()
    env = {
        "PATH": f"{FAKES / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "FAKE_DCV_STATE": str(state),
        "DCV_WIDGET_DCV_CONF": str(folder / "dcv.conf"),
    }
    run_env = {**os.environ, **env}
    python = sys.executable
    logs = [folder / name for name in ("imds.log", "verifier.log", "web.log")]
    # The node's "public" address is loopback, where this machine's browser reaches it.
    imds_argv = [python, str(FAKES / "imds.py"), "public-ipv4=127.0.0.1"]
    imds, imds_port = serve(imds_argv, logs[0], run_env)
    verifier, verifier_port = serve(
        [python, "-m", "dcv_widget.node.verifier", "--port", "0"], logs[1], run_env
    )
    verifier_url = f"http://127.0.0.1:{verifier_port}/"
    web, web_port = serve(
        [python, str(FAKES / "dcv_web.py"), "--verifier", verifier_url, "--state", str(state),
         "--cert-dir", str(folder)],
        logs[2],
        run_env,
    )  # fmt: skip
    (folder / "dcv.conf").write_text(f"[connectivity]\nweb-port={web_port}\n")
    env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = f"http://127.0.0.1:{imds_port}"
    cert = (folder / "cert.pem").read_text()
    tls = ssl.create_default_context(cadata=cert)
    try:
        yield FakeNode(state, logs, verifier_url, web_port, cert, tls, env)
    finally:
        for process in (web, verifier, imds):
            process.terminate()
            process.wait(timeout=10)
