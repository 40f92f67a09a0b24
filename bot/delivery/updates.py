"""Fetching updates by long polling, confirming each batch only after it was processed.

Telegram forgets an update only when a later getUpdates names a higher offset, and keeps
what is unconfirmed for 24 hours. So the offset lives in memory and the next getUpdates,
made only after the batch was processed, is what confirms it: after a crash, a fresh start
(offset 0) is handed again everything not yet confirmed (at-least-once, like the outbox),
and no write to disk sits on the path of an alert. An update whose handler failed (the
database was full, a bug) is fetched and tried again a few times before it is given up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta

from telegram import Update
from telegram.error import Conflict, RetryAfter, TelegramError
from telegram.ext import Application

log = logging.getLogger(__name__)

FAILED_KEY = "failed_updates"  # in bot_data: ids whose handler raised, set by the error handler
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
MAX_TRIES = 3

GiveUp = Callable[[Update], Awaitable[None]]  # tells the sender we could not do it


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class UpdatePoller:
    def __init__(self, app: Application, stop: asyncio.Event,
                 poll_timeout: int = 10, on_give_up: GiveUp | None = None) -> None:
        self.app = app
        self.stop = stop
        self.poll_timeout = poll_timeout
        self.on_give_up = on_give_up
        self._tries: dict[int, int] = {}
        self._done: set[int] = set()  # processed, but not yet confirmed to Telegram

    async def run(self) -> None:
        offset = 0  # Telegram: the earliest unconfirmed update
        failures = 0
        while not self.stop.is_set():
            try:
                updates = await self._fetch(offset)
                failures = 0
            except RetryAfter as exc:
                await sleep_or_stop(self.stop, _seconds(exc.retry_after))
                continue
            except TelegramError as exc:  # network, 5xx, a second instance polling (409)
                failures += 1
                hint = " (is another instance polling?)" if isinstance(exc, Conflict) else ""
                log.warning("getUpdates failed: %s%s; retrying", type(exc).__name__, hint)
                await sleep_or_stop(self.stop, min(5.0, 0.5 * 2 ** min(failures, 4)))
                continue
            if updates is None:
                break  # stopping: what was not fetched stays with Telegram
            if updates:
                offset = await self._process(updates)
        await self._confirm(offset)

    async def _fetch(self, offset: int) -> list[Update] | None:
        """One long poll, abandoned (None) the moment the bot is asked to stop."""
        fetch = asyncio.ensure_future(self.app.bot.get_updates(
            offset=offset, timeout=self.poll_timeout, read_timeout=self.poll_timeout + 10,
            allowed_updates=ALLOWED_UPDATES))
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not fetch.done():
            fetch.cancel()
            return None
        return list(fetch.result())

    async def _confirm(self, offset: int) -> None:
        """On a clean stop, tell Telegram what was processed, so it is not handed again."""
        if offset:
            try:
                await self.app.bot.get_updates(offset=offset, timeout=0, limit=1)
            except TelegramError:
                pass  # not confirmed: processed again at the next start (at-least-once)

    async def _process(self, updates: list[Update]) -> int:
        """Process a batch; return the offset to confirm up to. After a failure the batch is
        fetched again from the failed update on; updates that succeeded are not re-run."""
        failed: set[int] = self.app.bot_data.setdefault(FAILED_KEY, set())
        failed.clear()
        fresh = [u for u in updates if u.update_id not in self._done]
        await process_batch(self.app, fresh)
        retry = None
        for update in fresh:
            uid = update.update_id
            if uid not in failed:
                self._tries.pop(uid, None)
                self._done.add(uid)
                continue
            tries = self._tries[uid] = self._tries.get(uid, 0) + 1
            if tries < MAX_TRIES:
                retry = uid if retry is None else min(retry, uid)
            else:
                log.error("giving up on update %s after %d tries", uid, tries)
                self._tries.pop(uid, None)
                self._done.add(uid)
                if self.on_give_up is not None:
                    await self.on_give_up(update)
        offset = updates[-1].update_id + 1
        if retry is not None:
            await sleep_or_stop(self.stop, 1.0)
            offset = retry
        self._done = {uid for uid in self._done if uid >= offset}  # confirmed ones go
        return offset


async def process_batch(app: Application, updates: Iterable[Update]) -> None:
    """Different people's updates run concurrently; one person's run in order."""
    by_sender: dict[int, list[Update]] = {}
    for update in updates:
        sender = update.effective_user.id if update.effective_user else 0
        by_sender.setdefault(sender, []).append(update)

    async def in_order(batch: list[Update]) -> None:
        for update in batch:
            await app.process_update(update)

    await asyncio.gather(*(in_order(b) for b in by_sender.values()))
