"""The floor: what any design must pay to commit an alert and tell one person.

One committed SQLite transaction through the bot's own storage layer (aiosqlite, WAL,
``synchronous = FULL``, ``BEGIN IMMEDIATE`` .. ``COMMIT``, one small INSERT) plus one
sendMessage round trip to the same emulator through python-telegram-bot, as the bot does.
Latency is judged against this, not against zero.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType

from telegram import Bot

from bench.world import codec
from emulator import Emulator
from storage import Storage


class Floor:
    """A temp database and a Bot client, kept open so each sample is the steady state."""

    def __init__(self, emu: Emulator, db: Path | str, chat_id: int) -> None:
        self.emu = emu
        self.chat_id = chat_id
        self.storage = Storage(db, codec())
        self.bot = Bot(emu.token, base_url=emu.base_url)
        self.samples: list[float] = []

    async def __aenter__(self) -> Floor:
        await self.storage.__aenter__()
        await self.bot.initialize()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.bot.shutdown()
        await self.storage.__aexit__(exc_type, exc, tb)

    async def sample(self, count: int = 1) -> None:
        """``count`` sequential commit + sendMessage pairs, with the emulator's flood limits
        lifted meanwhile (the samples are not the bot's traffic and must not eat its budget;
        the caller only samples while the bot is idle and its windows have expired)."""
        limits = self.emu.limits
        self.emu.limits = None
        try:
            for _ in range(count):
                start = time.perf_counter()
                async with self.storage.transaction() as tx:
                    await tx.set_value(f"floor.{len(self.samples)}", "x" * 64)
                await self.bot.send_message(self.chat_id, "floor sample")
                self.samples.append(time.perf_counter() - start)
        finally:
            self.emu.limits = limits
