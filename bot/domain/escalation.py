"""The escalation policy: a pure function of an alert's state, the time and the settings.

Like PagerDuty's escalation levels and GoAlert's timers-as-rows: each open alert has one
``escalate`` timer row; when it falls due the runner asks ``decide`` what to do and writes
the next due time in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from storage.records import Alert


class Action(Enum):
    NOTHING = "nothing"  # the alert is closed: drop the timer
    WAVE = "wave"  # nobody acknowledged: page the next wave
    ASK_ASSIGN = "ask_assign"  # acknowledged but unclaimed: ask coordinators to assign
    REMIND_STALE = "remind_stale"  # claimed, no update for a long time: remind the lawyer


@dataclass(frozen=True)
class Policy:
    ack_timeout: float = 180.0
    repeat: float = 300.0
    claim_timeout: float = 600.0
    stale: float = 12 * 3600.0


@dataclass(frozen=True)
class Decision:
    action: Action
    next_due: float | None  # when to look again; None: no more timer


def first_due(alert_created: float, policy: Policy) -> float:
    return alert_created + policy.ack_timeout


def decide(alert: Alert, now: float, policy: Policy) -> Decision:
    """What to do for ``alert`` when its timer fires at ``now``."""
    if alert.state == "closed":
        return Decision(Action.NOTHING, None)
    if alert.state == "open":
        return Decision(Action.WAVE, now + policy.repeat)
    if alert.state == "acknowledged":
        assert alert.acknowledged_at is not None
        due = alert.acknowledged_at + policy.claim_timeout
        if now < due:
            return Decision(Action.NOTHING, due)
        return Decision(Action.ASK_ASSIGN, now + policy.repeat)
    # claimed
    last = alert.last_update_at or alert.claimed_at or alert.created_at
    due = last + policy.stale
    if now < due:
        return Decision(Action.NOTHING, due)
    return Decision(Action.REMIND_STALE, now + policy.stale)
