"""Sending only while this instance leads: every call that reaches Telegram first passes
the leadership's fence, which lets it through at once while the lease is trusted and
holds it for good once it is not. A leader that was frozen or cut off from the database
therefore sends nothing after the moment another instance could have taken over, even
if it wakes with messages in hand (storage/postgres.py explains the timing)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Bot

from bot.delivery.transport import TelegramTransport
from bot.domain.messages import Outgoing


class FencedTransport(TelegramTransport):
    def __init__(self, bot: Bot, fence: Callable[[], Awaitable[None]]) -> None:
        super().__init__(bot)
        self.fence = fence

    async def send(self, chat_id: int, out: Outgoing) -> int:
        await self.fence()
        return await super().send(chat_id, out)

    async def edit(self, chat_id: int, message_id: int, out: Outgoing) -> None:
        await self.fence()
        await super().edit(chat_id, message_id, out)

    async def delete(self, chat_id: int, message_id: int, caption: str | None = None) -> None:
        await self.fence()
        await super().delete(chat_id, message_id, caption)
