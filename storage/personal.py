"""What is personal, listed in one place: the retention purge and an erasure remove exactly
what is named here, so a new table that holds personal data is one line below.

An anonymised alert keeps its region, times, state, outcome, wave and the staff ids of who
acknowledged and claimed it (what /stats and the audit need); everything else about the
person goes.
"""

from __future__ import annotations

import json

# Columns of ``alerts`` nulled when an alert is anonymised (its reporter_id becomes 0).
ALERT_COLUMNS = ("lat", "lon", "accuracy_m", "located_at")

# Columns of ``people`` cleared, and to what, when a person who must keep a row (a former
# lawyer still named on an alert as who acknowledged or claimed it) is erased; everyone
# else's row is deleted.
PERSON_COLUMNS: dict[str, object] = {
    "display_name": None, "region": None, "serves_regions": "", "speaks": "",
    "share_location": 0, "on_call": 0, "on_call_until": None,
}

# Tables with rows about one alert, and the column naming the alert: those rows are deleted
# when the alert is anonymised (e.g. "live_positions": "alert_id").
ALERT_TABLES: dict[str, str] = {"sms_out": "alert_id"}

# Tables with rows about one person, and the column naming the person (a Telegram user
# id): those rows are deleted when the person is erased, by /forget, /erase, or because
# the retention purge took their last alert (e.g. "pin_hashes": "user_id").
PERSON_TABLES: dict[str, str] = {
    "held_input": "user_id", "pins": "user_id", "checkins": "user_id",
    "live_shares": "user_id", "phones": "user_id", "sms_out": "user_id",
}

# Timer kinds whose subject is a person: cleared when the person is erased.
PERSON_TIMERS = ("flood_summary", "oncall_until", "forget", "erase", "live_check",
                 "discreet_forget")

# Timeline detail keys that stay after a redaction: kinds, counts, staff ids, outcomes.
# Everything else (texts, notes, captions, file and message ids, recipients) is removed, so
# a key added later is personal until it is listed here.
EVENT_KEYS_KEPT = frozenset({
    "located", "region", "paged", "urgent", "wave", "lawyer", "previous", "outcome",
    "reason", "live", "held", "media", "message", "by",
})

# Outbox payload keys whose presence is kept (with a dummy value) after a redaction: a later
# withdrawal of the message must know whether it was a copy or a pin (those are deleted,
# texts are edited). Everything else, the text and buttons included, goes.
PAYLOAD_SHAPE_KEYS = ("copy_of", "location")


def redact_detail(detail: dict[str, object]) -> dict[str, object]:
    """An event's detail without its personal values."""
    return {k: v for k, v in detail.items() if k in EVENT_KEYS_KEPT}


def redact_payload(payload: str) -> str:
    """An outbox payload reduced to the shape of its message."""
    try:
        data = json.loads(payload)
    except ValueError:
        data = {}
    shape: dict[str, object] = {"redacted": True}
    if isinstance(data, dict):
        shape.update({k: [0, 0] for k in PAYLOAD_SHAPE_KEYS if data.get(k)})
    return json.dumps(shape)
