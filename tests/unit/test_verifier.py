"""The DCV token verifier: its decisions, the session-file checks, and its HTTP answer."""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest

from dcv_widget.verifier import (
    VerifierServer,
    answer,
    job_id_of,
    read_session_record,
    token_matches,
    verify,
)

TOKEN = "k7Qx-good-token_0123456789abcdefghijklmnopq"
SESSION = "dcvw-42"


def write_session_file(home: Path, job_id: str = "42", mode: int = 0o600, **fields: str) -> Path:
    sessions = home / ".dcv-widget" / "sessions"
    sessions.mkdir(parents=True, exist_ok=True)
    record = {"engine": "dcv", "job_id": job_id, "session_id": f"dcvw-{job_id}", "secret": TOKEN}
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
    [("dcvw-42", "42"), ("dcvw-", None), ("console", None), ("dcvw-4/../x", None),
     ("dcvw-42\n", None), ("xdcvw-42", None)],
)  # fmt: skip
def test_only_dcv_widget_sessions_have_a_job(session_id: str, job_id: str | None) -> None:
    assert job_id_of(session_id) == job_id


def test_token_matches_only_this_sessions_token() -> None:
    record = {"engine": "dcv", "session_id": SESSION, "secret": TOKEN}
    assert token_matches(record, SESSION, TOKEN)
    assert not token_matches(record, SESSION, TOKEN[:-1] + "x")
    assert not token_matches(record, SESSION, "")
    assert not token_matches(record, "dcvw-43", TOKEN)
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
    assert alice_owns(tmp_path)("dcvw-43", TOKEN) is None
    # A file claiming another session id is not this session's, whatever its name.
    write_session_file(tmp_path, job_id="44", session_id="dcvw-42")
    assert alice_owns(tmp_path)("dcvw-44", TOKEN) is None


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
    caplog.set_level(logging.INFO, logger="dcv_widget.verifier")
    client = "198.51.100.9"
    yes = post(served, sessionId=SESSION, authenticationToken=TOKEN, clientAddress=client)
    assert (yes.get("result"), yes.findtext("username")) == ("yes", "alice")
    wrong = post(served, sessionId=SESSION, authenticationToken="guess", clientAddress=client)
    assert wrong.get("result") == "no"
    assert post(served).get("result") == "no"  # nothing asked, nothing granted
    assert "dcvw-42: yes for alice" in caplog.text and "dcvw-42: no" in caplog.text
    assert TOKEN not in caplog.text and "guess" not in caplog.text


def test_http_server_refuses_oversized_requests(served: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(served, data=b"x" * 100_000, timeout=10)
    assert refused.value.code == 413
