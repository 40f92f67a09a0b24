"""Simulated people: they write to the bot, press its buttons and read what it sent.

Tests read like a conversation (``await user.send_command("/start")``,
``await user.wait_for("Welcome")``, ``await user.press("Yes")``) while everything the bot
does still goes through the real HTTP API.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .markup import button_label
from .state import BotMessage, CallbackAnswer, Chat
from .text import command_entities

if TYPE_CHECKING:
    from .server import Emulator


class _ChatSide:
    """What can be seen in one chat: the bot's messages and the current reply keyboard."""

    def __init__(self, emu: Emulator, chat: Chat):
        self.emu = emu
        self.chat = chat

    @property
    def id(self) -> int:
        return self.chat.id

    @property
    def inbox(self) -> list[BotMessage]:
        """The bot's messages in this chat, oldest first, edits applied, deleted ones removed."""
        return self.chat.inbox

    @property
    def keyboard(self) -> list[list[str]] | None:
        """Labels of the reply keyboard the bot last sent here (None if none/removed)."""
        markup = self.chat.keyboard
        if not markup:
            return None
        return [[button_label(b) for b in row] for row in markup.get("keyboard", [])]

    def mark(self) -> int:
        """Position to pass as ``after`` to wait only for messages sent from now on.

        Equals ``len(inbox)`` as long as the bot deleted nothing; counts deleted messages
        too, so it stays correct when the bot deletes.
        """
        return len(self.chat.bot_messages)

    async def wait_for(
        self,
        contains: str | None = None,
        predicate: Callable[[BotMessage], bool] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
        after: int = 0,
    ) -> BotMessage:
        """The first bot message (from position ``after``) matching, waiting up to ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for msg in self.chat.bot_messages[after:]:
                if msg.deleted:
                    continue
                body = msg.text if msg.text is not None else (msg.caption or "")
                if contains is not None and contains not in body:
                    continue
                if predicate is not None and not predicate(msg):
                    continue
                return msg
            remaining = deadline - loop.time()
            if remaining <= 0:
                texts = [m.text if m.text is not None else f"<{m.method}>" for m in self.inbox]
                raise TimeoutError(
                    f"no bot message matching contains={contains!r} predicate={predicate!r} "
                    f"after={after} in chat {self.chat.id} within {timeout}s; inbox: {texts}"
                )
            fut = self.chat.changed.future()
            try:
                await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                pass

    # ----- building updates ----------------------------------------------------------------

    def _message(self, sender: Chat, content: dict[str, Any]) -> dict[str, Any]:
        """Store a message from ``sender`` in this chat and queue it as an update."""
        chat = self.chat
        msg: dict[str, Any] = {
            "message_id": chat.take_message_id(),
            "from": sender.user_dict(),
            "chat": chat.short(),
            "date": int(time.time()),
        }
        msg.update(content)
        chat.messages[msg["message_id"]] = msg
        if chat.type != "private":
            chat.members.add(sender.id)
        self.emu.world.push_update("message", msg)
        return copy.deepcopy(msg)

    def _text(self, sender: Chat, text: str, date: float | None = None) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        entities = command_entities(text)
        if entities:
            content["entities"] = entities
        if date is not None:
            content["date"] = int(date)
        return self._message(sender, content)

    def _find_button(self, label: str, message: BotMessage | None) -> BotMessage:
        candidates = [message] if message is not None else list(reversed(self.inbox))
        for msg in candidates:
            if any(
                text == label and data is not None for row in msg.inline_rows for text, data in row
            ):
                return msg
        available = sorted({b for m in candidates for b in m.buttons})
        where = f"message {message.message_id}" if message else f"chat {self.chat.id}"
        raise LookupError(f"no inline callback button {label!r} in {where}; available: {available}")

    async def _press(
        self,
        sender: Chat,
        message: BotMessage,
        data: str,
        timeout: float,  # noqa: ASYNC109
    ) -> CallbackAnswer:
        """Send a callback_query update and wait for the bot's answerCallbackQuery."""
        world = self.emu.world
        pending = world.open_callback()
        query = {
            "id": pending.id,
            "from": sender.user_dict(),
            "message": copy.deepcopy(message.raw),
            "chat_instance": str(abs(self.chat.id) * 7 + 13),
            "data": data,
        }
        world.push_update("callback_query", query)
        try:
            return await asyncio.wait_for(asyncio.shield(pending.future), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"bot did not answer callback query {pending.id} (data={data!r}) within {timeout}s"
            ) from None


