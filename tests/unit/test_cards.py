"""Cards: the stepper, the actions and the advice a person sees for each state."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from dcv_widget.access.instructions import Access, Command
from dcv_widget.access.instructions import pending as access_pending
from dcv_widget.access.instructions import problem as access_problem
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import DesktopSession, SessionState, boot_words, observe
from dcv_widget.desktops.slurm import JobStatus, Partition
from dcv_widget.ui.desktop_cards import (
    IDLE_WARN_MAX,
    WARN_MAX,
    WARN_MIN,
    about,
    card_for,
    clock,
    expected_words,
    static_html,
    static_summary,
    steps_for,
    warn_at,
)


def session(state: SessionState, **changes: object) -> DesktopSession:
    base = DesktopSession(request=LaunchRequest(partition="dcv"), key="k", job_id="7")
    return replace(base.moved_to(state, "detail"), **changes)  # type: ignore[arg-type]


def statuses(s: DesktopSession) -> list[str]:
    return [step["status"] for step in steps_for(s)]


def test_stepper_follows_the_lifecycle() -> None:
    assert statuses(session(SessionState.QUEUED)) == [
        "done",
        "current",
        "pending",
        "pending",
        "pending",
    ]
    assert statuses(session(SessionState.LAUNCHING))[3:] == ["current", "pending"]
    # Nothing is in progress on a ready desktop: Ready is done.
    assert statuses(session(SessionState.READY)) == ["done"] * 5


def test_a_failure_marks_the_step_where_it_happened() -> None:
    launching = session(SessionState.LAUNCHING)
    failed = launching.moved_to(SessionState.ENDED, "Xvnc did not start", outcome="failed")
    assert statuses(failed) == ["done", "done", "done", "failed", "unreached"]
    unsubmitted = session(SessionState.SUBMITTING).moved_to(
        SessionState.ENDED, "sbatch: invalid partition", outcome="failed to submit"
    )
    assert statuses(unsubmitted) == ["failed"] + ["unreached"] * 4


def test_a_desktop_cancelled_while_queued_shows_how_far_it_got() -> None:
    queued = session(SessionState.QUEUED)
    ended = queued.moved_to(SessionState.ENDED, "cancelled", outcome="cancelled")
    assert statuses(ended) == ["done", "done", "unreached", "unreached", "unreached"]


def test_an_ending_desktop_is_its_own_state_and_step() -> None:
    for state in (SessionState.QUEUED, SessionState.READY):
        ending = session(state).start_ending()
        card = card_for(ending, Access("direct", "Direct connection"))
        assert card["state"] == "ending"
        assert card["actions"] == []
        steps = card["steps"]
        assert steps[-1] == {"id": "ending", "label": "Ending", "status": "current"}
        assert [s["status"] for s in steps].count("current") == 1
    # Its time limit no longer matters: no time left, no warning.
    limited = card_for(session(SessionState.READY, ends_at=2e9, started_at=1e9).start_ending())
    assert limited["ends_at"] is None and limited["warn_at"] is None
    ready_ending = steps_for(session(SessionState.READY).start_ending())
    assert [s["status"] for s in ready_ending] == ["done"] * 5 + ["current"]
    queued_ending = steps_for(session(SessionState.QUEUED).start_ending())
    assert [s["status"] for s in queued_ending][1:] == ["done"] + ["unreached"] * 3 + ["current"]


def test_a_failed_end_looks_unlike_a_cancelled_one() -> None:
    launching = session(SessionState.LAUNCHING)
    failed = card_for(launching.moved_to(SessionState.ENDED, "x", outcome="failed"))
    cancelled = card_for(launching.moved_to(SessionState.ENDED, "x", outcome="cancelled"))
    node_failed = card_for(
        launching.moved_to(SessionState.ENDED, "x", outcome="failed: the node failed")
    )
    assert failed["tone"] == node_failed["tone"] == "failed"
    assert cancelled["tone"] == "ended"
    assert card_for(launching)["tone"] == ""


def test_the_time_left_warns_in_the_last_tenth_of_the_limit_within_bounds() -> None:
    start = 1_000_000.0
    # A 15-minute tutorial desktop: the last 90 s, not from its start.
    assert warn_at(start + 900, start) == start + 900 - 90
    # Short: at least the last minute; long: at most the last five.
    assert warn_at(start + 300, start) == start + 300 - WARN_MIN
    assert warn_at(start + 8 * 3600, start) == start + 8 * 3600 - WARN_MAX
    assert warn_at(None, start) is None  # no time limit
    assert warn_at(start + 900, None) == start + 900 - WARN_MAX  # limit unknown
    ready = session(SessionState.READY, started_at=start, ends_at=start + 3600)
    assert card_for(ready)["warn_at"] == start + 3600 - WARN_MAX
    assert card_for(replace(ready, state=SessionState.ENDED))["warn_at"] is None


def test_an_idle_ready_desktop_says_when_it_ends_and_from_when_to_warn() -> None:
    since = 1_000_000.0
    idle = session(SessionState.READY, idle_since=since, idle_ends_at=since + 1800)
    card = card_for(idle)
    assert (card["idle_ends_at"], card["idle_warn_at"]) == (
        since + 1800,
        since + 1800 - IDLE_WARN_MAX,
    )
    # A short idle timeout warns halfway.
    short = card_for(replace(idle, idle_ends_at=since + 120))
    assert short["idle_warn_at"] == since + 60
    # Someone connected, or the desktop is on its way out: nothing to warn of.
    for other in (
        replace(idle, idle_since=None, idle_ends_at=None),
        replace(idle, ending=True),
        replace(idle, state=SessionState.ENDED, outcome="idle stop"),
    ):
        assert (card_for(other)["idle_ends_at"], card_for(other)["idle_warn_at"]) == (None, None)


def test_actions_per_state() -> None:
    assert card_for(session(SessionState.QUEUED))["actions"] == ["end"]
    direct = Access("direct", "Direct connection")
    assert card_for(session(SessionState.READY), direct)["actions"] == ["connect", "end"]
    assert card_for(session(SessionState.READY, ending=True), direct)["actions"] == []
    ended = card_for(session(SessionState.ENDED, outcome="cancelled"))
    assert ended["actions"] == ["relaunch", "dismiss"]


def test_launch_again_says_what_to_change_when_the_end_says_so() -> None:
    never = session(SessionState.ENDED, outcome="cancelled", never_reason="PartitionConfig")
    never = replace(never, request=LaunchRequest(partition="dcv", cpus=64))
    dcv = Partition("dcv", "up", True, "infinite", 8, 0, 8, 1, 0, node_cpus=8)
    card = card_for(never, partitions=[dcv])
    assert card["relaunch_form"] and card["relaunch_field"] == "cpus"
    assert card["relaunch_hint"] == (
        "To launch again, change CPUs: no node of dcv has 64 CPUs: ask for at most 8, or "
        "choose another partition."
    )
    # Any other end relaunches at once; one adopted from the queue opens the form.
    plain = card_for(session(SessionState.ENDED, outcome="time limit reached"))
    assert (plain["relaunch_form"], plain["relaunch_hint"]) == (False, "")
    adopted = session(SessionState.ENDED, outcome="cancelled", request_known=False)
    assert card_for(adopted)["relaunch_form"]
    assert card_for(session(SessionState.READY))["relaunch_form"] is False


def test_ended_cards_say_what_to_do_and_keep_no_time_left() -> None:
    card = card_for(session(SessionState.ENDED, outcome="time limit reached", ends_at=123.0))
    assert "longer time limit" in card["advice"]
    assert card["ends_at"] is None


def test_access_instructions_only_once_ready() -> None:
    access = Access("ssh", "SSH tunnel", commands=(Command("ssh", "ssh -N -L 1:n:1 u@h"),))
    shown = card_for(session(SessionState.READY), access)["access"]
    assert shown["commands"] == [{"shell": "ssh", "text": "ssh -N -L 1:n:1 u@h"}]
    assert shown["route"] == "ssh" and not shown["pending"] and not shown["problem"]
    assert card_for(session(SessionState.LAUNCHING), access)["access"] is None


def test_connect_waits_for_the_route_and_a_problem_offers_a_check_instead() -> None:
    ready = session(SessionState.READY)
    assert card_for(ready, None)["actions"] == ["end"]
    assert card_for(ready, access_pending("ssm"))["actions"] == ["end"]
    # Nothing to open while the route cannot work: the card says why, "Check again" retries.
    assert card_for(ready, access_problem("ssm", "no credentials"))["actions"] == [
        "check",
        "end",
    ]


def test_a_card_is_plain_json() -> None:
    json.dumps(card_for(session(SessionState.READY, ends_at=1e9, node="n1")))


def test_static_card_for_renderers_without_widgets() -> None:
    cards = [
        card_for(session(SessionState.READY, node="n1")),
        card_for(replace(session(SessionState.QUEUED), detail="<script>alert(1)</script>")),
    ]
    html = static_html(cards)
    assert "Desktop 7 · noVNC on partition dcv: <b>ready</b>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "with a running kernel" in html
    assert static_summary(cards).startswith("Remote desktops (dcv_widget): 1 ready, 1 queued.")
    assert "No desktop had been launched" in static_html([])


def test_a_card_carries_its_last_action_error() -> None:
    assert card_for(session(SessionState.READY), error="End failed: x")["error"] == "End failed: x"
    assert card_for(session(SessionState.READY))["error"] == ""


def pending(reason: str, expected_start: float | None = None) -> JobStatus:
    return JobStatus(
        "7", "PENDING", reason, "", "5:00", "dcv", "", 1.0, expected_start=expected_start
    )


def queued(reason: str, expected_start: float | None = None) -> DesktopSession:
    return observe(session(SessionState.QUEUED), pending(reason, expected_start), False)


def test_a_desktop_queued_on_a_down_partition_says_it_will_not_start_by_itself() -> None:
    down = queued("PartitionDown")
    card = card_for(down)
    assert card["tone"] == "stuck"
    assert "will not start by itself" in card["detail"]
    assert card["since_label"] == "· waiting"  # "· waiting 58s", not "for 58s"
    waiting = card_for(queued("Resources"))
    assert (waiting["tone"], waiting["since_label"]) == ("", "· waiting")
    assert card_for(session(SessionState.READY))["since_label"] == "for"
    # Once End is asked for it is ending, no longer stuck.
    assert card_for(down.start_ending())["tone"] == ""


def test_a_desktop_that_can_never_start_says_what_to_change() -> None:
    card = card_for(queued("PartitionConfig"))
    assert card["tone"] == "stuck"
    assert "can never start as asked: end it and launch with less" in card["detail"]
    assert card["detail"].endswith("(it asks for 1 CPU for 1 h)")
    assert "PartitionConfig" not in card["detail"]
    # A stuck desktop expects no start, estimate or not.
    assert (card["expected_label"], card["expected_start"]) == ("", None)


def test_a_queued_card_carries_slurms_expected_start() -> None:
    card = card_for(queued("Resources", expected_start=1795964840.0))
    assert card["expected_label"] == "Slurm expects it to start"
    assert card["expected_start"] == 1795964840.0
    none_yet = card_for(queued("Priority"))
    assert none_yet["expected_label"] == "Slurm has no start estimate for it yet"
    assert none_yet["expected_start"] is None
    # Ready, ending or ended: no start to expect.
    assert card_for(queued("Resources", 1.0).start_ending())["expected_label"] == ""
    assert card_for(session(SessionState.READY))["expected_label"] == ""


def test_expected_start_in_words() -> None:
    now = time.mktime((2026, 3, 3, 13, 53, 0, 0, 0, -1))
    at_1405 = now + 12 * 60
    s = queued("Resources", expected_start=at_1405)
    assert expected_words(s, now) == "Slurm expects it to start in about 12 min, at 14:05"
    assert expected_words(queued("Priority"), now) == "Slurm has no start estimate for it yet"
    assert [about(s) for s in (-5, 20, 45, 12 * 60, 131 * 60, 3 * 86400)] == [
        "any moment now",
        "any moment now",
        "in about 1 min",
        "in about 12 min",
        "in about 2 h 10 min",
        "in about 3 days",
    ]
    assert clock(now + 86400, now) == "13:53 tomorrow"
    assert clock(now + 3 * 86400, now) == "13:53 on 6 Mar"


def test_a_booting_node_takes_the_sites_boot_time_as_the_partition_labels_say() -> None:
    booting = observe(
        DesktopSession(request=LaunchRequest(), key="k", job_id="7"),
        JobStatus("7", "CONFIGURING", "None", "dcv-cloud-1", "59:00", "dcv", ""),
        desktop_ready=False,
    )
    card = card_for(booting, boot_seconds=30)
    assert card["detail"] == f"powering up dcv-cloud-1 (nodes here boot {boot_words(30)})"
    assert "in ~30 s" in card["detail"]
    assert card_for(booting)["detail"] == "powering up dcv-cloud-1"  # no boot time known
    ending = card_for(booting.start_ending(), boot_seconds=30)["detail"]
    assert "boot" not in ending
