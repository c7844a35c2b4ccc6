"""What the class overview shows: every user's desktops on a partition as cards in the format
of desktop_cards.py (so the same view draws them), and its toolbar (a filter and a sort, in the
launcher's format). Pure functions: every decision is made here, tests need no Slurm.

The instructor sees what squeue tells them: who, which job, its state, node and time left.
Whether a student's desktop answers or is idle is recorded only in files its owner alone can
read, so a card never claims to know it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..desktops.class_monitor import STATE_ORDER, card_state
from ..desktops.reasons import reason
from ..desktops.slurm import UserDesktop
from .desktop_cards import EXPECTS, NO_ESTIMATE, warn_at

# Sort choices of the toolbar: value -> label.
SORTS = {"user": "User", "state": "State", "time_left": "Time left", "node": "Node"}
DEFAULT_SORT = "user"

# squeue's refusal of another user's job to someone without the rights to end it.
_DENIED = "Access/permission denied"
IDLE_UNKNOWN = "idle time unknown"


def detail(desktop: UserDesktop) -> str:
    """One line under the title: the engine and what Slurm says; idle time is never known."""
    job = desktop.job
    state = card_state(job)
    if state == "queued":
        words = reason(job.reason).words
    elif state == "starting":
        words = f"powering up {job.nodes or 'a node'}"
    elif state == "running":
        words = IDLE_UNKNOWN
    elif state == "ending":
        words = "shutting down"
    else:
        words = f"Slurm reports {job.state.lower()}"
    return f"{desktop.tag.engine} · {words}"


def stuck(desktop: UserDesktop) -> bool:
    """Queued for a reason that never lets it start by itself (its partition is down, it asks
    for more than any node has, …): the card has the stuck look, its words say what to change."""
    job = desktop.job
    return card_state(job) == "queued" and not reason(job.reason).starts_by_itself


def expected(desktop: UserDesktop) -> tuple[str, float | None]:
    """A queued desktop's start as Slurm expects it, as a Desktop card says it: the words before
    it and the estimate (epoch seconds; the view adds "in about 12 min, at 14:05"), or that
    Slurm has none yet; nothing where no start is to be expected (not queued, or stuck)."""
    job = desktop.job
    if card_state(job) != "queued" or stuck(desktop):
        return "", None
    return (EXPECTS, job.expected_start) if job.expected_start is not None else (NO_ESTIMATE, None)


def overview_card(
    desktop: UserDesktop,
    *,
    ends: float | None = None,
    error: str = "",
    ending: bool = False,
    unreachable: bool = False,
) -> dict[str, Any]:
    """The card of one user's desktop. `ending`: End was accepted, the job is on its way out.
    Carries no secret (there is none to carry: the instructor never reads the student's
    session file)."""
    job = desktop.job
    state = card_state(job)
    gone = ending or state == "ending"
    words = f"{desktop.tag.engine} · ending…" if ending and state != "ending" else ""
    label, start = ("", None) if gone else expected(desktop)
    return {
        "key": job.job_id,
        "job_id": "",  # the title names the job
        "title": f"{desktop.user} · job {job.job_id}",
        # No Connect here, so no Display choice either (it is for the desktop's own browser).
        "engine": desktop.tag.engine,
        "elsewhere": False,  # the class overview lists everyone's desktops together
        "state": state,
        "tone": "stuck" if stuck(desktop) and not gone else "",
        "unreachable": unreachable,
        "steps": [],
        "detail": words or detail(desktop),
        "since": 0.0,
        "since_label": "for",
        "node": job.nodes,
        "ends_at": ends,
        # Queued: Slurm's estimate of its start, as on the student's own card.
        "expected_label": label,
        "expected_start": start,
        "warn_at": warn_at(ends, job.started_at),
        # Whether its student is connected is theirs to know; and a teacher's page does not
        # notify about a student's desktop.
        "idle_ends_at": None,
        "idle_warn_at": None,
        "notify": False,
        "outcome": "",
        "log_tail": "",
        "advice": "",
        # A student's desktop is theirs to launch again: no Launch again here.
        "relaunch_hint": "",
        "relaunch_field": "",
        "relaunch_form": False,
        "error": error,
        "access": None,
        "actions": [] if gone else ["end"],
    }


def matches(desktop: UserDesktop, text: str) -> bool:
    """Whether the desktop matches the filter: every word of `text` (case-insensitive) is in
    its user, node, state (Slurm's or the card's word) or job id."""
    job = desktop.job
    haystack = " ".join((desktop.user, job.nodes, job.state, card_state(job), job.job_id)).lower()
    return all(word in haystack for word in text.lower().split())


def sort_key(desktop: UserDesktop, sort: str, ends: Mapping[str, float | None]) -> tuple[Any, ...]:
    """The order of the cards; ties by user then job id (numerically). No time left (queued,
    unlimited) and no node sort last."""
    job = desktop.job
    then = (desktop.user, int(job.job_id) if job.job_id.isdigit() else 0, job.job_id)
    if sort == "state":
        return (STATE_ORDER.get(card_state(job), len(STATE_ORDER)), *then)
    if sort == "time_left":
        end = ends.get(job.job_id)
        return (end is None, end or 0.0, *then)
    if sort == "node":
        return (not job.nodes, job.nodes, *then)
    return then


def overview_cards(
    desktops: Iterable[UserDesktop],
    *,
    filter_text: str = "",
    sort: str = DEFAULT_SORT,
    ends: Mapping[str, float | None] | None = None,
    errors: Mapping[str, str] | None = None,
    ending: Iterable[str] = (),
    unreachable: bool = False,
) -> list[dict[str, Any]]:
    """The cards the toolbar's filter lets through, in its sort order."""
    ends = ends or {}
    errors = errors or {}
    leaving = set(ending)
    shown = sorted(
        (d for d in desktops if matches(d, filter_text)),
        key=lambda d: sort_key(d, sort, ends),
    )
    return [
        overview_card(
            d,
            ends=ends.get(d.job.job_id),
            error=errors.get(d.job.job_id, ""),
            ending=d.job.job_id in leaving,
            unreachable=unreachable,
        )
        for d in shown
    ]


