"""Cards: the stepper, the actions and the advice a person sees for each state."""

from __future__ import annotations

import json
from dataclasses import replace

from dcv_widget.access.instructions import Access, Command
from dcv_widget.access.instructions import pending as access_pending
from dcv_widget.access.instructions import problem as access_problem
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import DesktopSession, SessionState
from dcv_widget.ui.desktop_cards import card_for, static_html, static_summary, steps_for


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
    assert statuses(session(SessionState.READY)) == ["done", "done", "done", "done", "current"]


def test_a_failure_marks_the_step_where_it_happened() -> None:
    launching = session(SessionState.LAUNCHING)
    failed = launching.moved_to(SessionState.ENDED, "Xvnc did not start", outcome="failed")
    assert statuses(failed) == ["done", "done", "done", "failed", "pending"]


def test_a_desktop_cancelled_while_queued_shows_how_far_it_got() -> None:
    queued = session(SessionState.QUEUED)
    ended = queued.moved_to(SessionState.ENDED, "cancelled", outcome="cancelled")
    assert statuses(ended) == ["done", "done", "pending", "pending", "pending"]


def test_actions_per_state() -> None:
    assert card_for(session(SessionState.QUEUED))["actions"] == ["end"]
    direct = Access("direct", "Direct connection")
    assert card_for(session(SessionState.READY), direct)["actions"] == ["connect", "end"]
    assert card_for(session(SessionState.READY, ending=True), direct)["actions"] == []
    assert card_for(session(SessionState.ENDED, outcome="cancelled"))["actions"] == ["dismiss"]


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
