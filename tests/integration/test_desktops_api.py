"""The Desktops panel's REST API (`<base>dcv-widget/api/…`, dcv_widget/server/rest.py) through a
real Jupyter server, real Slurm jobs and a real other unix user: Jupyter's login and XSRF checks,
the form's validation named by label, another user's job refused, and a real noVNC desktop
launched, relayed and ended through it without any secret crossing.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dcv_widget.desktops.session_file import SessionPaths, parse_session_file
from dcv_widget.desktops.slurm import JobTag, job_comment

if TYPE_CHECKING:
    from tests.e2e.lab import Lab, connect_target, running_lab
    from tests.integration.test_desktop_proxy import OTHER_USER, _submit, _wait_running, request
else:
    from e2e.lab import Lab, connect_target, running_lab
    from test_desktop_proxy import OTHER_USER, _submit, _wait_running, request

API = "/dcv-widget/api"
# The site's settings the server reads (its JUPYTER_CONFIG_DIR): bounds to be refused by, and a
# slow poll short enough that a desktop launched elsewhere shows within the test's patience.
SITE = {"DesktopSettings": {"partition": "dcv", "time": "0:10:00", "max_cpus": 4, "slow_poll": 2}}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("api-lab")
    (folder / "root").mkdir()
    (folder / "config").mkdir()
    (folder / "config" / "jupyter_dcv_widget_config.json").write_text(json.dumps(SITE))
    with running_lab(folder / "root", folder, artifacts / "api-lab.log") as running:
        yield running


def api(
    lab: Lab, method: str, path: str, body: Any = None, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    status, _, raw = request(lab, method, API + path, body=data, **kwargs)
    return status, json.loads(raw) if raw else {}


def cookie_login(lab: Lab) -> tuple[str, str]:
    """A browser's login: Jupyter's login cookie (from opening the page with its token) and the
    XSRF cookie the page sets. Returns (Cookie header, XSRF token)."""
    connection = http.client.HTTPConnection(lab.url.removeprefix("http://"), timeout=30)
    connection.request("GET", f"/lab?token={lab.token}")
    response = connection.getresponse()
    response.read()
    connection.close()
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        jar.load(header)
    assert "_xsrf" in jar, response.headers
    assert any(name.startswith("username-") for name in jar), response.headers
    return "; ".join(f"{k}={m.value}" for k, m in jar.items()), jar["_xsrf"].value


def cards(lab: Lab) -> list[dict[str, Any]]:
    status, body = api(lab, "GET", "/desktops")
    assert status == 200, body
    return list(body["cards"])


def card_until(lab: Lab, ident: str, state: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = next((c for c in cards(lab) if ident in (c["key"], c["job_id"])), {})
        if seen.get("state") == state:
            return seen
        time.sleep(0.5)
    raise AssertionError(f"desktop {ident} is not {state} after {timeout} s: {seen}")


def squeue_state(job_id: str) -> str:
    done = subprocess.run(
        ["squeue", "--noheader", "--states=all", f"--jobs={job_id}", "--format=%T"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout.strip()


# -- who may ask ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/desktops"),
        ("POST", "/desktops"),
        ("POST", "/desktops/123/end"),
        ("GET", "/desktops/123/connect"),
        ("POST", "/form"),
        ("GET", "/partitions"),
        ("GET", "/settings"),
    ],
)
def test_without_a_login_every_endpoint_is_403(lab: Lab, method: str, path: str) -> None:
    status, body = api(lab, method, path, {} if method == "POST" else None, login=False)
    assert status == 403, body
    assert "cards" not in body and "launcher" not in body


def test_writes_need_jupyters_xsrf_token(lab: Lab) -> None:
    """A browser logged in by cookie (no token header) must send the XSRF token on writes: a
    forged cross-site POST carries the cookie but cannot read the token."""
    cookie, xsrf = cookie_login(lab)
    bad = {"time": "forever"}
    status, body = api(lab, "POST", "/desktops", bad, login=False, headers={"Cookie": cookie})
    assert status == 403, body
    assert "xsrf" in body["message"].lower()
    status, body = api(
        lab, "POST", "/desktops/123/end", {}, login=False, headers={"Cookie": cookie}
    )
    assert status == 403, body
    # With the token, the same request reaches the API (and is refused there, for its field).
    headers = {"Cookie": cookie, "X-XSRFToken": xsrf}
    status, body = api(lab, "POST", "/desktops", bad, login=False, headers=headers)
    assert status == 400, body
    assert body["field"] == "time"
    # Reading needs no XSRF token: the cookie is enough.
    status, _ = api(lab, "GET", "/desktops", login=False, headers={"Cookie": cookie})
    assert status == 200


# -- the form's rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "starts"),
    [
        ({"time": "forever"}, "time", "Time limit: 'forever' is not valid"),
        ({"cpus": 9}, "cpus", "CPUs: 9 is not valid; the site allows at most 4"),
        ({"cpus": "two"}, "cpus", "CPUs: 'two' is not valid; use a whole number"),
        ({"memory": "lots"}, "memory", "Memory: 'lots' is not valid"),
        ({"engine": "vnc"}, "engine", "Engine: 'vnc' is not valid"),
        ({"access": "teleport"}, "access", "Access: 'teleport' is not valid"),
        ({"partition": "dcv;rm -rf"}, "partition", "Partition: 'dcv;rm -rf' is not valid"),
        ({"colour": "blue"}, "colour", "colour: not a field of the launcher form"),
    ],
)
def test_a_bad_field_is_400_naming_it_by_its_label(
    lab: Lab, fields: dict[str, Any], field: str, starts: str
) -> None:
    status, body = api(lab, "POST", "/desktops", fields)
    assert status == 400, body
    assert body["field"] == field
    assert body["message"].startswith(starts), body["message"]
    assert body["errors"][field] == body["message"]
    assert body["launcher"]["can_launch"] is False
    # The same words the form shows under the field, from the same check.
    status, form = api(lab, "POST", "/form", fields)
    assert status == 200
    shown = {f["name"]: f["error"] for f in form["fields"]}
    if field in shown:  # a form field (an unknown name has no place to show its error)
        assert shown[field] == body["message"]
    assert form["can_launch"] is False
    # Nothing was submitted: a launch is Submitting on its card from the call on.
    assert not [c for c in cards(lab) if c["state"] == "submitting"]


def test_a_body_that_is_not_an_object_is_400(lab: Lab) -> None:
    status, _, raw = request(lab, "POST", f"{API}/desktops", body=b"[1, 2]")
    assert status == 400
    assert b"JSON object" in raw


def test_settings_and_partitions_are_the_forms(lab: Lab) -> None:
    status, settings = api(lab, "GET", "/settings")
    assert status == 200, settings
    assert settings["defaults"]["partition"] == "dcv"
    assert settings["defaults"]["time"] == "0:10:00"
    assert settings["locked"] is False
    assert settings["launcher_tile"] == "launch"
    assert "CPUs" in settings["bounds"] and "at most 4" in settings["bounds"]
    fields = {f["name"]: f for f in settings["launcher"]["fields"]}
    assert fields["cpus"]["hint"].endswith("at most 4 (c.DesktopSettings.max_cpus)") or (
        "at most 4" in fields["cpus"]["hint"]
    )
    status, partitions = api(lab, "GET", "/partitions")
    assert status == 200
    labels = {o["value"]: o["label"] for o in partitions["options"]}
    assert labels == {o["value"]: o["label"] for o in fields["partition"]["options"]}
    assert labels["dcv"].startswith("dcv") and "CPUs idle" in labels["dcv"]
    assert "down" in labels["dcv-maint"]


def test_the_list_answers_304_while_nothing_changed(lab: Lab) -> None:
    status, headers, _ = request(lab, "GET", f"{API}/desktops")
    assert status == 200
    etag = headers["Etag"]
    status, _, body = request(lab, "GET", f"{API}/desktops", {"If-None-Match": etag})
    assert (status, body) == (304, b"")


# -- whose desktops ------------------------------------------------------------------------------


def test_another_users_desktop_cannot_be_ended_or_opened(lab: Lab) -> None:
    tag = JobTag("novnc", uuid.uuid4().hex[:12], "", "jupyter")
    theirs = _submit(OTHER_USER, job_comment(tag))
    try:
        _wait_running(theirs)
        for ident in (theirs, tag.launch_id):
            status, body = api(lab, "POST", f"/desktops/{ident}/end", {})
            assert status == 404, body
            assert "no desktop of yours" in body["message"]
            status, body = api(lab, "GET", f"/desktops/{ident}/connect")
            assert status == 404, body
        assert theirs not in {c["job_id"] for c in cards(lab)}
        assert squeue_state(theirs) == "RUNNING"
    finally:
        subprocess.run(["sudo", "-n", "-u", OTHER_USER, "scancel", theirs], check=False)


def test_a_desktop_launched_elsewhere_is_listed_and_ended_through_the_api(lab: Lab) -> None:
    """A job of this user's with a dcv-widget comment (launched from a notebook, the CLI) is
    adopted within a slow poll, and End through the API cancels it."""
    tag = JobTag("novnc", uuid.uuid4().hex[:12], "somewhere", "jupyter")
    job_id = _submit(None, job_comment(tag))
    try:
        card = card_until(lab, job_id, "launching", timeout=30)
        assert card["key"] == tag.launch_id
        assert card["actions"] == ["end"]
        status, body = api(lab, "GET", f"/desktops/{job_id}/connect")
        assert status == 409 and "not ready" in body["message"], body
        status, body = api(lab, "POST", f"/desktops/{job_id}/end", {})
        assert status == 202, body
        card = card_until(lab, job_id, "ended", timeout=30)
        assert card["actions"] == ["relaunch", "dismiss"]
        assert squeue_state(job_id) in ("", "CANCELLED", "COMPLETING")
        status, _ = api(lab, "POST", f"/desktops/{job_id}/dismiss", {})
        assert status == 202
        assert job_id not in {c["job_id"] for c in cards(lab)}
    finally:
        subprocess.run(["scancel", job_id], check=False)


# -- a real desktop, end to end ------------------------------------------------------------------


def test_launch_ready_connect_end_without_a_secret_crossing(lab: Lab, artifacts: Path) -> None:
    status, body = api(lab, "POST", "/desktops", {"cpus": 1, "engine": "novnc"})
    assert status == 201, body
    key = body["card"]["key"]
    assert body["card"]["state"] == "submitting"
    job_id, secret = "", ""
    answers: list[bytes] = []
    try:
        card = card_until(lab, key, "ready", timeout=120)
        job_id = card["job_id"]
        secret = _secret_of(job_id)
        assert len(secret) > 20
        assert card["title"].startswith(f"Desktop {job_id} · noVNC on partition dcv")
        assert card["actions"] == ["connect", "end"]
        assert card["access"]["open_path"] == f"dcv-widget/open/{job_id}"
        status, connect = api(lab, "GET", f"/desktops/{job_id}/connect")
        assert status == 200
        assert connect == {"path": f"dcv-widget/open/{job_id}"}
        # The proxy's entry leads into the desktop's page through the server.
        status, _, page = request(lab, "GET", "/" + connect["path"])
        assert status == 200
        target = connect_target(page.decode())
        assert target.startswith(f"/dcv-widget/desktops/{job_id}/vnc.html")
        for path in ("/desktops", f"/desktops/{job_id}/connect", "/settings", "/partitions"):
            answers.append(request(lab, "GET", API + path)[2])

        status, _ = api(lab, "POST", f"/desktops/{key}/end", {})
        assert status == 202
        ending = next(c for c in cards(lab) if c["key"] == key)
        assert ending["state"] in ("ending", "ended")
        card_until(lab, key, "ended", timeout=60)
        answers.append(request(lab, "GET", f"{API}/desktops")[2])
        assert squeue_state(job_id) in ("", "CANCELLED", "COMPLETING", "COMPLETED")
    finally:
        if job_id:
            subprocess.run(["scancel", job_id], check=False)
    for answer in answers:
        assert secret.encode() not in answer
    assert secret not in (artifacts / "api-lab.log").read_text()


def _secret_of(job_id: str) -> str:
    """The desktop's secret, from the session file its job wrote (0600)."""
    path = Path(SessionPaths(str(Path.home())).session_file(job_id))
    return parse_session_file(path.read_text()).secret
