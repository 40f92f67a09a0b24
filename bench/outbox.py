"""``python -m bench outbox``: what one pass of the delivery worker costs with 100 and with
5,000 messages waiting, in-process over a real SQLite file (no emulator: this measures the
worker's own planning, not Telegram).

Two shapes of backlog: one chat holding them all (a person flooding the bot, answered one
reply per second), and the same number spread over many chats (a wave of alerts). In both,
the worker is busy: every allowed send is in flight (the transport never answers while we
measure), and each pass follows one new commit, as under a flood. A pass that reads every
pending row grows with the backlog; one that reads only what is new does not.

And what one send costs the worker (issue 16): 200 messages sent through a Bot API that
answers at once, under limits too high to bind, with nothing else waiting and with 5,000
rows pending behind them; the time per send must stay flat (within 1.5x).
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bot.delivery.outbox import OutboxWorker
from bot.delivery.pacing import Limits, Pacer
from bot.domain.messages import PRIORITY_ALERT, PRIORITY_LOW, PRIORITY_REPLY, Outgoing
from bot.domain.services import Services
from bot.settings import Settings
from storage import Storage
from storage.crypto import new_key

SIZES = (100, 5000)
PASSES = 200
SENDS = 200  # timed sends per run
BACKLOGS = (0, 5000)
SEND_TARGET = 1.5  # the time per send with 5,000 pending, at most this times an empty queue


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

    async def pin(self, chat_id: int, message_id: int) -> None:
        await self.release.wait()

    async def set_menu(self, chat_id: int, commands: list[tuple[str, str]]) -> None:
        await self.release.wait()


@dataclass
class PassCost:
    pending: int
    chats: int
    p50_ms: float
    p90_ms: float


@asynccontextmanager
async def fresh_services() -> AsyncIterator[Services]:
    """Services over a new database file in a temporary directory."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, database=Path(tmp) / "bench.db",  # type: ignore[call-arg]
                            data_key=SecretStr(new_key()))
        async with Storage(settings.database, settings.codec()) as storage:
            yield Services(settings, storage)


async def measure(pending: int, chats: int, passes: int = PASSES) -> PassCost:
    async with fresh_services() as svc:
        storage = svc.storage
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


class _Instant:
    """A Bot API that answers every request at once; ``done`` after ``goal`` of them."""

    def __init__(self, goal: int) -> None:
        self.n = 0
        self.goal = goal
        self.done = asyncio.Event()

    async def send(self, chat_id: int, out: Outgoing) -> int:
        self.n += 1
        if self.n >= self.goal:
            self.done.set()
        return self.n

    async def edit(self, chat_id: int, message_id: int, out: Outgoing) -> None:
        return None

    async def set_menu(self, chat_id: int, commands: list[tuple[str, str]]) -> None:
        pass

    async def pin(self, chat_id: int, message_id: int) -> None:
        pass

    async def delete(self, chat_id: int, message_id: int, caption: str | None = None) -> None:
        return None


@dataclass
class SendCost:
    backlog: int  # rows pending behind the timed ones
    sends: int
    per_send_ms: float  # the median of the runs


async def measure_sends(backlog: int, sends: int = SENDS, runs: int = 3) -> SendCost:
    """Time ``sends`` urgent messages to as many chats, with ``backlog`` lesser rows (in
    1,000 chats) pending behind them; the median of ``runs``."""
    costs = []
    for _ in range(runs):
        async with fresh_services() as svc:
            storage = svc.storage
            payload = Outgoing("Alert #1 received and saved.").to_json()
            async with storage.transaction() as tx:
                await tx.enqueue_many([(5000 + i % 1000, "reply", PRIORITY_LOW, payload)
                                       for i in range(backlog)], svc.now(), None)
                await tx.enqueue_many([(1 + i, "reply", PRIORITY_ALERT, payload)
                                       for i in range(sends)], svc.now(), None)
            unbound = Limits(private_per_second=1e6, group_per_minute=1e6,
                             global_per_second=1e6)
            api = _Instant(sends)
            worker = OutboxWorker(svc, api, Pacer(unbound), max_in_flight=16)
            await worker._read_new()  # its read of the whole queue at start (then once
            # a minute) is not a cost per send, nor is copying the seeded rows from the
            # write-ahead log into the database file
            with sqlite3.connect(svc.settings.database) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            start = time.perf_counter()
            task = asyncio.create_task(worker.run())
            await api.done.wait()
            costs.append((time.perf_counter() - start) * 1000 / api.n)
            await worker.stop()
            await task
    return SendCost(backlog, sends, statistics.median(costs))


def render_sends(results: list[SendCost]) -> str:
    base = results[0].per_send_ms
    lines = [f"delivery worker: time per send, {results[0].sends} sends, Bot API answering "
             f"at once (target: with 5,000 pending ≤ {SEND_TARGET:g}x an empty queue)",
             f"{'pending behind':>14}  {'per send':>10}  {'vs empty':>8}"]
    for r in results:
        lines.append(f"{r.backlog:>14}  {r.per_send_ms:>8.3f}ms  {r.per_send_ms / base:>7.2f}x")
    return "\n".join(lines)
