"""The managers' shared poll thread: one at a time, woken early, ending with the work."""

from __future__ import annotations

import threading
from collections.abc import Callable

from dcv_widget.common.poll_loop import Backoff, PollLoop


class Work:
    """A manager's stand-in state: how many rounds are wanted, and the rounds done."""

    def __init__(self, wanted: int, interval: float = 60.0) -> None:
        self.wanted = wanted
        self.interval = interval
        self.rounds = 0
        self.threads: set[str] = set()
        self.round_done = threading.Event()

    def poll_round(self) -> float:
        self.rounds += 1
        self.threads.add(threading.current_thread().name)
        self.round_done.set()
        return self.interval

    def keep_going(self) -> bool:
        return self.rounds < self.wanted


def test_runs_until_there_is_nothing_to_follow_then_stops() -> None:
    work = Work(wanted=3, interval=0.0)
    loop = PollLoop("test-poll", work.poll_round, work.keep_going)
    loop.ensure_running()
    assert wait_until(lambda: not loop.running)
    assert work.rounds == 3
    assert work.threads == {"test-poll"}


def test_wake_cuts_the_wait_short_and_a_second_start_adds_no_thread() -> None:
    work = Work(wanted=2, interval=600.0)  # without a wake the second round would take 10 min
    loop = PollLoop("test-poll", work.poll_round, work.keep_going)
    loop.ensure_running()
    assert work.round_done.wait(10)
    work.round_done.clear()
    loop.ensure_running()  # already running: wakes it instead of starting another thread
    assert work.round_done.wait(10)
    assert work.rounds == 2
    loop.wake()  # it looks whether to go on after each wait: nothing left, so it ends
    assert wait_until(lambda: not loop.running)
    assert len([t for t in threading.enumerate() if t.name == "test-poll"]) == 0


def test_starts_again_when_work_comes_back() -> None:
    work = Work(wanted=1, interval=0.0)
    loop = PollLoop("test-poll", work.poll_round, work.keep_going)
    loop.ensure_running()
    assert wait_until(lambda: not loop.running)
    work.wanted = 2
    loop.ensure_running()
    assert wait_until(lambda: work.rounds == 2 and not loop.running)


def test_backoff_doubles_up_to_its_limit_and_resets() -> None:
    backoff = Backoff(1.0, 5.0)
    assert [backoff.next() for _ in range(4)] == [2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.current == 1.0
    assert backoff.next() == 2.0


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Whether `condition()` became true within `timeout` (a bound for a hung test, not a
    performance claim)."""
    done = threading.Event()
    deadline = threading.Timer(timeout, done.set)
    deadline.start()
    try:
        while not done.is_set():
            if condition():
                return True
            done.wait(0.01)
        return condition()
    finally:
        deadline.cancel()


def test_a_round_that_raises_does_not_end_polling() -> None:
    calls: list[int] = []
    again = threading.Event()

    def poll_round() -> float:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a listener broke")
        again.set()
        return 60.0

    loop = PollLoop("test-poll", poll_round, lambda: len(calls) < 2, retry_after=0.0)
    loop.ensure_running()
    assert again.wait(10)  # the second round came, after the first one raised
    loop.wake()
    assert wait_until(lambda: not loop.running)


def test_a_thread_that_died_is_started_again() -> None:
    def keep_going() -> bool:
        raise RuntimeError("the manager's state is broken")

    loop = PollLoop("test-poll", lambda: 0.0, keep_going)
    loop.ensure_running()
    assert wait_until(lambda: not loop.running)  # it died, and said so by clearing itself
