"""The floors: what any design must pay to commit an alert and tell one person.

``Floor``: one committed SQLite transaction through the bot's own storage layer (aiosqlite,
WAL, ``synchronous = FULL``, ``BEGIN IMMEDIATE`` .. ``COMMIT``, one small INSERT) plus one
sendMessage round trip to the same emulator through python-telegram-bot, as the bot does.
Latency is judged against this, not against zero.

``FrameworkFloor``: the same commit and send done by a python-telegram-bot bot
(bench.minimal_bot) and timed as the bot is, from the getUpdates answer carrying the
location. It adds what every bot on this stack pays before its handler runs (the answer
reaching the process, parsing it into an Update, dispatching it), so it says how close to
the floor any bot we could build gets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from types import TracebackType

from telegram import Bot

from bench.world import BotProcess, codec, send_location
from bot.domain.regions import BY_KEY
from emulator import Emulator, SimUser
from storage import Storage

ALMATY = (BY_KEY["almaty"].lat, BY_KEY["almaty"].lon)  # the framework floor's reporter


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


class FrameworkFloor:
    """bench.minimal_bot running against an emulator of its own, kept running so each
    sample is the steady state.

    An emulator answers one bot token, and a second bot polling the bot's emulator would
    take the bot's updates; so the minimal bot gets a second emulator in this process, on
    this event loop, timed by the same clock. Its flood limits are off, as the floor's are
    while it samples: the minimal bot's sends are not the bot's traffic and must not meet a
    limit.
    """

    def __init__(self, db: Path | str, workdir: Path) -> None:
        self.db = db
        self.workdir = workdir
        self.emu = Emulator(bot_username="minimal_bot", bot_name="Minimal", limits=None)
        self.samples: list[float] = []
        self._stack = AsyncExitStack()
        self._reporter: SimUser | None = None
        self._chat = 0
        self._bot: BotProcess | None = None

    async def __aenter__(self) -> FrameworkFloor:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.emu)
            self._reporter = self.emu.user(first_name="Reporter")
            self._chat = self.emu.user(first_name="Floor").id
            bot = BotProcess(self.emu, self.db, self.workdir, self._chat, True,
                             module="bench.minimal_bot", args=(str(self._chat),))
            stack.push_async_callback(bot.stop)
            await bot.start()
            self._bot = bot
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._stack.aclose()

    async def sample(self, count: int = 1, within: float = 10.0) -> None:
        """``count`` locations, one after another, each sent once the minimal bot waits
        in its long poll again (as the bot waits between alerts). Back to back, samples
        after the first run warm: the latency bench takes one at a time, after a pause."""
        assert self._reporter is not None
        for _ in range(count):
            await self._until(self._polling, within)
            since = len(self.emu.calls)
            update_id = await send_location(self.emu, self._reporter, *ALMATY)
            sent = partial(self._sent_at, f"framework floor {update_id}", since)
            await self._until(sent, within)
            self.samples.append(sent() - self.emu.update_handed_at[update_id])

    def _sent_at(self, text: str, since: int) -> float:
        """When the message with ``text`` arrived (0.0: not yet), as the tracker times a
        card: the emulator's clock when the request came in."""
        return next((c.time for c in self.emu.calls[since:] if c.status == 200
                     and c.method == "sendMessage" and c.params.get("text") == text), 0.0)

    def _polling(self) -> bool:
        """The minimal bot's latest call is a long poll still open."""
        last = self.emu.calls[-1] if self.emu.calls else None
        return last is not None and last.method == "getUpdates" and last.status == 0

    async def _until(self, done: Callable[[], object], within: float) -> None:
        """Test ``done`` every few ms, like the bench's own waits; RuntimeError (with the
        minimal bot's log) when ``within`` passes."""
        deadline = time.monotonic() + within
        while not done():
            if time.monotonic() > deadline:
                tail = self._bot.tail() if self._bot is not None else ""
                raise RuntimeError(f"the minimal bot did not answer; its log:\n{tail}")
            await asyncio.sleep(0.005)
