"""The squeue schedule: soon after news, seldom otherwise, never in a burst."""

from __future__ import annotations

from dcv_widget.desktops.pace import AFTER_SUBMIT, FIRST_RETRY, SqueuePace
from dcv_widget.desktops.session_file import JobFile, job_files


def pace() -> SqueuePace:
    return SqueuePace(60, min_gap=0.5)


def test_the_first_call_is_due_at_once() -> None:
    assert pace().due_in(100) == 0


def test_regular_calls_come_at_the_interval() -> None:
    p = pace()
    p.asked(100)
    assert p.due_in(100) == 60
    assert p.due_in(145) == 15
    assert p.due_in(165) == 0


def test_news_is_confirmed_at_once_but_never_closer_than_the_minimum_gap() -> None:
    p = pace()
    p.asked(100)
    p.confirm(100.1)
    assert round(p.due_in(100.1), 3) == 0.4
    assert p.due_in(101) == 0


def test_a_confirmation_is_answered_by_the_next_call_only() -> None:
    p = pace()
    p.asked(100)
    p.confirm(105)
    p.asked(105)  # answered
    assert p.due_in(105) == 60
    p.confirm(105, delay=1.0)  # asked for later than the call that just ran
    p.asked(105.5)
    assert p.due_in(105.5) == 0.5


def test_disagreement_asks_again_after_doubling_gaps_up_to_half_the_interval() -> None:
    p = pace()
    now = 100.0
    gaps = []
    for _ in range(10):
        p.asked(now)
        p.not_yet(now)
        gap = p.due_in(now)
        gaps.append(gap)
        now += gap
    assert gaps[:4] == [max(FIRST_RETRY, 0.5), 1, 2, 4]
    assert gaps[-1] == 30
    p.agreed()
    p.asked(now)
    p.not_yet(now)
    assert p.due_in(now) == max(FIRST_RETRY, 0.5)


def test_a_hold_delays_even_news() -> None:
    p = pace()
    p.asked(100)
    p.hold(100, 8)
    p.confirm(100)
    assert p.due_in(100) == 8


def test_job_files_reads_a_listing_by_name() -> None:
    names = [
        "17.started.json",
        "17.json",
        "18.started.json",
        "18.end.json",
        "17.idle.json",
        ".17.idle.json.tmp",  # an idle word being written
        ".19.json.tmp",  # a session file being written
        "19.json.tmp",
        "notes.txt",
        "x17.json",
    ]
    assert job_files(names) == {
        "17": frozenset({JobFile.STARTED, JobFile.READY, JobFile.IDLE}),
        "18": frozenset({JobFile.STARTED, JobFile.ENDED}),
    }
    assert job_files([]) == {}


def test_news_starts_a_new_streak_of_short_gaps() -> None:
    # A long disagreement (a desktop whose files and squeue differ for as long as it waits)
    # has stretched the gaps to half the interval; an End elsewhere is news of its own.
    p = pace()
    now = 100.0
    for _ in range(10):
        p.asked(now)
        p.not_yet(now)
        now += p.due_in(now)
    p.confirm(now)
    assert p.due_in(now) == 0
    p.asked(now)
    p.not_yet(now)
    assert p.due_in(now) == max(FIRST_RETRY, 0.5)


def test_a_submit_is_followed_by_the_queues_first_words_then_the_interval() -> None:
    p = pace()
    p.asked(100)
    p.submitted(100)
    calls = []
    now = 100.0
    while now < 100 + 60:
        now += p.due_in(now)
        calls.append(round(now - 100, 3))
        p.asked(now)
    assert calls[: len(AFTER_SUBMIT)] == list(AFTER_SUBMIT)
    assert calls[len(AFTER_SUBMIT)] == AFTER_SUBMIT[-1] + 60  # then every interval
