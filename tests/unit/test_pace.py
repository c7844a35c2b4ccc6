"""The squeue schedule: soon after news, seldom otherwise, never in a burst."""

from __future__ import annotations

from dcv_widget.desktops.pace import AFTER_SUBMIT, FIRST_RETRY, SqueuePace
from dcv_widget.desktops.session_file import JobFile, job_files


def pace() -> SqueuePace:
    return SqueuePace(waiting=30, settled=60, min_gap=0.5)


def test_the_first_call_is_due_at_once() -> None:
    assert pace().due_in(100, waiting=True) == 0


def test_regular_calls_come_at_the_waiting_or_settled_interval() -> None:
    p = pace()
    p.confirm(90)  # news: a waiting desktop is asked about at the waiting pace for a while
    p.asked(100)
    assert p.due_in(100, waiting=True) == 30
    assert p.due_in(100, waiting=False) == 60
    assert p.due_in(145, waiting=True) == 0


def test_news_is_confirmed_at_once_but_never_closer_than_the_minimum_gap() -> None:
    p = pace()
    p.asked(100)
    p.confirm(100.1)
    assert round(p.due_in(100.1, waiting=False), 3) == 0.4
    assert p.due_in(101, waiting=False) == 0


def test_a_confirmation_is_answered_by_the_next_call_only() -> None:
    p = pace()
    p.asked(100)
    p.confirm(105)
    p.asked(105)  # answered
    assert p.due_in(105, waiting=False) == 60
    p.confirm(105, delay=1.0)  # asked for later than the call that just ran
    p.asked(105.5)
    assert p.due_in(105.5, waiting=False) == 0.5


def test_disagreement_asks_again_after_doubling_gaps_up_to_the_waiting_interval() -> None:
    p = pace()
    now = 100.0
    gaps = []
    for _ in range(10):
        p.asked(now)
        p.not_yet(now)
        gap = p.due_in(now, waiting=False)
        gaps.append(gap)
        now += gap
    assert gaps[:4] == [max(FIRST_RETRY, 0.5), 1, 2, 4]
    assert gaps[-1] == 30
    p.agreed()
    p.asked(now)
    p.not_yet(now)
    assert p.due_in(now, waiting=False) == max(FIRST_RETRY, 0.5)


def test_a_hold_delays_even_news() -> None:
    p = pace()
    p.asked(100)
    p.hold(100, 8)
    p.confirm(100)
    assert p.due_in(100, waiting=True) == 8


def test_job_files_reads_a_listing_by_name() -> None:
    names = [
        "17.started.json",
        "17.json",
        "18.started.json",
        "18.end.json",
        ".19.json.tmp",  # a session file being written
        "19.json.tmp",
        "notes.txt",
        "x17.json",
    ]
    assert job_files(names) == {
        "17": frozenset({JobFile.STARTED, JobFile.READY}),
        "18": frozenset({JobFile.STARTED, JobFile.ENDED}),
    }
    assert job_files([]) == {}


def test_news_starts_a_new_streak_of_short_gaps() -> None:
    # A long disagreement (a desktop whose files and squeue differ for as long as it waits)
    # has stretched the gaps to the waiting interval; an End elsewhere is news of its own.
    p = pace()
    now = 100.0
    for _ in range(10):
        p.asked(now)
        p.not_yet(now)
        now += p.due_in(now, waiting=True)
    p.confirm(now)
    assert p.due_in(now, waiting=True) == 0
    p.asked(now)
    p.not_yet(now)
    assert p.due_in(now, waiting=True) == max(FIRST_RETRY, 0.5)


def test_a_submit_is_followed_by_the_queues_first_words_then_the_waiting_pace() -> None:
    p = pace()
    p.asked(100)
    p.submitted(100)
    calls = []
    now = 100.0
    while now < 100 + 60:
        now += p.due_in(now, waiting=True)
        calls.append(round(now - 100, 3))
        p.asked(now)
    assert calls[: len(AFTER_SUBMIT)] == list(AFTER_SUBMIT)
    assert calls[len(AFTER_SUBMIT)] == AFTER_SUBMIT[-1] + 30  # then every `waiting`


def test_a_desktop_waiting_long_after_the_last_news_costs_the_settled_pace() -> None:
    p = pace()
    p.submitted(0)
    now = 0.0
    gaps = []
    while now < 900:
        gap = p.due_in(now, waiting=True)
        now += gap
        p.asked(now)
        gaps.append(gap)
    assert 30 in gaps and gaps[-1] == 60  # 30 s in the first WAITING_SPAN, then 60 s
    adopted = pace()  # a desktop found queued (rediscover) brings no news: the settled pace
    adopted.asked(0)
    assert adopted.due_in(0, waiting=True) == 60
