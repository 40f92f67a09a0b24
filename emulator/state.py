"""The simulated Telegram world: chats, messages, pending updates, open callback queries.

Kept free of HTTP so the same state serves the server (bot side) and the simulated
people (user side), and so tests can inspect it directly.
"""

from __future__ import annotations

import asyncio
import copy
import time
from dataclasses import dataclass, field
from typing import Any

# Telegram forgets unanswered callback queries after a while; answering later fails.
CALLBACK_TTL = 15.0
# The update types delivered when allowed_updates is empty/unset (Telegram's default).
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


@dataclass
class Call:
    """One HTTP call the bot made, as the emulator saw and answered it."""

    time: float
    method: str
    params: dict[str, Any]
    status: int
    result: Any | None = None
    error: str | None = None
    fault: str | None = None
    chat_id: int | None = None


@dataclass
class CallbackAnswer:
    """What the bot answered to a pressed inline button."""

    text: str | None
    show_alert: bool
    url: str | None = None


@dataclass
class BotMessage:
    """A message the bot sent, in its current state (edits applied)."""

    chat_id: int
    message_id: int
    text: str | None
    location: dict[str, Any] | None
    venue: dict[str, Any] | None
    reply_markup: dict[str, Any] | None
    date: int
    edit_count: int = 0
    caption: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    method: str = "sendMessage"
    seq: int = 0
    deleted: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def inline_rows(self) -> list[list[tuple[str, str | None]]]:
        """Inline keyboard as rows of (label, callback_data or None for url/other buttons)."""
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard") or []
        return [[(b.get("text", ""), b.get("callback_data")) for b in row] for row in rows]

    @property
    def buttons(self) -> list[str]:
        """All inline button labels, row by row."""
        return [label for row in self.inline_rows for label, _ in row]

    def button_data(self, label: str) -> str:
        """callback_data of the inline button with this label."""
        for row in self.inline_rows:
            for text, data in row:
                if text == label and data is not None:
                    return data
        raise LookupError(
            f"no callback button {label!r} on message {self.message_id}; buttons: {self.buttons}"
        )


class Notifier:
    """Wakes coroutines waiting for "something changed" without lost wake-ups."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def future(self) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        return fut

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)


@dataclass
class Chat:
    """One chat as the bot sees it."""

    id: int
    type: str
    title: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    blocked: bool = False
    bot_member: bool = True
    members: set[int] = field(default_factory=set)
    admins: set[int] = field(default_factory=set)
    owner: int | None = None
    next_message_id: int = 1
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    bot_messages: list[BotMessage] = field(default_factory=list)
    keyboard: dict[str, Any] | None = None
    pinned: list[int] = field(default_factory=list)
    changed: Notifier = field(default_factory=Notifier)

    def short(self) -> dict[str, Any]:
        """The Chat object embedded in messages."""
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        for key in ("title", "first_name", "last_name", "username"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out

    def full(self) -> dict[str, Any]:
        """ChatFullInfo for getChat."""
        out = self.short()
        out.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        if self.pinned and self.pinned[-1] in self.messages:
            out["pinned_message"] = self.messages[self.pinned[-1]]
        return out

    def user_dict(self) -> dict[str, Any]:
        """For private chats: the User object of the person."""
        out: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name or ""}
        if self.last_name:
            out["last_name"] = self.last_name
        if self.username:
            out["username"] = self.username
        if self.language_code:
            out["language_code"] = self.language_code
        return out

    def take_message_id(self) -> int:
        """Message ids are per chat and shared by the bot's and the people's messages."""
        mid = self.next_message_id
        self.next_message_id += 1
        return mid

    @property
    def inbox(self) -> list[BotMessage]:
        return [m for m in self.bot_messages if not m.deleted]


@dataclass
class PendingCallback:
    """A pressed button waiting for answerCallbackQuery."""

    id: str
    created: float
    future: asyncio.Future[CallbackAnswer]


class World:
    """All chats, pending updates and open callback queries of one emulator."""

    def __init__(self) -> None:
        self.chats: dict[int, Chat] = {}
        self.updates: list[dict[str, Any]] = []
        self.next_update_id = 100_000
        self.updates_changed = Notifier()
        self.allowed_updates: frozenset[str] | None = None
        self.callbacks: dict[str, PendingCallback] = {}
        self.callback_opened: dict[str, float] = {}  # every query's id -> when pressed
        self.next_callback = 1

    def chat_by_ref(self, ref: int | str) -> Chat | None:
        """Resolve a chat_id parameter (numeric id or @username)."""
        if isinstance(ref, str):
            name = ref.lstrip("@").lower()
            for chat in self.chats.values():
                if chat.username and chat.username.lower() == name:
                    return chat
            return None
        return self.chats.get(ref)

    def is_allowed(self, kind: str) -> bool:
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in DEFAULT_EXCLUDED_UPDATES

    def push_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Queue an update for the bot (unless allowed_updates filters it out)."""
        if not self.is_allowed(kind):
            return None
        update = {"update_id": self.next_update_id, kind: copy.deepcopy(payload)}
        self.next_update_id += 1
        self.updates.append(update)
        self.updates_changed.notify()
        return update

    def confirm(self, offset: int) -> None:
        """getUpdates offset: forget updates below it; a negative one keeps the last -offset."""
        if offset < 0:
            self.updates = self.updates[offset:]
        else:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]

    def set_allowed(self, allowed: list[str] | None) -> None:
        """Apply allowed_updates (empty list restores the default set)."""
        self.allowed_updates = frozenset(allowed) if allowed else None
        self.updates = [u for u in self.updates if self.is_allowed(_kind(u))]

    def open_callback(self) -> PendingCallback:
        cid = f"{time.time_ns() % 10**12}{self.next_callback:06d}"
        self.next_callback += 1
        fut: asyncio.Future[CallbackAnswer] = asyncio.get_running_loop().create_future()
        pending = PendingCallback(cid, time.monotonic(), fut)
        self.callbacks[cid] = pending
        self.callback_opened[cid] = pending.created
        return pending


def _kind(update: dict[str, Any]) -> str:
    return next(k for k in update if k != "update_id")
