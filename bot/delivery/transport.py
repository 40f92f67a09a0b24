"""The one module that turns an ``Outgoing`` into Bot API calls, and Telegram's errors into
the four outcomes the delivery worker cares about."""

from __future__ import annotations

import base64
from datetime import timedelta

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Location,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Venue,
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

from bot.domain.messages import MAX_CAPTION, MAX_MESSAGE, Outgoing, cut_utf16, plain_text, utf16_len

# Telegram's words for a chat the bot can no longer write to.
UNREACHABLE = ("chat not found", "user is deactivated", "bot was kicked", "have no rights",
               "not enough rights", "bot is not a member", "group chat was upgraded")
MAX_VENUE_TITLE = 100  # not documented by Telegram; kept short so a pin always goes
# A live location the bot edits for as long as it needs, then stops (Bot API: 0x7FFFFFFF).
LIVE_FOREVER = 0x7FFFFFFF


def fit(out: Outgoing) -> str:
    """The last line of defence for a text that reached us too long (``notify.send`` splits
    long messages; an edit cannot be split): cut it in UTF-16 units, as Telegram counts, and
    say so. HTML is sent as plain text when cut, so a cut can never break a tag."""
    if utf16_len(plain_text(out.text, out.html)) <= MAX_MESSAGE:
        return out.text
    text = plain_text(out.text, out.html)
    return cut_utf16(text, MAX_MESSAGE - 2) + " …"


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


def _local(exc: Exception) -> Permanent:
    """python-telegram-bot raised before any request (it wraps every network problem in a
    ``TelegramError``): the same call would fail the same way again, so it is permanent."""
    return Permanent(f"local error: {type(exc).__name__}")


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
            if out.photo:  # a chart: figures only, its caption within Telegram's 1,024
                photo = await self.bot.send_photo(
                    chat_id, base64.b64decode(out.photo),
                    caption=cut_utf16(out.text, MAX_CAPTION) or None, reply_markup=_markup(out))
                return photo.message_id
            if out.location is not None:
                lat, lon = out.location
                if out.live:
                    message = await self.bot.send_location(
                        chat_id, location=Location(longitude=lon, latitude=lat),
                        live_period=LIVE_FOREVER)
                elif out.text:
                    # Passed as a Venue: send_venue's own arguments treat a latitude or
                    # longitude of exactly 0.0 as missing and refuse before any request.
                    venue = Venue(Location(longitude=lon, latitude=lat),
                                  title=cut_utf16(out.text, MAX_VENUE_TITLE),
                                  address=f"{lat:.5f}, {lon:.5f}")
                    message = await self.bot.send_venue(chat_id, venue=venue)
                else:
                    message = await self.bot.send_location(chat_id, latitude=lat, longitude=lon)
            else:
                cut = fit(out)
                message = await self.bot.send_message(
                    chat_id, cut, reply_markup=_markup(out),
                    parse_mode=ParseMode.HTML if out.html and cut == out.text else None,
                )
        except TelegramError as exc:
            raise _classify(exc) from None
        except Exception as exc:
            raise _local(exc) from None
        return message.message_id

    async def edit(self, chat_id: int, message_id: int, out: Outgoing) -> None:
        if out.location is not None:
            return await self._edit_live(chat_id, message_id, out)
        markup = _markup(out)
        cut = fit(out)
        try:
            await self.bot.edit_message_text(
                cut, chat_id=chat_id, message_id=message_id,
                reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
                parse_mode=ParseMode.HTML if out.html and cut == out.text else None,
            )
        except TelegramError as exc:
            raise _classify(exc) from None
        except Exception as exc:
            raise _local(exc) from None

    async def _edit_live(self, chat_id: int, message_id: int, out: Outgoing) -> None:
        """A live location moves (editMessageLiveLocation) or, no longer ``live``, stops
        where it is (stopMessageLiveLocation)."""
        assert out.location is not None
        lat, lon = out.location
        try:
            if out.live:
                await self.bot.edit_message_live_location(
                    chat_id, message_id, location=Location(longitude=lon, latitude=lat))
            else:
                await self.bot.stop_message_live_location(chat_id, message_id)
        except TelegramError as exc:
            raise _classify(exc) from None
        except Exception as exc:
            raise _local(exc) from None

    async def pin(self, chat_id: int, message_id: int) -> None:
        """Pin a message quietly (a group's live board)."""
        try:
            await self.bot.pin_chat_message(chat_id, message_id, disable_notification=True)
        except TelegramError as exc:
            raise _classify(exc) from None
        except Exception as exc:
            raise _local(exc) from None

    async def set_menu(self, chat_id: int, commands: list[tuple[str, str]]) -> None:
        """A person's own command menu (BotCommandScopeChat); none: back to the default."""
        scope = BotCommandScopeChat(chat_id)
        try:
            if commands:
                await self.bot.set_my_commands(
                    [BotCommand(name, text) for name, text in commands], scope=scope)
            else:
                await self.bot.delete_my_commands(scope=scope)
        except TelegramError as exc:
            raise _classify(exc) from None
        except Exception as exc:
            raise _local(exc) from None

    async def delete(self, chat_id: int, message_id: int, caption: str | None = None) -> None:
        """Delete one of the bot's messages. Telegram refuses once it is 48 hours old: then
        a media message whose caption can change (``caption``) gets that caption and loses
        its buttons instead; anything else is refused (``Permanent``). A message already
        gone counts as deleted."""
        try:
            await self.bot.delete_message(chat_id, message_id)
            return
        except BadRequest as exc:
            reason = exc.message.lower()
            if "message to delete not found" in reason:
                return
            if caption is None or "can't be deleted" not in reason:
                raise _classify(exc) from None
        except TelegramError as exc:
            raise _classify(exc) from None
        except Exception as exc:
            raise _local(exc) from None
        try:
            await self.bot.edit_message_caption(chat_id, message_id, caption=caption,
                                                reply_markup=None)
        except TelegramError as exc:
            raise _classify(exc) from None
        except Exception as exc:
            raise _local(exc) from None
