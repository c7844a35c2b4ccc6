"""The class overview's cards, filter, sort and words, without a cluster (the widget on the
real Slurm is tests/integration/test_class_overview.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import cast

import pytest

from dcv_widget.desktops.class_monitor import ClassMonitor, card_state
from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import InvalidRequest, LaunchRequest
from dcv_widget.desktops.session import DesktopSession
from dcv_widget.desktops.slurm import JobStatus, JobTag, SlurmBackend, UserDesktop, job_comment
from dcv_widget.ui.card_widget import COMPACT_AFTER
from dcv_widget.ui.class_overview import ClassOverview
from dcv_widget.ui.desktop_cards import EXPECTS, NO_ESTIMATE, card_for
from dcv_widget.ui.overview_cards import (
    IDLE_UNKNOWN,
    end_refusal,
    matches,
    overview_card,
    overview_cards,
    summary,
    toolbar,
)


def desktop(
    job_id: str,
    user: str,
    state: str = "RUNNING",
    node: str = "dcv-node-1",
    left: str = "50:00",
    reason: str = "None",
    engine: str = "novnc",
) -> UserDesktop:
    tag = JobTag(engine, f"launch{job_id}")
    job = JobStatus(job_id, state, reason, node, left, "dcv", job_comment(tag))
    return UserDesktop(user, job, tag)


CLASS = [
    desktop("12", "carol", left="5:00"),
    desktop("9", "alice", node="dcv-node-2", left="1:00:00"),
    desktop("30", "bob", "PENDING", node="", left="1:00:00", reason="Resources"),
    desktop("31", "alice", "CONFIGURING", node="dcv-cloud-1", left="59:58"),
    desktop("7", "dave", "COMPLETING", left="0:10"),
]


# -- cards, pure ---------------------------------------------------------------------------


def test_a_card_says_who_which_job_where_and_never_claims_the_desktop_is_ready() -> None:
    card = overview_card(CLASS[0], ends=1000.0)
    assert card["key"] == "12"
    assert card["title"] == "carol · job 12"
    assert card["state"] == "running"  # not "ready": only carol can see her desktop answer
    assert card["node"] == "dcv-node-1" and card["ends_at"] == 1000.0
    assert card["detail"] == f"novnc · {IDLE_UNKNOWN}"
    assert card["actions"] == ["end"]
    assert card["access"] is None and card["steps"] == [] and card["error"] == ""
    # The same keys as a Desktop card, so the same view draws it.
    assert set(card) == set(card_for(DesktopSession(request=LaunchRequest(), key="k")))


def test_state_words_and_details_follow_slurm() -> None:
    words = {d.job.job_id: (card_state(d.job), overview_card(d)["detail"]) for d in CLASS}
    assert words["30"] == ("queued", "novnc · waiting for a free node")
    assert words["31"] == ("starting", "novnc · powering up dcv-cloud-1")
    assert words["7"] == ("ending", "novnc · shutting down")
    assert overview_card(CLASS[4])["actions"] == []  # already on its way out
    ending = overview_card(CLASS[0], ending=True)
    assert ending["actions"] == [] and ending["detail"] == "novnc · ending…"
    assert card_state(desktop("1", "x", "SUSPENDED").job) == "suspended"


def test_a_queued_students_desktop_carries_slurms_estimate_and_reason_words() -> None:
    """As on the student's own card: Slurm's estimate after its words (the view ticks "in about
    12 min, at 14:05"), or that it has none yet; a desktop that will not start by itself has
    the stuck look, the words saying what to change, and no estimate."""
    queued = CLASS[2]
    estimated = replace(queued, job=replace(queued.job, expected_start=1795964840.0))
    card = overview_card(estimated)
    assert (card["expected_label"], card["expected_start"]) == (EXPECTS, 1795964840.0)
    assert card["detail"] == "novnc · waiting for a free node" and card["tone"] == ""
    none_yet = overview_card(queued)
    assert (none_yet["expected_label"], none_yet["expected_start"]) == (NO_ESTIMATE, None)

    never = desktop("40", "erin", "PENDING", node="", reason="PartitionConfig")
    never = replace(never, job=replace(never.job, expected_start=1795964840.0))
    card = overview_card(never)
    assert card["tone"] == "stuck" and card["state"] == "queued"
    assert (card["expected_label"], card["expected_start"]) == ("", None)
    assert "can never start as asked: end it and launch with less" in card["detail"]
    assert "PartitionConfig" not in card["detail"]
    down = overview_card(desktop("41", "erin", "PENDING", node="", reason="PartitionDown"))
    assert down["tone"] == "stuck" and "will not start by itself" in down["detail"]

    # Running, ending, or End accepted: no estimate, no stuck look.
    for card in (
        overview_card(CLASS[0]),
        overview_card(CLASS[4]),
        overview_card(estimated, ending=True),
        overview_card(never, ending=True),
    ):
        assert (card["tone"], card["expected_label"], card["expected_start"]) == ("", "", None)


class ListedSlurm:
    """Lists `desktops` on any partition; the cluster hides nothing."""

    def __init__(self, desktops: list[UserDesktop]) -> None:
        self.desktops = desktops

    def partition_desktops(self, _partition: str) -> list[UserDesktop]:
        return self.desktops

    def private_data(self) -> frozenset[str]:
        return frozenset()

    def partitions(self) -> list[object]:
        return []


def test_time_left_is_slurms_end_time_of_running_jobs_only() -> None:
    """Slurm's EndTime (on this machine's clock), as a Desktop card has it, not squeue's
    time-left text ("5:00" here, which would put the end at now + 300 s): steady across polls,
    and none while a cloud node boots (Slurm restarts the clock then) or once completing (its
    EndTime is when it ended)."""
    listed = [
        replace(d, job=replace(d.job, end_time=end))
        for d, end in zip(CLASS, (1300.0, None, None, 5000.0, 900.0), strict=True)
    ]
    monitor = ClassMonitor(cast(SlurmBackend, ListedSlurm(listed)), "dcv")
    monitor.poll_once()
    assert monitor.ends() == {"12": 1300.0, "9": None, "30": None, "31": None, "7": None}


def test_filter_matches_user_node_state_and_job_id_word_by_word() -> None:
    def shown(text: str) -> list[str]:
        return [d.job.job_id for d in CLASS if matches(d, text)]

    assert shown("") == ["12", "9", "30", "31", "7"]
    assert shown("ALICE") == ["9", "31"]
    assert shown("node-2") == ["9"]
    assert shown("queued") == ["30"]
    assert shown("pending") == ["30"]
    assert shown("31") == ["31"]
    assert shown("alice running") == ["9"]
    assert shown("nobody") == []


def test_sorts() -> None:
    ends = {"12": 300.0, "9": 3600.0, "31": 3598.0, "7": 10.0, "30": None}

    def order(sort: str) -> list[str]:
        return [c["key"] for c in overview_cards(CLASS, sort=sort, ends=ends)]

    assert order("user") == ["9", "31", "30", "12", "7"]  # alice's by job id, then bob…
    assert order("state") == ["30", "31", "9", "12", "7"]  # queued, starting, running…
    assert order("time_left") == ["7", "12", "31", "9", "30"]  # not started: last
    assert order("node") == ["31", "12", "7", "9", "30"]  # no node yet: last


def test_cards_carry_their_errors_and_the_filter() -> None:
    cards = overview_cards(
        CLASS, filter_text="carol", errors={"12": "refused", "9": "other"}, unreachable=True
    )
    assert [(c["key"], c["error"], c["unreachable"]) for c in cards] == [("12", "refused", True)]


def test_two_hundred_jobs_become_two_hundred_compact_cards() -> None:
    jobs = [desktop(str(1000 + i), f"student{i:03d}", left="1:00:00") for i in range(200)]
    cards = overview_cards(jobs, ends={d.job.job_id: 4000.0 for d in jobs})
    assert len(cards) == 200 and len({c["key"] for c in cards}) == 200
    assert len(cards) > COMPACT_AFTER  # the widget draws them as the dense list
    assert cards[0]["title"] == "student000 · job 1000"
    assert all(c["actions"] == ["end"] and c["ends_at"] == 4000.0 for c in cards)


def test_summary_counts_states_and_users() -> None:
    assert summary(CLASS, 5, "dcv") == (
        "5 desktops on dcv (1 queued, 1 starting, 2 running, 1 ending) of 4 users."
    )
    assert summary(CLASS[:1], 0, "dcv") == "1 desktop on dcv (1 running) of 1 user; 0 shown."
    assert summary([], 0, "dcv") == "No desktops on dcv."


def test_toolbar_is_a_filter_and_a_sort_without_launch() -> None:
    bar = toolbar("ali", "node", "2 desktops", "dcv")
    assert bar["actions"] == [] and bar["can_launch"] is False
    assert bar["heading"] == "Class overview · dcv"
    filter_field, sort_field = bar["fields"]
    assert (filter_field["name"], filter_field["kind"], filter_field["value"]) == (
        "filter",
        "text",
        "ali",
    )
    assert (sort_field["name"], sort_field["kind"], sort_field["value"]) == (
        "sort",
        "select",
        "node",
    )
    assert [o["value"] for o in sort_field["options"]] == ["user", "state", "time_left", "node"]


def test_scancel_refusal_becomes_a_sentence() -> None:
    error = (
        "scancel 12 failed: scancel: error: Kill job error on job id 12: Access/permission denied"
    )
    assert end_refusal(CLASS[0], "12", error) == (
        "Slurm did not let you end carol's desktop (job 12): only its owner, a Slurm operator "
        "or administrator, or a coordinator of its account may end it."
    )
    assert end_refusal(None, "12", error).startswith("Slurm did not let you end job 12:")
    assert end_refusal(CLASS[0], "12", "squeue: timed out").startswith("End failed: squeue")


def test_a_bad_partition_is_refused_before_slurm_sees_it() -> None:
    with pytest.raises(InvalidRequest, match="partition"):
        ClassOverview("dcv,viz", manager=SessionManager())
