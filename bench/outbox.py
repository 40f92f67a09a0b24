"""``python -m bench outbox``: what one pass of the delivery worker costs with 100 and with
5,000 messages waiting, in-process over a real SQLite file (no emulator: this measures the
worker's own planning, not Telegram).

Two shapes of backlog: one chat holding them all (a person flooding the bot, answered one
reply per second), and the same number spread over many chats (a wave of alerts). In both,
the worker is busy: every allowed send is in flight (the transport never answers while we
measure), and each pass follows one new commit, as under a flood. A pass that reads every
pending row grows with the backlog; one that reads only what is new does not.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bot.delivery.outbox import OutboxWorker
from bot.delivery.pacing import Limits, Pacer
from bot.domain.messages import PRIORITY_REPLY, Outgoing
from bot.domain.services import Services
from bot.settings import Settings
from storage import Storage
from storage.crypto import new_key

SIZES = (100, 5000)
PASSES = 200


class _Stuck:
    """A Bot API that takes every request and never answers while we measure."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def send(self, chat_id: int, out: Outgoing) -> int:
        await self.release.wait()
        return 1

    async def edit(self, chat_id: int, message_id: int, out: Outgoing) -> None:
        await self.release.wait()

    async def delete(self, chat_id: int, message_id: int, caption: str | None = None) -> None:
        await self.release.wait()

    async def set_menu(self, chat_id: int, commands: list[tuple[str, str]]) -> None:
        await self.release.wait()


@dataclass
class PassCost:
    pending: int
    chats: int
    p50_ms: float
    p90_ms: float


async def measure(pending: int, chats: int, passes: int = PASSES) -> PassCost:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, database=Path(tmp) / "bench.db",  # type: ignore[call-arg]
                            data_key=SecretStr(new_key()))
        async with Storage(settings.database, settings.codec()) as storage:
            svc = Services(settings, storage)
            payload = Outgoing("Your message was added to alert #1.").to_json()
            now = svc.now()
            async with storage.transaction() as tx:
                await tx.enqueue_many([(1000 + i % chats, "reply", PRIORITY_REPLY, payload)
                                       for i in range(pending)], now, None)
            transport = _Stuck()
            worker = OutboxWorker(svc, transport, Pacer(Limits()), max_in_flight=16)
            await worker._dispatch_due()  # the first pass: fills what may be in flight
            costs = []
            for i in range(passes):
                async with storage.transaction() as tx:  # one commit, as under a flood
                    await tx.enqueue(2000 + i, "reply", PRIORITY_REPLY, payload, svc.now())
                start = time.perf_counter()
                await worker._dispatch_due()
                costs.append((time.perf_counter() - start) * 1000)
            transport.release.set()
            await worker.stop()
    costs.sort()
    return PassCost(pending, chats, statistics.median(costs), costs[int(len(costs) * 0.9)])


async def run_outbox() -> list[PassCost]:
    results = []
    for pending in SIZES:
        results.append(await measure(pending, 1))
        results.append(await measure(pending, max(1, pending // 5)))
    return results


def render_outbox(results: list[PassCost]) -> str:
    lines = ["delivery worker: one pass, all sends in flight, after one new commit",
             f"{'pending rows':>12}  {'chats':>6}  {'pass p50':>10}  {'pass p90':>10}"]
    for r in results:
        lines.append(f"{r.pending:>12}  {r.chats:>6}  {r.p50_ms:>8.3f}ms  {r.p90_ms:>8.3f}ms")
    return "\n".join(lines)