def summary(desktops: list[UserDesktop], shown: int, partition: str) -> str:
    """The toolbar's line of counts, e.g. `12 desktops on dcv (2 queued, 10 running) of 9 users;
    3 shown.`"""
    if not desktops:
        return f"No desktops on {partition}."
    counts: dict[str, int] = {}
    for state in sorted(
        (card_state(d.job) for d in desktops), key=lambda s: STATE_ORDER.get(s, 99)
    ):
        counts[state] = counts.get(state, 0) + 1
    states = ", ".join(f"{n} {state}" for state, n in counts.items())
    users = len({d.user for d in desktops})
    noun = "desktop" if len(desktops) == 1 else "desktops"
    words = f"{len(desktops)} {noun} on {partition} ({states}) of {users} user{'s' * (users != 1)}"
    return words + ("." if shown == len(desktops) else f"; {shown} shown.")


def toolbar(filter_text: str, sort: str, message: str, partition: str) -> dict[str, Any]:
    """The launcher trait as the overview's toolbar: a filter and a sort, no Launch button."""
    return {
        "heading": f"Class overview · {partition}",
        "fields": [
            {
                "name": "filter",
                "label": "Filter",
                "kind": "text",
                "value": filter_text,
                "options": [],
                "error": "",
                "hint": "user, node, state or job id",
            },
            {
                "name": "sort",
                "label": "Sort by",
                "kind": "select",
                "value": sort,
                "options": [{"value": v, "label": label} for v, label in SORTS.items()],
                "error": "",
                "hint": "",
            },
        ],
        "locked": False,
        "can_launch": False,
        "actions": [],
        "message": message,
    }


def end_refusal(desktop: UserDesktop | None, job_id: str, error: str) -> str:
    """What the card says when End failed: scancel's refusal as a sentence, else its words."""
    if _DENIED in error:
        whose = f"{desktop.user}'s desktop (job {job_id})" if desktop else f"job {job_id}"
        return (
            f"Slurm did not let you end {whose}: only its owner, a Slurm operator or "
            "administrator, or a coordinator of its account may end it."
        )
    return f"End failed: {error}. Try again, or ask your cluster admin to scancel {job_id}."
