"""Plain records that cross the storage interface. No SQL, no Telegram."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROLES = ("reporter", "lawyer", "coordinator")
OPEN_STATES = ("open", "acknowledged", "claimed")


@dataclass(frozen=True)
class Person:
    user_id: int
    role: str
    display_name: str | None
    region: str | None
    language: str
    serves_regions: tuple[str, ...]
    speaks: tuple[str, ...]
    share_location: bool
    step: str
    on_call: bool
    on_call_until: float | None
    created_at: float
    discreet: bool = False  # neutral wording in their chat, cleared when an alert closes

    @property
    def registered(self) -> bool:
        return self.step == "done"

    @property
    def is_coordinator(self) -> bool:
        return self.registered and self.role == "coordinator"

    @property
    def is_lawyer(self) -> bool:
        return self.registered and self.role == "lawyer"

    @property
    def name(self) -> str:
        return self.display_name or "—"


@dataclass(frozen=True)
class Alert:
    id: int
    reporter_id: int
    state: str
    region: str | None
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    located_at: float | None
    created_at: float
    urgent: bool
    wave: int
    acknowledged_by: int | None
    acknowledged_at: float | None
    claimed_by: int | None
    claimed_at: float | None
    last_update_at: float | None
    safe_at: float | None
    closed_at: float | None
    outcome: str | None
    duress_at: float | None = None  # cancelled with the duress PIN: open, escalated
    concealed: bool = False  # since then, the reporter's chat shows nothing of it
    missed_checkin_at: float | None = None  # raised by a missed check-in due then

    @property
    def is_open(self) -> bool:
        return self.state != "closed"

    @property
    def has_location(self) -> bool:
        return self.lat is not None and self.lon is not None


@dataclass(frozen=True)
class Event:
    id: int
    alert_id: int
    at: float
    kind: str
    actor_id: int | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    chat_id: int
    alert_id: int | None
    kind: str
    priority: int
    state: str
    payload: str
    target_id: int | None
    attempts: int
    not_before: float
    created_at: float
    message_id: int | None


@dataclass(frozen=True)
class Due:
    """A pending outbox row without its payload: what the delivery worker plans with."""

    id: int
    chat_id: int
    kind: str
    priority: int
    target_id: int | None
    attempts: int
    size: int  # length of the payload
    not_before: float = 0.0  # a retry's earliest time; 0: at once
    alert_id: int | None = None  # the alert it is about (the lawyers of a region staggered)
    created_at: float = 0.0  # when it was written (a group's notices wait a burst out)


@dataclass(frozen=True)
class Timer:
    kind: str
    subject_id: int
    due_at: float


@dataclass(frozen=True)
class AuditEntry:
    """One line of the staff audit trail: an invite, a join, a revocation."""

    id: int
    at: float
    kind: str
    actor_id: int | None
    subject_id: int | None
    role: str | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HeldInput:
    """Messages a person sent over the input limit since their last summary."""

    user_id: int
    held: int
    first_at: float
    last_at: float


@dataclass(frozen=True)
class PinState:
    """A person's PINs (hashes only), what their next message is for, and wrong tries."""

    user_id: int
    pin_hash: str | None
    duress_hash: str | None
    pending_hash: str | None
    awaiting: str | None
    awaiting_alert: int | None
    awaiting_since: float | None
    fake: bool
    failures: int
    first_failure_at: float | None
    locked_until: float | None

    @property
    def has_pin(self) -> bool:
        return self.pin_hash is not None and self.duress_hash is not None


@dataclass(frozen=True)
class CheckIn:
    """A running check-in timer: if its person does not tap "I'm OK" by ``due_at``, an
    alert is raised for them."""

    id: int
    user_id: int
    started_at: float
    due_at: float


@dataclass(frozen=True)
class LiveShare:
    """The last position stored from a person's live-location share, and its state."""

    user_id: int
    lat: float
    lon: float
    accuracy_m: float | None
    located_at: float
    stored_at: float
    live_until: float | None
    state: str  # live | silent (no update for a while) | ended


@dataclass(frozen=True)
class Phone:
    """A person's phone number for SMS (opened), confirmed or waiting for its code."""

    user_id: int
    number: str
    code_word: str | None
    code_hash: str | None
    code_sent_at: float | None
    code_failures: int
    confirmed_at: float | None
    sms_paging: str  # never | fallback | always

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


@dataclass(frozen=True)
class SmsOut:
    """One outgoing SMS (opened): its number and text, and where it is on its way."""

    id: int
    user_id: int
    alert_id: int | None
    kind: str
    number: str
    text: str
    state: str  # pending | queued | sent | failed
    attempts: int
    created_at: float


@dataclass(frozen=True)
class SmsCandidate:
    """A lawyer paged for an alert who may get its page by SMS as well."""

    user_id: int
    paged_at: float
    sms_paging: str
    delivered: bool  # their Telegram card of this alert was delivered


@dataclass(frozen=True)
class Board:
    """A coordinators' group's live board: the outbox row of its pinned message, the page
    shown, and when it was last drawn (edits are at most one per ``board_edit_seconds``)."""

    chat_id: int
    set_by: int
    message_row: int | None
    page: int
    drawn_at: float
