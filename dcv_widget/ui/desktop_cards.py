"""What the widget shows for one desktop: a card, as plain data for the view to render.

Pure functions from a session (and the access instructions of its route) to the dict the
front-end draws; every decision (steps, actions, what to do after a failure) is made here, in
the kernel, so the view holds no logic and tests need no browser.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from html import escape
from typing import Any

from ..access.instructions import Access
from ..desktops.relaunch import change_for
from ..desktops.session import DesktopSession, SessionState, boot_words
from ..desktops.slurm import Partition
from .launcher import LABELS

STEPS = (
    (SessionState.SUBMITTING, "submitted", "Submitted"),
    (SessionState.QUEUED, "queued", "Queued"),
    (SessionState.STARTING, "starting", "Node starting"),
    (SessionState.LAUNCHING, "launching", "Desktop starting"),
    (SessionState.READY, "ready", "Ready"),
)
_INDEX = {state: i for i, (state, _, _) in enumerate(STEPS)}
# An ending desktop's last step, after those it reached.
_ENDING_STEP = ("ending", "Ending")

# The time-left badge warns in the last tenth of the time limit, within these bounds (seconds):
# the warning is there to save work before Slurm ends the job, for which a minute is the least
# and five minutes enough; a tenth keeps it to the very end of short desktops (a 15-minute one
# warns in its last 90 s, not from its start), and a long one warns 5 minutes before.
WARN_MIN = 60.0
WARN_MAX = 300.0
# An idle desktop's notification warns this long (seconds) before its job ends it, or halfway
# through a shorter idle timeout: late enough to matter, early enough to connect.
IDLE_WARN_MAX = 300.0

_ADVICE = {
    "time limit reached": "Launch again with a longer time limit if you need more.",
    "idle stop": "It ended because nobody was connected. Launch again and connect within the "
    "idle timeout.",
    "failed": "See the job's log below. If it fails again, send the log to your cluster admin.",
    "failed to submit": "Check the options above (partition, time limit, resources) and launch "
    "again; if Slurm keeps refusing, ask your cluster admin.",
    "ended": "Slurm keeps no record of how it ended; launch again if you still need a desktop.",
}


def steps_for(session: DesktopSession) -> list[dict[str, str]]:
    """The stepper. On its way: the steps done, the current one, those to come ("pending");
    Ready, once reached, is done (nothing is in progress on a ready desktop). Ending: the steps
    it reached, then Ending in progress. Ended: the steps it reached, the one it failed at
    marked "failed", and those it never reached "unreached" (not "pending": they won't come)."""
    steps = [(step_id, label) for _, step_id, label in STEPS]
    if session.state == SessionState.ENDED:
        reached = _INDEX[session.furthest]
        failed = session.outcome.startswith("failed") and session.furthest != SessionState.READY
        statuses = [
            "unreached" if i > reached else "failed" if failed and i == reached else "done"
            for i in range(len(STEPS))
        ]
    elif session.ending:
        reached = _INDEX[session.furthest]
        statuses = ["done" if i <= reached else "unreached" for i in range(len(STEPS))]
        steps.append(_ENDING_STEP)
        statuses.append("current")
    else:
        current = _INDEX[session.state]
        ready = session.state == SessionState.READY
        statuses = [
            "done" if i < current or ready else "current" if i == current else "pending"
            for i in range(len(STEPS))
        ]
    return [
        {"id": step_id, "label": label, "status": status}
        for (step_id, label), status in zip(steps, statuses, strict=True)
    ]


def warn_at(ends_at: float | None, started_at: float | None) -> float | None:
    """When the time-left badge of a job ending at `ends_at` turns into a warning (epoch
    seconds; None: no time limit), from its time limit (`ends_at - started_at`): see WARN_MIN.
    Decided here so that the view only compares it with its clock."""
    if ends_at is None:
        return None
    if started_at is None:  # the limit is not known: the longest warning
        return ends_at - WARN_MAX
    return ends_at - min(WARN_MAX, max(WARN_MIN, (ends_at - started_at) / 10))


def idle_fields(session: DesktopSession) -> dict[str, float | None]:
    """A ready desktop that nobody is connected to: when its job ends it unless someone
    connects (`idle_ends_at`, the card ticks "ends in 4 min unless someone connects") and from
    when the view warns (`idle_warn_at`, once); None for both otherwise."""
    ends, since = session.idle_ends_at, session.idle_since
    if ends is None or since is None or session.state != SessionState.READY or session.ending:
        return {"idle_ends_at": None, "idle_warn_at": None}
    return {"idle_ends_at": ends, "idle_warn_at": ends - min(IDLE_WARN_MAX, (ends - since) / 2)}


def tone_for(session: DesktopSession) -> str:
    """How an ended card looks beside its words: "failed" (error colour, ✕) for a desktop
    that failed, "ended" (quiet, ■) for one that ended otherwise (cancelled, completed, time
    limit, idle stop); "stuck" (warning colour) for a queued one that will not start by itself;
    "" while it lives otherwise, where its state sets the look."""
    if session.stuck:
        return "stuck"
    if session.state != SessionState.ENDED:
        return ""
    return "failed" if session.outcome.startswith("failed") else "ended"


def actions_for(session: DesktopSession, access: Access | None = None) -> list[str]:
    """What a person may do with this desktop now."""
    if session.state == SessionState.ENDED:
        return ["relaunch", "dismiss"]
    if session.ending:
        return []
    if session.state == SessionState.READY and access is not None and not access.pending:
        # While the route cannot work there is nothing to open: the card says why, and "Check
        # again" works the route out anew once the user fixed it.
        return ["check" if access.problem else "connect", "end"]
    return ["end"]


_ENGINE_NAMES = {"novnc": "noVNC", "dcv": "DCV"}

EXPECTS = "Slurm expects it to start"
NO_ESTIMATE = "Slurm has no start estimate for it yet"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def expected_label(session: DesktopSession) -> str:
    """The words before a queued desktop's expected start (the view adds "in about 12 min, at
    14:05" and ticks it), or that Slurm has none yet; "" where no start is to be expected (not
    queued, ending, or stuck: it will not start by itself)."""
    if session.display_state != "queued" or session.stuck:
        return ""
    return EXPECTS if session.expected_start is not None else NO_ESTIMATE


def expected_words(session: DesktopSession, now: float | None = None) -> str:
    """The whole sentence, as a terminal prints it: "Slurm expects it to start in about 12 min,
    at 14:05" (local time), or `expected_label`'s other words. The view words it the same."""
    label = expected_label(session)
    if label != EXPECTS or session.expected_start is None:
        return label
    now = time.time() if now is None else now
    start = session.expected_start
    return f"{label} {about(start - now)}, at {clock(start, now)}"


def about(seconds: float) -> str:
    """How far off a start is, roughly: "any moment now", "in about 12 min", "in about 2 h 10
    min", "in about 3 days" (js/src/time.ts, aboutText, says it the same way)."""
    if seconds < 30:
        return "any moment now"
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return f"in about {minutes} min"
    if minutes < 24 * 60:
        hours, rest = divmod(5 * round(minutes / 5), 60)
        return f"in about {hours} h {rest} min" if rest else f"in about {hours} h"
    days = round(minutes / (24 * 60))
    return f"in about {days} day{'s' if days != 1 else ''}"


def clock(at: float, now: float) -> str:
    """A local time of day, "14:05", with its day when it is not today ("14:05 tomorrow",
    "14:05 on 3 Mar"): js/src/time.ts, clockText, says it the same way."""
    when, today = time.localtime(at), time.localtime(now)
    hhmm = f"{when.tm_hour:02d}:{when.tm_min:02d}"
    if when[:3] == today[:3]:
        return hhmm
    if when[:3] == time.localtime(now + 86400)[:3]:
        return f"{hhmm} tomorrow"
    return f"{hhmm} on {when.tm_mday} {_MONTHS[when.tm_mon - 1]}"


def card_for(
    session: DesktopSession,
    access: Access | None = None,
    error: str = "",
    *,
    elsewhere: bool = False,
    boot_seconds: int = 0,
    partitions: Sequence[Partition] = (),
) -> dict[str, Any]:
    """The card of one desktop, with the error of its last Connect or End if any; `elsewhere`:
    launched from another notebook or outside one (shown apart); `boot_seconds`: the site's
    node_boot_seconds, said while a node boots as the partition labels say it (0: unknown).
    Never holds a secret: it is synced and saved in the notebook."""
    request = session.request
    where = f"partition {request.partition}" if request.partition else "the default partition"
    engine = _ENGINE_NAMES.get(request.engine, request.engine)
    ended = session.state == SessionState.ENDED
    # The time limit no longer matters to a desktop on its way out.
    limited = not ended and not session.ending
    return {
        "key": session.key,
        "job_id": session.job_id,
        "title": f"Desktop {session.job_id or '…'} · {engine} on {where}",
        # The view offers noVNC's display choice (fit, quality, compression) on novnc cards.
        "engine": request.engine,
        "elsewhere": elsewhere,
        "state": session.display_state,
        "tone": tone_for(session),
        "unreachable": session.unreachable,
        "steps": steps_for(session),
        "detail": _detail(session, boot_seconds),
        "since": session.since,
        # The words before the time ticking from `since`: a queued desktop is waiting.
        "since_label": "· waiting" if session.display_state == "queued" else "for",
        "node": session.node,
        "ends_at": session.ends_at if limited else None,
        # Queued: Slurm's estimate of its start (epoch seconds, the view ticks "in about …")
        # after these words; words alone when Slurm has none.
        "expected_label": expected_label(session),
        "expected_start": session.expected_start if expected_label(session) == EXPECTS else None,
        "warn_at": warn_at(session.ends_at, session.started_at) if limited else None,
        **idle_fields(session),
        # Its changes notify while its card is out of sight (js/src/notify.ts): a desktop's.
        "notify": True,
        "outcome": f"Ended: {session.outcome}" if ended else "",
        "log_tail": session.log_tail,
        "advice": _ADVICE.get(session.outcome, "") if ended else "",
        **relaunch_fields(session, partitions),
        "error": error,
        "access": access_card(access) if access and session.state == SessionState.READY else None,
        "actions": actions_for(session, access),
    }


def relaunch_fields(session: DesktopSession, partitions: Sequence[Partition]) -> dict[str, Any]:
    """An ended card's *Launch again*: what to change first, when its end says so (the words,
    and the field the form marks), and whether the click opens the form (a change to make, or
    a desktop adopted from the queue whose options are not all known) rather than relaunching
    (`partitions`: sinfo's, for the partition's limits)."""
    if session.state != SessionState.ENDED:
        return {"relaunch_hint": "", "relaunch_field": "", "relaunch_form": False}
    change = change_for(session, partitions)
    if change is None:
        return {
            "relaunch_hint": "",
            "relaunch_field": "",
            "relaunch_form": not session.request_known,
        }
    label = LABELS.get(change.field, change.field)
    return {
        "relaunch_hint": f"To launch again, change {label}: {change.hint}",
        "relaunch_field": change.field,
        "relaunch_form": True,
    }


def _detail(session: DesktopSession, boot_seconds: int) -> str:
    """What the desktop is doing, with how long a node boots here while one does; an end's
    detail only when it says more than the outcome."""
    if session.state == SessionState.ENDED and session.detail == session.outcome:
        return ""
    if session.display_state == SessionState.STARTING.value and boot_seconds > 0:
        return f"{session.detail} (nodes here boot {boot_words(boot_seconds)})"
    return session.detail


def access_card(access: Access) -> dict[str, Any]:
    """The card's `access` field (plain lists and dicts, as synced)."""
    return {**asdict(access), "commands": [asdict(c) for c in access.commands]}


def static_summary(cards: list[dict[str, Any]]) -> str:
    """One line for places without a widget front-end (a terminal, a plain-text viewer)."""
    counts: dict[str, int] = {}
    for card in cards:
        counts[card["state"]] = counts.get(card["state"], 0) + 1
    states = ", ".join(f"{n} {state}" for state, n in counts.items()) or "none yet"
    return f"Remote desktops (dcv_widget): {states}. {_NEEDS_KERNEL}"


def static_html(cards: list[dict[str, Any]]) -> str:
    """An honest static card for renderers without widgets (nbconvert HTML, GitHub, nbviewer):
    the desktops as they were when the cell ran, and how to use them for real."""
    rows = "".join(
        f"<li>{escape(c['title'])}: <b>{escape(c['state'])}</b>"
        f"{' (' + escape(c['outcome'] or c['detail']) + ')' if c['outcome'] or c['detail'] else ''}"
        "</li>"
        for c in cards
    )
    listing = f"<ul>{rows}</ul>" if rows else "<p>No desktop had been launched.</p>"
    return (
        '<div class="dcv-static"><p><b>Remote desktops</b> (dcv_widget), as when this cell '
        f"ran:</p>{listing}<p><i>{escape(_NEEDS_KERNEL)}</i></p></div>"
    )


_NEEDS_KERNEL = (
    "Open this notebook in JupyterLab or Notebook 7 with a running kernel to launch, connect "
    "to or end desktops."
)
