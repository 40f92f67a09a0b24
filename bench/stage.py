"""What both scenarios share: a temp directory, the emulator, the seeded cast, the bot
process and the tracker, set up in order and always torn down."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.measure import Tracker
from bench.server import fresh_database
from bench.world import BotProcess, Cast, make_cast, seed
from emulator import Emulator, Faults, Limits


@dataclass
class Stage:
    emu: Emulator
    cast: Cast
    bot: BotProcess
    tracker: Tracker
    db: Path | str  # a SQLite file, or a PostgreSQL database (bench/server.py)
    tmp: Path
    encrypted: bool = True
    peak_rss_mb: float = float("nan")

    async def wait_until(self, done: Callable[[], bool], within: float) -> bool:
        """Fold new calls and test ``done`` every few ms, until true or ``within`` passed."""
        deadline = time.monotonic() + within
        while True:
            self.tracker.poll()
            if done():
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)

    async def stop_bot(self) -> None:
        """Peak RSS is read just before SIGTERM; then the call log is folded one last time."""
        if self.bot.proc is not None and self.bot.proc.returncode is None:
            self.peak_rss_mb = await self.bot.stop()
        self.tracker.poll()


@asynccontextmanager
async def stage(lawyers: int, reporters: int, groups: int, regions: tuple[str, ...],
                coalesce: bool = True, faults: Faults | None = None,
                encrypted: bool = True, code: Path | None = None) -> AsyncIterator[Stage]:
    """Emulator with Telegram's real limits, cast seeded, bot running and polling."""
    with tempfile.TemporaryDirectory(prefix="qorgau-bench-") as name:
        tmp = Path(name)
        async with Emulator(limits=Limits(), faults=faults) as emu:
            cast = make_cast(emu, lawyers, reporters, groups, regions)
            db: Path | str = await fresh_database() or tmp / "qorgau.db"
            await seed(db, cast, encrypted)
            bot = BotProcess(emu, db, tmp, cast.coordinator.id, coalesce, encrypted, code)
            tracker = Tracker(emu, frozenset(cast.lawyer_regions),
                              frozenset(u.id for u in cast.reporters))
            st = Stage(emu, cast, bot, tracker, db, tmp, encrypted)
            try:
                await bot.start()
                yield st
            finally:
                await st.stop_bot()
