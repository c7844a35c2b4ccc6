"""The session file: parsed without ever echoing the secret."""

from __future__ import annotations

import pytest

from dcv_widget.desktops.session_file import (
    IdleWord,
    SessionFileError,
    SessionPaths,
    parse_idle_word,
    parse_session_file,
)


def test_parse_the_file_the_job_writes() -> None:
    text = (
        '{"version": 1, "engine": "novnc", "job_id": "7", "launch": "abc", "host": "n1", '
        '"port": 40001, "secret": "pw123456"}\n'
    )
    found = parse_session_file(text)
    assert found.endpoint.port == 40001
    assert found.endpoint.host == "n1"
    assert found.secret == "pw123456"
    assert found.launch_id == "abc"
    assert "pw123456" not in repr(found)


@pytest.mark.parametrize(
    "text",
    [
        '{"secret": "pw123456"}',
        "not json pw123456",
        '{"engine": "novnc", "host": "h", "port": "x", "secret": "pw123456"}',
    ],
)
def test_malformed_file_error_never_quotes_it(text: str) -> None:
    with pytest.raises(SessionFileError) as info:
        parse_session_file(text)
    assert "pw123456" not in str(info.value)
    # Nothing chained either: a JSONDecodeError would carry the whole file in its `doc`.
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_paths_live_under_the_users_private_folder() -> None:
    paths = SessionPaths("/home/ada")
    assert paths.session_file("12") == "/home/ada/.dcv-widget/sessions/12.json"
    assert paths.log_pattern() == "/home/ada/.dcv-widget/logs/desktop-%j.out"
    assert paths.log_file("12") == "/home/ada/.dcv-widget/logs/desktop-12.out"
    assert paths.idle_file("12") == "/home/ada/.dcv-widget/sessions/12.idle.json"


def test_the_idle_word_as_the_dcv_job_writes_it() -> None:
    text = '{"job_id": "12", "launch": "k", "since": 1700000000, "ends_at": 1700001800}\n'
    assert parse_idle_word(text) == IdleWord(1700000000.0, 1700001800.0, "k")
    assert parse_idle_word('{"launch": "k", "since": 1}') is None
    assert parse_idle_word("half a fi") is None


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_an_idle_word_without_real_times_is_none(bad: str) -> None:
    # json reads these as floats; on a card they would make the listing's JSON one a browser
    # cannot parse (NaN), or a countdown that never ends.
    assert parse_idle_word(f'{{"launch": "k", "since": 1, "ends_at": {bad}}}') is None
    assert parse_idle_word(f'{{"launch": "k", "since": {bad}, "ends_at": 1}}') is None