class SimUser(_ChatSide):
    """A person in a private chat with the bot (chat id == user id)."""

    @property
    def first_name(self) -> str:
        return self.chat.first_name or ""

    @property
    def user(self) -> dict[str, Any]:
        """The Telegram User object of this person."""
        return self.chat.user_dict()

    async def send_text(self, text: str, date: float | None = None) -> dict[str, Any]:
        """Write a text message (commands at the start get a bot_command entity). ``date``:
        the time Telegram stamps on it (by default now; one kept while the bot was away,
        or that Telegram could not hand over, carries its original date)."""
        return self._text(self.chat, text, date)

    async def send_command(self, command: str, payload: str | None = None) -> dict[str, Any]:
        """``/start payload``-style message."""
        if not command.startswith("/"):
            command = "/" + command
        return self._text(self.chat, f"{command} {payload}" if payload else command)

    async def send_location(
        self,
        lat: float,
        lon: float,
        horizontal_accuracy: float | None = None,
        live_period: int | None = None,
        date: float | None = None,
    ) -> dict[str, Any]:
        """Share a (possibly live) location. ``date``: the time Telegram stamps on it (by
        default now; an update kept while the bot was away carries its original date)."""
        location: dict[str, Any] = {"latitude": lat, "longitude": lon}
        if horizontal_accuracy is not None:
            location["horizontal_accuracy"] = horizontal_accuracy
        if live_period is not None:
            location["live_period"] = live_period
        content: dict[str, Any] = {"location": location}
        if date is not None:
            content["date"] = int(date)
        return self._message(self.chat, content)

    async def edit_live_location(
        self, message: dict[str, Any], lat: float, lon: float, date: float | None = None
    ) -> dict[str, Any]:
        """Move a live location shared earlier: an ``edited_message`` update, stamped
        ``date`` (by default now) as its edit date."""
        stored = self.chat.messages.get(message["message_id"], message)
        stored = copy.deepcopy(stored)
        location = dict(stored.get("location") or {})
        location.update(latitude=lat, longitude=lon)
        stored["location"] = location
        stored["edit_date"] = int(time.time() if date is None else date)
        self.chat.messages[stored["message_id"]] = stored
        self.emu.world.push_update("edited_message", stored)
        return copy.deepcopy(stored)

    def _file(self, kind: str, tag: str, caption: str | None = None,
              **fields: Any) -> dict[str, Any]:
        """Send a file of ``kind`` with fake ids (never downloadable); ``fields`` are the
        kind's own (duration, mime type, ...)."""
        n = self.chat.next_message_id
        file = {"file_id": f"AgACAgIAAx-{tag}-{self.id}-{n}",
                "file_unique_id": f"u{tag[0]}{self.id}{n}", **fields}
        content: dict[str, Any] = {kind: file}
        if caption is not None:
            content["caption"] = caption
        return self._message(self.chat, content)

    async def send_photo(self, caption: str | None = None) -> dict[str, Any]:
        """Send a photo: two sizes, as Telegram sends them."""
        n = self.chat.next_message_id
        sizes = [{"file_id": f"AgACAgIAAx-user-{self.id}-{n}-{size}",
                  "file_unique_id": f"u{size}{self.id}{n}", "width": w, "height": h}
                 for size, w, h in (("s", 90, 90), ("b", 1280, 960))]
        content: dict[str, Any] = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        return self._message(self.chat, content)

    async def send_voice(self, duration: int = 3, caption: str | None = None) -> dict[str, Any]:
        """Send a voice note."""
        return self._file("voice", "voice", caption, duration=duration, mime_type="audio/ogg")

    async def send_document(
        self, file_name: str = "protocol.pdf", caption: str | None = None
    ) -> dict[str, Any]:
        """Send a file."""
        return self._file("document", "doc", caption, file_name=file_name,
                          mime_type="application/pdf")

    async def send_video_note(self, duration: int = 5) -> dict[str, Any]:
        """Send a round video message (video notes have no caption)."""
        return self._file("video_note", "round", None, length=240, duration=duration)

    async def forward_location(
        self, lat: float, lon: float, from_name: str = "Someone"
    ) -> dict[str, Any]:
        """Forward a location someone else shared: the message carries ``forward_origin``
        (a hidden user, as for anyone who does not allow linking to their account)."""
        return self._message(
            self.chat,
            {
                "location": {"latitude": lat, "longitude": lon},
                "forward_origin": {
                    "type": "hidden_user",
                    "date": int(time.time()) - 60,
                    "sender_user_name": from_name,
                },
            },
        )

    async def reply_to(self, bot_message: BotMessage, text: str) -> dict[str, Any]:
        """Reply to one of the bot's messages."""
        reply = copy.deepcopy(bot_message.raw)
        reply.pop("reply_to_message", None)
        content: dict[str, Any] = {"text": text, "reply_to_message": reply}
        entities = command_entities(text)
        if entities:
            content["entities"] = entities
        return self._message(self.chat, content)

    async def press(
        self,
        label: str,
        message: BotMessage | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> CallbackAnswer:
        """Press the inline button ``label`` (on ``message`` or the newest message having it)."""
        target = self._find_button(label, message)
        return await self._press(self.chat, target, target.button_data(label), timeout)

    async def press_data(
        self,
        message: BotMessage,
        data: str,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> CallbackAnswer:
        """Send arbitrary (possibly forged) callback data for ``message``."""
        return await self._press(self.chat, message, data, timeout)

    async def tap(self, label: str, location: tuple[float, float] | None = None) -> dict[str, Any]:
        """Tap a button of the current reply keyboard (location buttons share ``location``)."""
        markup = self.chat.keyboard
        rows = markup.get("keyboard", []) if markup else []
        for row in rows:
            for button in row:
                if button_label(button) != label:
                    continue
                if isinstance(button, dict) and button.get("request_location"):
                    if location is None:
                        raise ValueError(
                            f"button {label!r} requests a location: pass location=(lat, lon)"
                        )
                    return await self.send_location(*location)
                return await self.send_text(label)
        raise LookupError(f"no reply keyboard button {label!r}; keyboard: {self.keyboard}")


class SimGroup(_ChatSide):
    """A supergroup with the bot in it; people write and press buttons there."""

    @property
    def title(self) -> str:
        return self.chat.title or ""

    def add_admin(self, user: SimUser) -> None:
        """Make a person an administrator (as reported by getChatMember)."""
        self.chat.members.add(user.id)
        self.chat.admins.add(user.id)

    async def send_text(self, user: SimUser, text: str) -> dict[str, Any]:
        return self._text(user.chat, text)

    async def send_command(
        self, user: SimUser, command: str, args: str | None = None
    ) -> dict[str, Any]:
        if not command.startswith("/"):
            command = "/" + command
        return self._text(user.chat, f"{command} {args}" if args else command)

    async def press(
        self,
        user: SimUser,
        label: str,
        message: BotMessage | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> CallbackAnswer:
        target = self._find_button(label, message)
        return await self._press(user.chat, target, target.button_data(label), timeout)

    async def press_data(
        self,
        user: SimUser,
        message: BotMessage,
        data: str,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> CallbackAnswer:
        """Send arbitrary (possibly forged) callback data for ``message`` as ``user``."""
        return await self._press(user.chat, message, data, timeout)
