"""What the bot says, as plain data the outbox stores and the delivery worker turns into
Bot API calls. The domain builds these; it never sees Telegram's types."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Button:
    label: str
    data: str  # callback data, at most 64 bytes; parsed and authorised on every press


@dataclass(frozen=True)
class KeyButton:
    label: str
    request_location: bool = False


@dataclass(frozen=True)
class Outgoing:
    """One message. ``location`` makes it a map pin; ``html`` allows a mention link;
    ``copy_of`` (chat id, message id) makes it a copy of what a person sent (copyMessage),
    with ``text`` as its new caption if not empty."""

    text: str = ""
    buttons: tuple[tuple[Button, ...], ...] = ()
    keyboard: tuple[tuple[KeyButton, ...], ...] | None = None
    remove_keyboard: bool = False
    location: tuple[float, float] | None = None
    html: bool = False
    copy_of: tuple[int, int] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Outgoing:
        data = json.loads(raw)
        return cls(
            text=data.get("text", ""),
            buttons=tuple(tuple(Button(**b) for b in row) for row in data.get("buttons", ())),
            keyboard=(
                tuple(tuple(KeyButton(**b) for b in row) for row in data["keyboard"])
                if data.get("keyboard") is not None
                else None
            ),
            remove_keyboard=data.get("remove_keyboard", False),
            location=tuple(data["location"]) if data.get("location") else None,
            html=data.get("html", False),
            copy_of=tuple(data["copy_of"]) if data.get("copy_of") else None,
        )


def combine(parts: list[Outgoing], header: str, limit: int = 3900) -> Outgoing:
    """Several queued alert messages for one chat as one message, each keeping its buttons.
    If the parts have grown too long together (edits add facts and names), each is cut to
    its first two and last two lines (the alert, its reporter, its state), so that no alert
    in the bundle loses its place to another's details."""
    if len(parts) == 1:
        return parts[0]
    texts = [p.text for p in parts]
    if len(header) + sum(len(x) + 2 for x in texts) > limit:
        texts = [_compact(x) for x in texts]
    text = header + "\n\n" + "\n\n".join(texts)
    rows = tuple(row for p in parts for row in p.buttons)
    return Outgoing(text=text, buttons=rows, html=any(p.html for p in parts))


def _compact(text: str) -> str:
    lines = text.split("\n")
    return text if len(lines) <= 4 else "\n".join([*lines[:2], "…", *lines[-2:]])


# Priorities: lower is sent first.
PRIORITY_ALERT = 0  # a new alert or an escalation wave to a lawyer
PRIORITY_REPLY = 1  # the answer to what a person just did (incl. "alert received")
PRIORITY_CASE = 2  # case updates, pins, edits of lawyer messages
PRIORITY_GROUP = 3  # press-freedom group notices
PRIORITY_LOW = 4  # reminders and summaries
