"""Alerts as CSV rows for coordinators' reports: where and how fast, never who.

Only the region, the times, the state and the outcome are written; no name, no Telegram id,
no location, no message text: a report is mailed around and printed, so it must be safe to
lose."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from bot.domain.casework import OUTCOME_KEYS
from storage import Alert

COLUMNS = ("alert", "region", "state", "urgent", "waves", "raised_at", "acknowledged_at",
           "claimed_at", "closed_at", "outcome", "seconds_to_acknowledge", "seconds_to_claim")
OUTCOMES = frozenset(OUTCOME_KEYS.values())


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else ""


def _seconds(start: float, end: float | None) -> str:
    return str(round(end - start)) if end else ""


def row(alert: Alert) -> tuple[str, ...]:
    outcome = alert.outcome or ""
    return (
        str(alert.id), alert.region or "", alert.state, "yes" if alert.urgent else "no",
        str(alert.wave), _when(alert.created_at), _when(alert.acknowledged_at),
        _when(alert.claimed_at), _when(alert.closed_at),
        outcome if outcome in OUTCOMES or not outcome else "other",
        _seconds(alert.created_at, alert.acknowledged_at),
        _seconds(alert.created_at, alert.claimed_at),
    )


def write_csv(alerts: Iterable[Alert], out: TextIO) -> int:
    """Write the header and one row per alert; return the number of alerts written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for alert in alerts:
        writer.writerow(row(alert))
        count += 1
    return count
