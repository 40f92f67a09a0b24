"""``python -m bench failover --postgresql URL``: the gap a leader's death leaves.

Two bot processes (``python -m bot``) run on one PostgreSQL database, one leading, one
standing by. While a new person asks ``/help`` every 100 ms, the leader is killed with
SIGKILL; the gap is the time from the kill to the first answer the emulator receives to a
question asked after the kill (only the new leader can have read that question, so a
request the dead one had in flight cannot count). The killed process is started again as
the new standby, and the next kill hits the new leader."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.report import ms, table
from bench.server import fresh_database
from bench.world import BotProcess, make_cast, seed
from emulator import Emulator, Limits, SimUser


@dataclass
class FailoverResult:
    gaps: list[float] = field(default_factory=list)  # seconds, one per kill

    def figures(self) -> dict[str, Any]:
        return {"gaps_s": self.gaps, "p50_s": statistics.median(self.gaps),
                "max_s": max(self.gaps), "kills": len(self.gaps)}


async def _spawn(bot: BotProcess, log: Path, expect: str, within: float = 60.0) -> None:
    """Start ``bot`` with its log at ``log`` and wait until the log says ``expect``."""
    bot.log = log
    with log.open("wb") as out:
        bot.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", bot.module, cwd=bot.workdir, env=bot.env,
            stdout=out, stderr=out, stdin=asyncio.subprocess.DEVNULL)
    deadline = time.monotonic() + within
    while not _says(log, expect):
        if bot.proc.returncode is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the bot did not say {expect!r}; its log:\n{bot.tail()}")
        await asyncio.sleep(0.05)


def _says(log: Path, text: str) -> bool:
    return text in log.read_text(errors="replace")


async def run_failover(kills: int = 10) -> FailoverResult:
    db = await fresh_database()
    if db is None:
        raise SystemExit("failover needs PostgreSQL: give --postgresql URL")
    result = FailoverResult()
    with tempfile.TemporaryDirectory(prefix="qorgau-failover-") as name:
        tmp = Path(name)
        async with Emulator(limits=Limits()) as emu:
            cast = make_cast(emu, 1, 0, 0, ("almaty",))
            await seed(db, cast)
            bots = [BotProcess(emu, db, tmp, cast.coordinator.id, True) for _ in range(2)]
            pings: list[tuple[float, SimUser]] = []
            stop = asyncio.Event()

            async def ask() -> None:
                while not stop.is_set():
                    user = emu.user(first_name="Asker")
                    pings.append((time.monotonic(), user))
                    await user.send_command("/help")
                    await asyncio.sleep(0.1)

            starts = iter(range(1, 100))
            await _spawn(bots[0], tmp / f"bot{next(starts)}.log", "is the leader")
            await _spawn(bots[1], tmp / f"bot{next(starts)}.log", "is the standby")
            asker = asyncio.create_task(ask())
            leader, standby = bots
            try:
                for _ in range(kills):
                    await asyncio.sleep(1.5)  # steady state: answers flowing
                    assert leader.proc is not None
                    killed_at = time.monotonic()
                    leader.proc.kill()
                    await leader.proc.wait()
                    gap = await _first_answer_after(emu, pings, killed_at)
                    result.gaps.append(gap)
                    print(f"kill {len(result.gaps)}: {gap * 1000:.0f} ms", flush=True)
                    await _spawn(leader, tmp / f"bot{next(starts)}.log", "is the standby")
                    leader, standby = standby, leader
            finally:
                stop.set()
                await asyncio.gather(asker, return_exceptions=True)
                for bot in bots:
                    if bot.proc is not None and bot.proc.returncode is None:
                        await bot.stop()
    return result


async def _first_answer_after(emu: Emulator, pings: list[tuple[float, SimUser]],
                              killed_at: float, within: float = 60.0) -> float:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        asked_after = {u.id for at, u in pings if at > killed_at}
        answers = [c.time for c in emu.sent(method="sendMessage")
                   if c.chat_id in asked_after and c.time > killed_at]
        if answers:
            return min(answers) - killed_at
        await asyncio.sleep(0.01)
    raise RuntimeError("no answer from a new leader")


def render_failover(result: FailoverResult) -> str:
    f = result.figures()
    rows = [["failover gap (kill -9 → first answer)", ms(f["p50_s"]), ms(f["max_s"]),
             str(f["kills"])]]
    return table(["", "p50", "max", "kills"], rows)
