"""The one module that turns an ``Outgoing`` into Bot API calls, and Telegram's errors into
the four outcomes the delivery worker cares about."""

from __future__ import annotations

from datetime import timedelta

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.domain.messages import Outgoing

# Telegram's words for a chat the bot can no longer write to.
UNREACHABLE = ("chat not found", "user is deactivated", "bot was kicked", "have no rights",
               "not enough rights", "bot is not a member", "group chat was upgraded")
# Telegram allows 4096 UTF-16 code units; an emoji is two, so stay well inside in characters.
MAX_MESSAGE = 4000


def fit(text: str) -> str:
    """Never let a long message fail: cut it, and say so."""
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 2] + " …"


class DeliveryError(Exception):
    """Base of the outcomes below; ``str(exc)`` is safe to log (no message content)."""


class RetryLater(DeliveryError):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"rate limited for {seconds:.1f}s")
        self.seconds = seconds


class Transient(DeliveryError):
    """5xx, timeouts, dropped connections: try again with back-off. ``maybe_delivered``:
    the request may have reached Telegram (a timeout waiting for the answer)."""

    def __init__(self, reason: str, maybe_delivered: bool = False) -> None:
        super().__init__(reason)
        self.maybe_delivered = maybe_delivered


class Permanent(DeliveryError):
    """Retrying will not help. ``unreachable``: the person or group is gone for the bot
    (blocked, deleted, kicked); otherwise the request itself was wrong (our bug)."""

    def __init__(self, reason: str, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.unreachable = unreachable


class NotModified(DeliveryError):
    """An edit that changes nothing: as good as delivered."""


Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def _markup(out: Outgoing) -> Markup | None:
    if out.buttons:
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
             for row in out.buttons]
        )
    if out.keyboard is not None:
        return ReplyKeyboardMarkup(
            [[KeyboardButton(b.label, request_location=b.request_location) for b in row]
             for row in out.keyboard],
            resize_keyboard=True, is_persistent=True,
        )
    if out.remove_keyboard:
        return ReplyKeyboardRemove()
    return None


def _classify(exc: TelegramError) -> DeliveryError:
    if isinstance(exc, RetryAfter):
        after = exc.retry_after
        seconds = after.total_seconds() if isinstance(after, timedelta) else float(after)
        return RetryLater(seconds)
    if isinstance(exc, BadRequest) and "not modified" in exc.message.lower():
        return NotModified(exc.message)
    if isinstance(exc, (Forbidden, ChatMigrated)) or (
            isinstance(exc, BadRequest) and any(
                gone in exc.message.lower() for gone in UNREACHABLE)):
        return Permanent(f"{type(exc).__name__}: {exc.message}", unreachable=True)
    if isinstance(exc, BadRequest):
        return Permanent(f"{type(exc).__name__}: {exc.message}")
    return Transient(type(exc).__name__, maybe_delivered=isinstance(exc, TimedOut))


class TelegramTransport:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, chat_id: int, out: Outgoing) -> int:
        """Send one message; return its Telegram message id."""
        try:
            message: Message
            if out.copy_of is not None:  # a reporter's photo, voice, file... for their lawyer
                from_chat, original = out.copy_of
                copied = await self.bot.copy_message(
                    chat_id, from_chat_id=from_chat, message_id=original,
                    caption=out.text or None, reply_markup=_markup(out),
                )
                return copied.message_id
            if out.location is not None:
                lat, lon = out.location
                if out.text:
                    message = await self.bot.send_venue(
                        chat_id, latitude=lat, longitude=lon, title=out.text[:100],
                        address=f"{lat:.5f}, {lon:.5f}",
                    )
                else:
                    message = await self.bot.send_location(chat_id, latitude=lat, longitude=lon)
            else:
                message = await self.bot.send_message(
                    chat_id, fit(out.text), reply_markup=_markup(out),
                    parse_mode=ParseMode.HTML if out.html else None,
                )
        except TelegramError as exc:
            raise _classify(exc) from None
        return message.message_id

    async def edit(self, chat_id: int, message_id: int, out: Outgoing) -> None:
        markup = _markup(out)
        try:
            await self.bot.edit_message_text(
                fit(out.text), chat_id=chat_id, message_id=message_id,
                reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
                parse_mode=ParseMode.HTML if out.html else None,
            )
        except TelegramError as exc:
            raise _classify(exc) from None
