"""max_desktops on the real local Slurm: counted in the queue at each launch; the launch over
the limit ends as "failed to submit" on its card, and never reaches sbatch."""

from __future__ import annotations

from collections.abc import Callable

from dcv_widget.desktops.manager import SessionManager
from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.session import DesktopSession, SessionState
from dcv_widget.ui.desktop_cards import card_for

REQUEST = LaunchRequest(partition="dcv", time="5")


def submitted(session: DesktopSession) -> bool:
    return bool(session.job_id) or session.state == SessionState.ENDED


def is_ended(session: DesktopSession) -> bool:
    return session.state == SessionState.ENDED


def test_a_desktop_over_the_sites_limit_fails_to_submit(
    manager: SessionManager, jobs_of_launch: Callable[[str], list[str]]
) -> None:
    manager.max_desktops = 1
    first = manager.wait_for(manager.launch(REQUEST).key, submitted, timeout=60)
    assert first.job_id, first.detail

    second = manager.wait_for(manager.launch(REQUEST).key, is_ended, timeout=60)
    assert second.outcome == "failed to submit"
    assert second.detail == (
        "you already have 1 desktop running or queued; the site allows 1 at once "
        "(c.DesktopSettings.max_desktops): end one first"
    )
    assert jobs_of_launch(second.key) == []  # Slurm never saw it
    card = card_for(second)
    assert (card["outcome"], card["detail"]) == ("Ended: failed to submit", second.detail)
    assert card["actions"] == ["relaunch", "dismiss"]

    # Ending one makes room again.
    manager.end(first.key).result(timeout=30)
    manager.wait_for(first.key, is_ended, timeout=60)
    third = manager.wait_for(manager.launch(REQUEST).key, submitted, timeout=60)
    assert third.job_id, third.detail  # the manager fixture cancels it


def test_launches_at_the_same_time_do_not_both_slip_under_the_limit(
    manager: SessionManager,
) -> None:
    manager.max_desktops = 1
    keys = [manager.launch(REQUEST).key for _ in range(2)]
    done = [manager.wait_for(key, submitted, timeout=60) for key in keys]
    assert sorted(bool(s.job_id) for s in done) == [False, True]
    refused = next(s for s in done if not s.job_id)
    assert refused.outcome == "failed to submit" and "max_desktops" in refused.detail
