"""What the widget shows for one stand-alone DCV instance: a card in the same format as a Slurm
desktop's (cards.py), so the same view draws both. Pure: every decision is made here."""

from __future__ import annotations

from typing import Any

from ..access.instructions import Access
from ..instances.ec2 import Ec2Desktop
from .desktop_cards import access_card

STEPS = (("starting", "Instance starting"), ("dcv", "DCV starting"), ("ready", "Ready"))


def card_state(desktop: Ec2Desktop, dcv_ready: bool) -> str:
    """The card's state word: Slurm cards' words where they mean the same, else EC2's."""
    if desktop.state == "running":
        return "ready" if dcv_ready else "launching"
    return {"pending": "launching", "terminated": "ended"}.get(desktop.state, desktop.state)


def instance_steps(desktop: Ec2Desktop, dcv_ready: bool) -> list[dict[str, str]]:
    """The stepper while an instance comes up (or is up); none while stopped or going away."""
    if desktop.state == "pending":
        current = 0
    elif desktop.state == "running":
        current = 2 if dcv_ready else 1
    else:
        return []
    return [
        {
            "id": step_id,
            "label": label,
            "status": "done"
            if i < current or (dcv_ready and i == 2)
            else "current"
            if i == current
            else "pending",
        }
        for i, (step_id, label) in enumerate(STEPS)
    ]


def instance_actions(desktop: Ec2Desktop, dcv_ready: bool, busy: bool) -> list[str]:
    """What a person may do with the instance now (nothing while an action is under way)."""
    if busy:
        return []
    return {
        "running": (["connect"] if dcv_ready else []) + ["stop", "reboot", "terminate"],
        "pending": ["terminate"],
        "stopped": ["start", "terminate"],
    }.get(desktop.state, [])


def cost_words(desktop: Ec2Desktop, hourly: float | None) -> str:
    """The price per hour (On-Demand, where the Pricing API answered) and this run's cost so
    far; EC2 bills a running instance, not a stopped one (its volumes still cost)."""
    if hourly is None:
        return ""
    words = f"${hourly:.4f}/h on demand"
    if desktop.uptime:
        words += f", about ${hourly * desktop.uptime / 3600:.2f} since it started"
    return words


def instance_card(
    desktop: Ec2Desktop,
    *,
    dcv_ready: bool,
    access: Access | None = None,
    hourly: float | None = None,
    busy: str = "",
    error: str = "",
) -> dict[str, Any]:
    """The card of one instance. Never holds a secret: it is synced and saved in the notebook."""
    state = card_state(desktop, dcv_ready)
    where = desktop.public_ip or desktop.private_ip
    words = [desktop.instance_type, desktop.platform, cost_words(desktop, hourly)]
    if busy:
        words.insert(0, busy)
    elif state == "launching":
        words.insert(0, "waiting for DCV to answer" if desktop.state == "running" else "booting")
    return {
        "key": desktop.instance_id,
        "job_id": "",  # the title names the instance; "job" is Slurm's word
        "title": f"{desktop.name or 'DCV instance'} · {desktop.instance_id}",
        "state": state,
        "unreachable": False,
        "steps": instance_steps(desktop, dcv_ready),
        "detail": " · ".join(w for w in words if w),
        "since": desktop.launch_time if desktop.uptime else 0.0,
        "node": where,
        "ends_at": None,
        "outcome": "Ended: terminated" if desktop.state == "terminated" else "",
        "log_tail": "",
        "advice": "",
        "error": error,
        "access": access_card(access) if access and state == "ready" else None,
        "actions": instance_actions(desktop, dcv_ready, bool(busy)),
    }


def panel_problem(not_set_up: tuple[str, ...], listing: str) -> str:
    """The panel's box (its first line the heading): what keeps it from AWS at all, each
    missing piece with where to set it; else why the last listing failed; "" when neither.
    Launch failures are not here: they are the form's message, next to the button."""
    if not_set_up:
        missing = "\n".join(f"• {_sentence(m)}" for m in not_set_up)
        return f"AWS is not set up here\n{missing}\nThen run this cell again."
    if listing:
        return (
            f"Your instances could not be listed\n{_sentence(listing)}\n"
            "The cards below may be out of date; the panel tries again by itself."
        )
    return ""


def _sentence(words: str) -> str:
    """`words` as a sentence: capital first letter, a full stop."""
    words = words[:1].upper() + words[1:]
    return words if words.endswith((".", "?", "!")) else words + "."
