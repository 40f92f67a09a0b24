"""The delivery worker: sends pending outbox rows in priority order under Telegram's limits.

At-least-once: a row stays ``pending`` in the database until Telegram has accepted it and the
row is marked ``sent``; while its request is in flight only this process knows (``_inflight``),
so nothing is written on the hot path before the request. A crash in between leaves the row
pending and the next start sends it again. Telegram's API has no idempotency key, so a message
that arrived just before a crash cannot be told from one that did not: a duplicate is the
price of never losing one, and each crash can cause at most one per row.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot.delivery.pacing import Pacer
from bot.delivery.transport import NotModified, Permanent, RetryLater, Transient
from bot.domain.messages import PRIORITY_ALERT, PRIORITY_CASE, Outgoing, combine
from bot.domain.services import Services
from bot.i18n import lang_of, t
from storage import Due, OutboxRow, Tx

log = logging.getLogger(__name__)

# Kinds whose queued rows for one chat may go out as one message, and how many at most:
# a lawyer's alert cards keep their buttons usable at 8; a group's notices are short.
BUNDLE_LIMITS = {"alert": 8, "group": 25}
MAX_TEXT = 3800
GLOBAL_429_CHATS = 5  # distinct chats answered 429 within a second: hold everything
ALERT_RESERVE = 12  # places a second of the overall limit (of 29) only alerts may take


class Transport(Protocol):
    async def send(self, chat_id: int, out: Outgoing) -> int: ...
    async def edit(self, chat_id: int, message_id: int, out: Outgoing) -> None: ...


Undeliverable = Callable[[OutboxRow, str], Awaitable[None]]


def backoff(attempts: int, rng: random.Random) -> float:
    """Exponential back-off with jitter, capped low: after an outage, alerts queued during
    it must go within seconds of the Bot API coming back, not a minute later."""
    return rng.uniform(0.5, 1.0) * min(15.0, 0.5 * 2 ** max(0, attempts - 1))


@dataclass
class Outcome:
    """What one request came to, kept until it is recorded in the database."""

    ids: list[int]
    batch: list[OutboxRow]
    message_id: int | None = None
    failure: str | None = None  # None: delivered
    retry_in: float | None = None  # with a failure: try again after this long
    unreachable: bool = False  # with a permanent failure: the chat is gone for the bot


class OutboxWorker:
    def __init__(self, svc: Services, transport: Transport, pacer: Pacer, *,
                 coalesce: bool = True, max_in_flight: int = 16,
                 on_undeliverable: Undeliverable | None = None) -> None:
        self.svc = svc
        self.transport = transport
        self.pacer = pacer
        self.coalesce = coalesce
        self.on_undeliverable = on_undeliverable
        self._wake = asyncio.Event()
        self._inflight: set[int] = set()  # outbox row ids being sent right now
        # Sent (or failed) but not yet recorded, because the database refused the write:
        # kept here and retried, never sent again.
        self._unsettled: list[Outcome] = []
        self._recent_429: list[tuple[float, int]] = []  # (when, chat) of recent 429s
        self.max_in_flight = max_in_flight
        self._tasks: set[asyncio.Task[None]] = set()
        self._rng = random.Random()
        self._stopping = False
        self.stats = {"sent": 0, "retried": 0, "rate_limited": 0, "failed": 0, "bundled": 0}
        svc.on_commit(self.wake)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stopped, starting with whatever the last run left pending."""
        async with self.svc.storage.transaction() as tx:
            pending = (await tx.outbox_counts()).get("pending", 0)
        if pending:
            log.info("%d message(s) left pending by the last run will be sent now", pending)
        while not self._stopping:
            self._wake.clear()
            try:
                delay = await self._dispatch_due()
            except Exception:  # e.g. the disk is full: keep trying, never stop delivering
                log.exception("outbox scan failed; retrying")
                delay = 1.0
            if self._stopping:
                break
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        """No new sends; wait for those in flight to be answered and recorded."""
        self._stopping = True
        self._wake.set()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._settle_backlog()

    async def drain(self, within: float = 30.0) -> bool:
        """Wait until nothing is pending or in flight (tests and the demo)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            async with self.svc.storage.transaction() as tx:
                counts = await tx.outbox_counts()
            if not counts.get("pending") and not self._tasks:
                return True
            await asyncio.sleep(0.05)
        return False

    async def _dispatch_due(self) -> float:
        """Start every send that the limits allow now; return how long to sleep."""
        await self._settle_backlog()
        now = self.svc.now()
        # Rows in flight when the scan starts may settle while it reads; they must not be
        # taken as pending again from this (by then stale) read.
        busy_rows = set(self._inflight)
        async with self.svc.storage.read() as tx:
            rows = await tx.due_outbox(now, limit=2000)
            next_db = await tx.next_outbox_time()
        sleep = 1.0
        if next_db is not None and next_db > now:
            sleep = min(sleep, next_db - now)
        by_chat: dict[int, list[Due]] = {}
        for row in rows:
            if row.id not in busy_rows and row.id not in self._inflight:
                by_chat.setdefault(row.chat_id, []).append(row)
        # Chats in the order of their most urgent row: priority first, then age. Nothing in
        # this loop awaits, so the clock read for each chat is the time of its dispatch.
        for chat_id, chat_rows in sorted(by_chat.items(), key=lambda kv: (kv[1][0].priority,
                                                                           kv[1][0].id)):
            if len(self._tasks) >= self.max_in_flight or self._stopping:
                break  # a finishing send wakes the loop
            mono = time.monotonic()
            reserve = 0 if chat_rows[0].priority <= PRIORITY_ALERT else ALERT_RESERVE
            if self.pacer.global_ready_at(mono, reserve) > mono:
                sleep = min(sleep, self.pacer.global_ready_at(mono, reserve) - mono)
                break  # the overall limit is reached: nothing less urgent may go either
            ready = self.pacer.ready_at(chat_id, mono, reserve)
            if ready > mono:
                sleep = min(sleep, ready - mono)
                continue
            batch = self._batch(chat_rows)
            send_id = self.pacer.record(chat_id, mono)
            self._inflight.update(batch)
            task = asyncio.create_task(self._deliver(chat_id, batch, send_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return max(0.005, sleep)

    def _batch(self, chat_rows: list[Due]) -> list[int]:
        """The first row, and with coalescing the chat's other queued rows of its kind."""
        first = chat_rows[0]
        limit = BUNDLE_LIMITS.get(first.kind, 1) if self.coalesce else 1
        if limit == 1 or first.target_id is not None:
            return [first.id]
        batch, size = [first.id], first.size
        for row in chat_rows[1:]:
            if len(batch) >= limit:
                break
            if row.kind == first.kind and row.target_id is None:
                size += row.size
                if size > MAX_TEXT:
                    break
                batch.append(row.id)
        return batch

    async def _deliver(self, chat_id: int, ids: list[int], send_id: int) -> None:
        outcome: Outcome | None = None
        try:
            outcome = await self._send(chat_id, ids, send_id)
            if outcome is not None:
                await self._settle(outcome)
        except Exception:
            if outcome is None:  # reading the rows failed: nothing was sent, try later
                log.exception("could not read messages to send; they stay pending")
            else:  # sent, but not recorded: keep the result, retry the write, never resend
                log.exception("could not record a delivery; will retry the write")
                self._unsettled.append(outcome)
                outcome = None
                ids = []
        finally:
            self.pacer.finish(send_id, time.monotonic())
            # Only now may a scan pick these rows again: until the settling commit they
            # still read as pending, and releasing them earlier would send them twice.
            self._inflight.difference_update(ids)
            self.wake()
        if outcome is not None:
            await self._after(outcome)

    async def _send(self, chat_id: int, ids: list[int], send_id: int) -> Outcome | None:
        async with self.svc.storage.read() as tx:
            batch = [r for r in await tx.outbox_rows(ids) if r.state == "pending"]
        if not batch:
            return None  # superseded while queued
        outcome = Outcome([r.id for r in batch], batch)
        attempts = max(r.attempts + 1 for r in batch)
        try:
            outcome.message_id = await self._request(chat_id, batch)
        except NotModified:
            pass
        except RetryLater as exc:
            self.stats["rate_limited"] += 1
            self._on_429(chat_id, exc.seconds)
            outcome.retry_in, outcome.failure = exc.seconds, str(exc)
        except Transient as exc:
            self.stats["retried"] += 1
            # A timeout may have been delivered after all: wait at least a second, so a
            # duplicate (the price of at-least-once) never also breaks the chat's limit.
            floor = 1.5 if exc.maybe_delivered else 0.0
            outcome.retry_in = max(floor, backoff(attempts, self._rng))
            outcome.failure = str(exc)
        except Permanent as exc:
            self.stats["failed"] += 1
            outcome.failure, outcome.unreachable = str(exc), exc.unreachable
            if not exc.unreachable:  # our request was wrong: a bug to fix, not a person gone
                log.error("Bot API refused a message (%s) of kind %s", exc, batch[0].kind)
        except Exception:  # a bug must not stop delivery of everything else
            log.exception("unexpected delivery error; will retry")
            outcome.retry_in, outcome.failure = backoff(attempts, self._rng), "error"
        self.pacer.finish(send_id, time.monotonic())
        return outcome

    async def _settle(self, o: Outcome) -> None:
        async with self.svc.storage.transaction() as tx:
            if o.failure is None:
                await tx.mark_sent(o.ids, o.message_id, self.svc.now())
                await self._catch_up_edits(tx, o.batch)
            elif o.retry_in is not None:
                await tx.mark_retry(o.ids, self.svc.now() + o.retry_in, o.failure)
            else:
                await tx.mark_failed(o.ids, o.failure)

    async def _settle_backlog(self) -> None:
        """Record what was sent while the database refused writes."""
        while self._unsettled:
            outcome = self._unsettled[0]
            try:
                await self._settle(outcome)
            except Exception:
                return  # still failing; the rows stay in flight, never resent
            self._unsettled.pop(0)
            self._inflight.difference_update(outcome.ids)
            await self._after(outcome)

    async def _after(self, o: Outcome) -> None:
        """Statistics, and for a chat that is gone, the domain's rerouting."""
        if o.failure is None:
            self.stats["sent"] += 1
            self.stats["bundled"] += len(o.batch) if len(o.batch) > 1 else 0
            return
        if o.retry_in is not None or not o.unreachable or self.on_undeliverable is None:
            return
        for row in o.batch:
            if row.target_id is None:
                try:
                    await self.on_undeliverable(row, o.failure)
                except Exception:  # one failed reroute must not skip the others
                    log.exception("rerouting after an undeliverable message failed")

    def _on_429(self, chat_id: int, seconds: float) -> None:
        """Hold the chat. If many different chats hear 429 within a second, the limit is the
        bot's (or the server's) as a whole, not theirs: hold everything. A few scattered
        429s (a busy chat, a flaky proxy) must not stall every other chat."""
        mono = time.monotonic()
        self.pacer.back_off(chat_id, mono + seconds)
        recent = [(t0, c) for t0, c in self._recent_429 if t0 > mono - 1.0]
        self._recent_429 = [*recent, (mono, chat_id)]
        if len({c for _, c in self._recent_429}) >= GLOBAL_429_CHATS:
            self.pacer.back_off(None, mono + seconds)

    async def _catch_up_edits(self, tx: Tx, batch: list[OutboxRow]) -> None:
        """The domain rewrote a row while its request was in flight: send the change as an
        edit, so the message ends up as the domain last said."""
        for row in batch:
            if row.target_id is not None:
                continue
            current = await tx.outbox_row(row.id)
            if current is not None and current.payload != row.payload:
                await tx.enqueue(row.chat_id, "edit", PRIORITY_CASE, current.payload,
                                 self.svc.now(), alert_id=row.alert_id, target_id=row.id)

    async def _request(self, chat_id: int, batch: list[OutboxRow]) -> int | None:
        first = batch[0]
        if first.target_id is None:
            parts = [Outgoing.from_json(r.payload) for r in batch]
            out = parts[0] if len(parts) == 1 else combine(parts, await self._header(chat_id,
                                                                                    len(parts)))
            return await self.transport.send(chat_id, out)
        return await self._edit(chat_id, first)

    async def _edit(self, chat_id: int, row: OutboxRow) -> int | None:
        """Edit a sent message; a bundled message is re-rendered from all its parts."""
        assert row.target_id is not None
        async with self.svc.storage.transaction() as tx:
            target = await tx.outbox_row(row.target_id)
            if target is None or target.state == "failed":
                raise Permanent("target message was never delivered")
            if target.message_id is None:
                raise Transient("target message not sent yet")
            await tx.set_payload(target.id, row.payload)
            parts = await tx.rows_with_message(chat_id, target.message_id)
        outs = [Outgoing.from_json(p.payload) for p in parts] or [Outgoing.from_json(row.payload)]
        out = outs[0] if len(outs) == 1 else combine(outs, await self._header(chat_id, len(outs)))
        await self.transport.edit(chat_id, target.message_id, out)
        return target.message_id

    async def _header(self, chat_id: int, n: int) -> str:
        async with self.svc.storage.read() as tx:
            person = await tx.person(chat_id)
        return t(lang_of(person), "🚨 {n} new alerts:", n=n)
