"""The delivery worker: sends pending outbox rows in priority order under Telegram's limits.

At-least-once: a row stays ``pending`` in the database until Telegram has accepted it and the
row is marked ``sent``; while its request is in flight only this process knows (``_inflight``),
so nothing is written on the hot path before the request. A crash in between leaves the row
pending and the next start sends it again. Telegram's API has no idempotency key, so a message
that arrived just before a crash cannot be told from one that did not: a duplicate is the
price of never losing one, and each crash can cause at most one per row.

Every row has a bounded life: a refusal that retrying cannot fix (a BadRequest, or an error
python-telegram-bot raises before any request) fails the row at once; transient errors
(5xx, timeouts, 429) are retried with back-off until the row is ``MAX_AGE`` old, then it
fails too. A failed row is reported to the domain (``on_failed``), which records it and
tells coordinators when it was about an alert.

The worker keeps the pending rows in memory (``Queue``): each pass reads only the rows
written since the last one (a range of the primary key) and picks chats from a heap of
their most urgent rows, so its cost follows what it sends, not how much is waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import random
import time
from bisect import bisect_left, insort
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from bot.delivery.order import GROUP, PAGE, URGENT, Head, Lanes, lane
from bot.delivery.pacing import Pacer
from bot.delivery.transport import NotModified, Permanent, RetryLater, Transient
from bot.domain.menus import MENU
from bot.domain.messages import (
    DELETE,
    EDITED_IN_PLACE,
    ERASE,
    FULL_PARTS,
    PIN,
    PRIORITY_CASE,
    Outgoing,
    combine,
)
from bot.domain.services import Services
from bot.i18n import lang_of, tn
from storage import Due, OutboxRow, Tx

log = logging.getLogger(__name__)

# Kinds whose queued rows for one chat may go out as one message, and how many at most:
# a lawyer's alert cards, past 8 each in brief with 2 buttons (bot.domain.messages.combine);
# a group's notices are short (35 of about 100 characters each fit one message; a group
# may get 20 messages a minute).
BUNDLE_LIMITS = {"alert": 25, "group": 35}
# Kinds whose bundles ``combine`` always fits (each part cut to its brief, at worst to 3
# short lines of 150 units in all: 25 parts take at most 3,800 with the header), so they
# are bundled up to their count alone. A lawyer's cards: in a burst 25 to a message, not
# the 6 or 7 whole cards that fit, because the bundles a lawyer can be sent (one every 5 s
# in a 200-alert burst) are what decide how soon every lawyer of a region has seen every
# alert (bench/theory.py): at 20, the 4 alerts a second of a region overflowed a bundle
# and waited 5 s more.
SHORTENED = ("alert",)
MAX_TEXT = 3800  # of the 4,096 a message may hold: the rest is the bundle's header
# A row's ``size`` is its whole payload's, in UTF-8 bytes: the JSON of an ``Outgoing``,
# whose empty fields alone take this much. Only the text counts against ``MAX_TEXT``
# (counted in bytes it is never under Telegram's UTF-16 count), else a 90-character
# group notice weighs 270 and a bundle holds 14 of them instead of 35.
PAYLOAD_FRAME = len(Outgoing().to_json().encode())
# What a part may still grow by when its bundle is edited and re-rendered, where
# ``combine`` cannot shorten it. A group notice's state in words ("waiting for a lawyer"
# -> "a lawyer has seen it and is acting", 14 more characters in English, fewer in ru/kk;
# its UTF-8 bytes already over-count an English notice by about 6: the emoji, the "·",
# the escaped line breaks): 8; and a whole "Location: ..." line, up to 32 in English
# (Cyrillic's 2-byte letters over-count the rest), when the alert was raised without a
# position and its reporter sends one later. So a full bundle's re-render stays within
# the 3,900 that ``combine`` keeps to, under Telegram's 4,096 (tests/test_delivery_order.py).
EDIT_GROWTH = {"group": 8 + 32}
GLOBAL_429_CHATS = 5  # distinct chats answered 429 within a second: hold everything
# A row still failing transiently a day after it was written is given up: by then it is no
# longer news, and a message that can never go must not be retried for ever.
MAX_AGE = 24 * 3600.0
PLAN_PER_CHAT = max(BUNDLE_LIMITS.values())  # rows of one chat looked at for a bundle
READ_BATCH = 5000  # new rows read per pass; more wait for the next pass
RESYNC_SECONDS = 60.0  # the whole queue is re-read this often, a safety net for the cache
SETTLE_WITHIN = 10.0  # at a stop, seconds past its bound for answered sends to be recorded
ALERT_RESERVE = 12  # places a second of the overall limit (of 29) only alerts may take
# Calls that are not messages, which Telegram does not count as messages (bot.delivery.pacing):
# a command menu (setMyCommands), deleting a typed PIN, pinning a board. A DELETE is not
# here: past 48 hours it becomes an edit of the caption.
NOT_MESSAGES = frozenset({MENU, ERASE, PIN})


def bundle(chat_rows: list[Due], coalesce: bool = True) -> list[int]:
    """The ids that go as one message: the chat's first row, and with coalescing its other
    queued rows of that kind, up to the kind's ``BUNDLE_LIMITS`` and (unless ``combine``
    shortens them) ``MAX_TEXT`` of text (each part's text and the blank line before it,
    the payload's frame left out)."""
    first = chat_rows[0]
    limit = BUNDLE_LIMITS.get(first.kind, 1) if coalesce else 1
    if limit == 1 or first.target_id is not None:
        return [first.id]
    batch, size = [first.id], _text_size(first)
    for row in chat_rows[1:]:
        if len(batch) >= limit:
            break
        if row.kind == first.kind and row.target_id is None:
            size += _text_size(row)
            if size > MAX_TEXT and first.kind not in SHORTENED:
                break
            batch.append(row.id)
    return batch


def _text_size(row: Due) -> int:
    """At least the UTF-16 length of a row's text, the blank line that parts it, and what
    an edit may still add to it."""
    return max(0, row.size - PAYLOAD_FRAME) + 2 + EDIT_GROWTH.get(row.kind, 0)


class Transport(Protocol):
    async def send(self, chat_id: int, out: Outgoing) -> int: ...
    async def edit(self, chat_id: int, message_id: int, out: Outgoing) -> None: ...
    async def delete(self, chat_id: int, message_id: int,
                     caption: str | None = None) -> None: ...
    async def pin(self, chat_id: int, message_id: int) -> None: ...
    async def set_menu(self, chat_id: int, commands: list[tuple[str, str]]) -> None: ...


Undeliverable = Callable[[OutboxRow, str], Awaitable[None]]
Failed = Callable[[OutboxRow, str], Awaitable[None]]


async def _delivered(tx: Tx, row: OutboxRow) -> OutboxRow:
    """The message an edit or a pin acts on, once Telegram has it (else retried later);
    one that will never be delivered fails the row."""
    assert row.target_id is not None
    target = await tx.outbox_row(row.target_id)
    if target is None or target.state not in ("sent", "pending"):
        raise Permanent("target message was never delivered")
    if target.message_id is None:
        raise Transient("target message not sent yet")
    return target


def tags(row: OutboxRow) -> dict[str, object]:
    """The log fields of a message: its alert's number (if about one) and its kind."""
    return {"alert": row.alert_id, "event": row.kind}


def backoff(attempts: int, rng: random.Random) -> float:
    """Exponential back-off with jitter, capped low: after an outage, alerts queued during
    it must go within seconds of the Bot API coming back, not a minute later."""
    return rng.uniform(0.5, 1.0) * min(15.0, 0.5 * 2 ** max(0, attempts - 1))


def residues(batch: Iterable[OutboxRow], kept: Iterable[str]) -> list[tuple[int, str]]:
    """What each settled row keeps of its payload: all of it for the kinds in ``kept``
    (edited later), else only what withdrawing the message needs (nothing personal)."""
    keep = set(kept)
    return [(r.id, _residue(r.payload)) for r in batch if r.kind not in keep]


def _residue(payload: str) -> str:
    try:
        return Outgoing.from_json(payload).residue().to_json()
    except (ValueError, TypeError, KeyError):  # a payload that could not be sent either
        return Outgoing().to_json()


@dataclass
class Outcome:
    """What one request came to, kept until it is recorded in the database."""

    ids: list[int]
    batch: list[OutboxRow]
    message_id: int | None = None
    failure: str | None = None  # None: delivered
    retry_in: float | None = None  # with a failure: try again after this long
    unreachable: bool = False  # with a permanent failure: the chat is gone for the bot
    not_modified: bool = False  # an edit that changed nothing: done, and no error
    not_before: float = 0.0  # with a retry: when, on the domain's clock


class Queue:
    """The pending outbox rows the worker knows of, in memory, in sending order: per chat
    its rows sorted by (lane, id) (``bot.delivery.order``); the chats whose first row may
    go now, by lane (``Lanes``); and a heap of the chats whose first row waits for its
    retry time. A chat's messages go in that order: a row waiting to be retried holds
    those queued behind it (the parts of a long message arrive in order), though not a
    more urgent one. Rows in flight are out of their chat's line until settled. The
    database stays the truth: a row superseded or cancelled meanwhile is found out when
    its send reads it back, and the whole queue is re-read every ``RESYNC_SECONDS``."""

    def __init__(self) -> None:
        self.rows: dict[int, Due] = {}
        self.seen = 0  # the highest row id read so far
        self._by_chat: dict[int, list[tuple[int, int]]] = {}
        self.lanes = Lanes()
        self._later: list[tuple[float, int]] = []  # (not_before, chat)
        # Alerts no lawyer has been sent a card of yet: alert -> chat -> that card's row.
        self.unpaged: dict[int, dict[int, int]] = {}
        self.paged: set[int] = set()  # alerts some lawyer has been sent a card of
        # A first page in flight: its row -> (its alert, that alert's cards it took off
        # ``unpaged``), so a failed send makes the alert new to every lawyer again.
        self._paging: dict[int, tuple[int, dict[int, int]]] = {}

    def add(self, row: Due, now: float) -> None:
        self.seen = max(self.seen, row.id)
        self.rows[row.id] = row
        keys = self._by_chat.setdefault(row.chat_id, [])
        key = (lane(row.kind, row.priority, row.target_id), row.id)
        insort(keys, key)
        alert = row.alert_id
        if key[0] == PAGE and alert is not None and alert not in self.paged:
            self.unpaged.setdefault(alert, {})[row.chat_id] = row.id
            if row.not_before <= now:
                self.lanes.push(Head(PAGE, alert, row.chat_id, True, keys[0][1]))
        if keys[0] == key:
            self.push_chat(row.chat_id, now)

    def _holds(self, chat: int, key: tuple[int, int]) -> bool:
        keys = self._by_chat.get(chat, [])
        i = bisect_left(keys, key)
        return i < len(keys) and keys[i] == key

    def fresh_rows(self, chat: int) -> list[Due]:
        """The chat's cards of alerts no lawyer has been sent yet, oldest first."""
        ids = [row_id for chats in self.unpaged.values()
               if (row_id := chats.get(chat)) is not None and self._holds(chat, (PAGE, row_id))]
        return [self.rows[i] for i in sorted(ids)]

    def paged_now(self, ids: Iterable[int]) -> None:
        """These cards are on their way: their alerts are no longer new to every lawyer."""
        if len(self.paged) > 100_000:  # old alerts: forgetting them costs nothing
            self.paged.clear()
        for row_id in ids:
            row = self.rows.get(row_id)
            if row is not None and row.alert_id is not None and row.kind == "alert":
                self.paged.add(row.alert_id)
                chats = self.unpaged.pop(row.alert_id, None)
                if chats is not None:
                    self._paging[row_id] = (row.alert_id, chats)

    def push_chat(self, chat: int, now: float) -> None:
        """Put the chat back where it belongs (stale entries are skipped later)."""
        keys = self._by_chat.get(chat)
        if not keys:
            return
        head = self.rows[keys[0][1]]
        if head.not_before > now:
            heapq.heappush(self._later, (head.not_before, chat))
            return
        # (never later than now: a wall clock stepped back must not stretch a patience)
        self.lanes.push(Head(*keys[0], chat, since=min(head.created_at, now)))
        for alert, chats in self.unpaged.items():  # e.g. set aside by its limit: still
            if chat in chats:  # one of the lawyers who may see that alert first
                self.lanes.push(Head(PAGE, alert, chat, True, keys[0][1]))

    def release(self, now: float) -> float | None:
        """Chats whose first row's retry time has come may send again; returns the next
        retry time."""
        while self._later and self._later[0][0] <= now:
            self.push_chat(heapq.heappop(self._later)[1], now)
        return self._later[0][0] if self._later else None

    def pop_chat(self, now: float) -> int | None:
        """The chat that goes next of those that may go now (``Lanes.pop``)."""
        head = self.pop(now)
        return None if head is None else head.chat

    def pop(self, now: float) -> Head | None:
        while True:
            head = self.lanes.pop(now)
            if head is None:
                return None
            keys = self._by_chat.get(head.chat)
            if not keys or self.rows[keys[0][1]].not_before > now:
                continue
            if head.fresh:  # still new to every lawyer, and this chat's next is a page
                # (and the entry's wait is this chat's wait now: one pushed before the
                # chat was last sent to would make it "the one waiting longest" again)
                row_id = self.unpaged.get(head.row_id, {}).get(head.chat)
                if (row_id is not None and keys[0][0] == PAGE
                        and head.waiting == keys[0][1]
                        and self._holds(head.chat, (PAGE, row_id))):
                    return head
            elif keys[0] == (head.lane, head.row_id):
                return head

    def chat_rows(self, chat: int, n: int) -> list[Due]:
        return [self.rows[row_id] for _, row_id in self._by_chat.get(chat, [])[:n]]

    def take(self, chat: int, ids: Iterable[int]) -> None:
        """Rows leave their chat's line while they are in flight."""
        keys = self._by_chat.get(chat, [])
        for row_id in ids:
            row = self.rows[row_id]
            key = (lane(row.kind, row.priority, row.target_id), row_id)
            i = bisect_left(keys, key)
            if i < len(keys) and keys[i] == key:
                del keys[i]
        if not keys:
            self._by_chat.pop(chat, None)

    def drop(self, ids: Iterable[int]) -> None:
        """Rows settled (sent, failed, superseded): forgotten. Only rows taken out of their
        chat's line are dropped, so nothing stale stays in the lines."""
        for row_id in ids:
            self.rows.pop(row_id, None)
            self._paging.pop(row_id, None)

    def retry(self, ids: Iterable[int], not_before: float, now: float) -> None:
        """Rows back in their chat's line, to go again at ``not_before``. An alert whose
        first page failed is new to every lawyer again: another lawyer of the region may
        take it first (else it waited behind the chosen lawyer's backlog, 10 s and more
        with 20% faults)."""
        for row_id in ids:
            back = self._paging.pop(row_id, None)
            if back is not None and back[0] not in self.unpaged:
                alert, chats = back
                self.paged.discard(alert)
                self.unpaged[alert] = chats
                for chat, card in chats.items():
                    keys = self._by_chat.get(chat)
                    if keys and self._holds(chat, (PAGE, card)):
                        self.lanes.push(Head(PAGE, alert, chat, True, keys[0][1]))
            row = self.rows.pop(row_id, None)
            if row is not None:
                self.add(replace(row, not_before=not_before, attempts=row.attempts + 1), now)


class OutboxWorker:
    def __init__(self, svc: Services, transport: Transport, pacer: Pacer, *,
                 coalesce: bool = True, max_in_flight: int = 16,
                 on_undeliverable: Undeliverable | None = None,
                 on_failed: Failed | None = None) -> None:
        self.svc = svc
        self.transport = transport
        self.pacer = pacer
        self.coalesce = coalesce
        self.on_undeliverable = on_undeliverable
        self.on_failed = on_failed
        self.queue = Queue()
        self._synced_at = -RESYNC_SECONDS  # monotonic time of the last full read
        self._wake = asyncio.Event()
        self._inflight: set[int] = set()  # outbox row ids being sent right now
        # Sent (or failed) but not yet recorded, because the database refused the write:
        # kept here and retried, never sent again.
        self._unsettled: list[Outcome] = []
        self._recent_429: list[tuple[float, int]] = []  # (when, chat) of recent 429s
        self.max_in_flight = max_in_flight
        self._tasks: set[asyncio.Task[None]] = set()
        self._asking: set[asyncio.Task[Any]] = set()  # sends waiting for Telegram's answer
        self._rng = random.Random()
        self._stopping = False
        self.stats = {"sent": 0, "retried": 0, "rate_limited": 0, "failed": 0, "bundled": 0,
                      "not_modified": 0, "gave_up": 0}
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

    async def stop(self, within: float = 30.0) -> None:
        """No new sends; wait up to ``within`` seconds for those in flight to be answered
        and recorded. A send still waiting for Telegram then is abandoned, its row left
        pending: the next start sends it again (a duplicate at worst). Without the bound a
        stop could hang for good, e.g. on a send held at the fence of a leader that lost
        its lock. A send already answered is never cut off while it is being recorded and
        followed up (a chat found gone reroutes its alert): that is database work only."""
        self._stopping = True  # from here no send starts (dispatching never awaits)
        self._wake.set()
        late = set(self._tasks)
        if late:
            _, late = await asyncio.wait(late, timeout=within)
        asking = late & self._asking
        if asking:
            log.warning("stopping with %d send(s) unanswered after %.0f s; they stay pending "
                        "and go at the next start", len(asking), within)
            for task in asking:
                task.cancel()
        if late:
            _, late = await asyncio.wait(late, timeout=SETTLE_WITHIN)
        if late:
            log.error("stopping with %d send(s) not yet recorded %.0f s after the stop began "
                      "(the database does not answer); they go again at the next start",
                      len(late), within + SETTLE_WITHIN)
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
        more = await self._read_new()
        now = self.svc.now()
        sleep = 1.0
        next_retry = self.queue.release(now)
        if next_retry is not None:
            sleep = min(sleep, next_retry - now)
        # Chats in the order bot.delivery.order decides (lane, then age). Nothing in
        # this loop awaits, so the clock read for each chat is the time of its dispatch. A
        # chat that may not send yet is set aside for this pass: only chats written to in
        # the last moments are, so a pass looks at about as many chats as it can serve.
        aside: list[int] = []
        seen: set[int] = set()
        while len(self._tasks) < self.max_in_flight and not self._stopping:
            popped = self.queue.pop(now)
            if popped is None:
                break
            chat_id = popped.chat
            if chat_id in seen:
                continue
            seen.add(chat_id)
            aside.append(chat_id)
            mono = time.monotonic()
            head = self.queue.chat_rows(chat_id, 1)
            if not head:
                continue
            reserve = 0 if popped.lane in URGENT else ALERT_RESERVE
            if self.pacer.global_ready_at(mono, reserve) > mono:
                sleep = min(sleep, self.pacer.global_ready_at(mono, reserve) - mono)
                break  # the overall limit is reached: nothing less urgent may go either
            counted = head[0].kind not in NOT_MESSAGES
            ready = self.pacer.ready_at(chat_id, mono, reserve, counted)
            if ready > mono:
                sleep = min(sleep, ready - mono)
                if popped.lane == GROUP:
                    self.queue.lanes.held_group()
                continue
            rows = self.queue.chat_rows(chat_id, PLAN_PER_CHAT)
            if popped.lane == PAGE:  # cards of alerts new to every lawyer first
                fresh = self.queue.fresh_rows(chat_id)
                rows = fresh + [r for r in rows if r not in fresh]
            batch = self._batch(rows)
            self.queue.take(chat_id, batch)
            self.queue.paged_now(batch)
            send_id = self.pacer.record(chat_id, mono, counted)
            self.queue.lanes.sent(popped.lane)
            self._inflight.update(batch)
            task = asyncio.create_task(self._deliver(chat_id, batch, send_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        for chat_id in aside:
            self.queue.push_chat(chat_id, now)
        return 0.005 if more else max(0.005, sleep)

    async def _read_new(self) -> bool:
        """Bring the in-memory queue up to date: the rows written since the last pass, or
        every pending row once every ``RESYNC_SECONDS`` (and at start). Returns whether
        more new rows may be waiting to be read."""
        mono = time.monotonic()
        resync = mono - self._synced_at >= RESYNC_SECONDS
        after = self.queue.seen
        async with self.svc.storage.read() as tx:
            if resync:
                fresh, last = await tx.pending_outbox()
            else:
                fresh, last = await tx.outbox_since(after, READ_BATCH)
        if resync:  # start again from the database; rows in flight stay known, unqueued
            old, self.queue = self.queue, Queue()
            self.queue.rows = {i: old.rows[i] for i in self._inflight if i in old.rows}
            self.queue.paged = old.paged
            self._synced_at = mono
        now = self.svc.now()
        for row in fresh:
            if row.id not in self._inflight:
                self.queue.add(row, now)
        self.queue.seen = max(self.queue.seen, last)
        return not resync and last - after >= READ_BATCH

    def _batch(self, chat_rows: list[Due]) -> list[int]:
        return bundle(chat_rows, self.coalesce)

    async def _deliver(self, chat_id: int, ids: list[int], send_id: int) -> None:
        outcome: Outcome | None = None
        try:
            outcome = await self._send(chat_id, ids, send_id)
            if outcome is not None:
                await self._settle(outcome)
        except Exception:
            if outcome is None:  # reading the rows failed: nothing was sent, try later
                log.exception("could not read messages to send; they stay pending")
                self.queue.retry(ids, self.svc.now() + 1.0, self.svc.now())
            else:  # sent, but not recorded: keep the result, retry the write, never resend
                log.exception("could not record a delivery; will retry the write")
                self._unsettled.append(outcome)
                ids = [i for i in ids if i not in outcome.ids]  # superseded meanwhile
                self.queue.drop(ids)
                outcome = None
        else:
            self._requeue(ids, outcome)
        finally:
            self.pacer.finish(send_id, time.monotonic())
            # Only now may a scan pick these rows again: until the settling commit they
            # still read as pending, and releasing them earlier would send them twice.
            self._inflight.difference_update(ids)
            self.wake()
        if outcome is not None:
            await self._after(outcome)

    def _requeue(self, ids: list[int], o: Outcome | None) -> None:
        """After the database recorded a send: rows to retry go back in line, the rest
        (sent, failed, superseded meanwhile) are forgotten."""
        again = o.ids if o is not None and o.retry_in is not None else []
        self.queue.drop([i for i in ids if i not in again])
        self.queue.retry(again, o.not_before if o is not None else 0.0, self.svc.now())

    async def _send(self, chat_id: int, ids: list[int], send_id: int) -> Outcome | None:
        async with self.svc.storage.read() as tx:
            batch = [r for r in await tx.outbox_rows(ids) if r.state == "pending"]
        if not batch:
            self.pacer.cancel(send_id)  # nothing was asked of Telegram
            return None  # superseded while queued
        outcome = Outcome([r.id for r in batch], batch)
        attempts = max(r.attempts + 1 for r in batch)
        asking = asyncio.current_task()
        if asking is not None:
            self._asking.add(asking)
        try:
            outcome.message_id = await self._request(chat_id, batch)
        except NotModified:
            outcome.not_modified = True
        except RetryLater as exc:
            self.stats["rate_limited"] += 1
            if batch[0].kind in NOT_MESSAGES:  # Telegram's limit on those calls only
                self.pacer.back_off_others(time.monotonic() + exc.seconds)
            else:
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
                log.error("Bot API refused a message (%s) of kind %s", exc, batch[0].kind,
                          extra=tags(batch[0]))
        except (ValueError, TypeError, KeyError) as exc:  # e.g. a payload we cannot read
            self.stats["failed"] += 1
            log.exception("a message of kind %s cannot be sent", batch[0].kind,
                          extra=tags(batch[0]))
            outcome.failure = f"local error: {type(exc).__name__}"
        except Exception as exc:  # e.g. the database: must not stop everything else
            log.exception("unexpected delivery error; will retry")
            outcome.retry_in, outcome.failure = backoff(attempts, self._rng), type(exc).__name__
        finally:
            self._asking.discard(asking)
        self.pacer.finish(send_id, time.monotonic())
        now = self.svc.now()
        if outcome.retry_in is not None and now - min(r.created_at for r in batch) >= MAX_AGE:
            self.stats["gave_up"] += 1
            log.error("gave up a message of kind %s after %d attempts (%s)", batch[0].kind,
                      attempts, outcome.failure, extra=tags(batch[0]))
            outcome.failure = f"gave up after {attempts} attempts: {outcome.failure}"
            outcome.retry_in = None
        if outcome.retry_in is not None:
            outcome.not_before = now + outcome.retry_in
        return outcome

    async def _settle(self, o: Outcome) -> None:
        async with self.svc.storage.transaction() as tx:
            if o.failure is None:
                await tx.mark_sent(o.ids, o.message_id, self.svc.now())
                first = o.batch[0]
                if first.target_id is not None and first.kind not in (DELETE, PIN):
                    # the message now says what the edit said
                    await tx.set_payload(first.target_id, first.payload)
                await self._catch_up_edits(tx, o.batch)
                await tx.keep_after_delivery(residues(o.batch, kept=EDITED_IN_PLACE))
            elif o.retry_in is not None:
                await tx.mark_retry(o.ids, o.not_before, o.failure)
            else:
                await tx.mark_failed(o.ids, o.failure)
                await tx.keep_after_delivery(residues(o.batch, kept=()))

    async def _settle_backlog(self) -> None:
        """Record what was sent while the database refused writes."""
        while self._unsettled:
            outcome = self._unsettled[0]
            try:
                await self._settle(outcome)
            except Exception:
                return  # still failing; the rows stay in flight, never resent
            self._unsettled.pop(0)
            self._requeue(outcome.ids, outcome)
            self._inflight.difference_update(outcome.ids)
            await self._after(outcome)

    async def _after(self, o: Outcome) -> None:
        """Statistics; for a chat that is gone, the domain's rerouting; for a message that
        can never go, the domain's record of it."""
        if o.failure is None:
            key = "not_modified" if o.not_modified else "sent"
            self.stats[key] += 1
            self.stats["bundled"] += len(o.batch) if len(o.batch) > 1 else 0
            return
        if o.retry_in is not None:
            return
        for row in o.batch:
            try:
                if o.unreachable and self.on_undeliverable is not None:
                    if row.target_id is None:
                        await self.on_undeliverable(row, o.failure)
                    elif row.kind == PIN and self.on_failed is not None:  # no right to pin
                        await self.on_failed(row, o.failure)
                elif row.kind == DELETE:  # a withdrawal Telegram refused: left as it is,
                    # and nobody is paged about a person already cut off
                    log.warning("could not withdraw message row %d (%s)", row.id, o.failure)
                elif not o.unreachable and self.on_failed is not None:
                    await self.on_failed(row, o.failure)
            except Exception:  # one failed report must not skip the others
                log.exception("reporting an undelivered message failed")

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
        edit, so the message ends up as the domain last said. The row's payload goes back
        to what was delivered (a sent row's payload is what its message shows)."""
        for row in batch:
            if row.target_id is not None:
                continue
            current = await tx.outbox_row(row.id)
            if current is not None and current.payload != row.payload:
                await tx.set_payload(row.id, row.payload)
                await tx.enqueue(row.chat_id, "edit", PRIORITY_CASE, current.payload,
                                 self.svc.now(), alert_id=row.alert_id, target_id=row.id)

    async def _request(self, chat_id: int, batch: list[OutboxRow]) -> int | None:
        first = batch[0]
        if first.kind == ERASE:  # a person's own message (a typed PIN): gone if still there
            await self.transport.delete(chat_id, int(json.loads(first.payload)["message_id"]))
            return None
        if first.kind == MENU:  # a person's command menu, in their language and for their role
            commands = json.loads(first.payload)["commands"]
            await self.transport.set_menu(chat_id, [(str(n), str(d)) for n, d in commands])
            return None
        if first.target_id is None:
            parts = [Outgoing.from_json(r.payload) for r in batch]
            out = parts[0] if len(parts) == 1 else combine(parts, await self._header(chat_id,
                                                                                    len(parts)))
            return await self.transport.send(chat_id, out)
        if first.kind == DELETE:
            return await self._delete(chat_id, first)
        if first.kind == PIN:
            return await self._pin(chat_id, first)
        return await self._edit(chat_id, first)

    async def _delete(self, chat_id: int, row: OutboxRow) -> int | None:
        """Delete a sent message. Where Telegram refuses (after 48 hours), a media copy
        with a caption gets the row's text as its caption instead."""
        assert row.target_id is not None
        async with self.svc.storage.read() as tx:
            target = await tx.outbox_row(row.target_id)
        if target is None or target.state != "sent" or target.message_id is None:
            raise Permanent("target message was never delivered")
        shown = Outgoing.from_json(target.payload)
        caption = Outgoing.from_json(row.payload).text
        await self.transport.delete(
            chat_id, target.message_id,
            caption if shown.copy_of is not None and shown.text and caption else None)
        return target.message_id

    async def _pin(self, chat_id: int, row: OutboxRow) -> int | None:
        """Pin a sent message (a board) once it has been delivered."""
        async with self.svc.storage.read() as tx:
            target = await _delivered(tx, row)
        assert target.message_id is not None
        await self.transport.pin(chat_id, target.message_id)
        return target.message_id

    async def _edit(self, chat_id: int, row: OutboxRow) -> int | None:
        """Edit a sent message; a bundled message is re-rendered from all its parts. An
        edit to what the message already says is not sent at all."""
        async with self.svc.storage.read() as tx:
            target = await _delivered(tx, row)
            assert target.message_id is not None
            if target.payload == row.payload:
                raise NotModified("unchanged")
            parts = await tx.rows_with_message(chat_id, target.message_id)
        outs = [Outgoing.from_json(row.payload if p.id == target.id else p.payload)
                for p in parts] or [Outgoing.from_json(row.payload)]
        if len(outs) == 1:
            out = outs[0]
        else:  # a bundle shows parts shortened: a change may not show (a fact, the time)
            header = await self._header(chat_id, len(outs))
            out = combine(outs, header)
            if out == combine([Outgoing.from_json(p.payload) for p in parts], header):
                raise NotModified("unchanged as shown in its bundle")
        await self.transport.edit(chat_id, target.message_id, out)
        return target.message_id

    async def _header(self, chat_id: int, n: int) -> str:
        async with self.svc.storage.read() as tx:
            person = await tx.person(chat_id)
        if n > FULL_PARTS:  # shown in short (bot.domain.messages.combine)
            return tn(lang_of(person), "🚨 {n} new alert, in short (/case N shows one whole; "
                      "/decline N if you can't take it):", "🚨 {n} new alerts, in short "
                      "(/case N shows one whole; /decline N if you can't take it):", n)
        return tn(lang_of(person), "🚨 {n} new alert:", "🚨 {n} new alerts:", n)
