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

    async def run(self) -> None:
        offset = 0  # Telegram: the earliest unconfirmed update
        failures = 0
        while not self.stop.is_set():
            try:
                updates = await self.app.bot.get_updates(
                    offset=offset, timeout=self.poll_timeout,
                    read_timeout=self.poll_timeout + 10, allowed_updates=ALLOWED_UPDATES,
                )
                failures = 0
            except RetryAfter as exc:
                await sleep_or_stop(self.stop, _seconds(exc.retry_after))
                continue
            except TelegramError as exc:  # network, 5xx, a second instance polling (409)
                failures += 1
                hint = " (is another instance polling?)" if isinstance(exc, Conflict) else ""
                log.warning("getUpdates failed: %s%s; retrying", type(exc).__name__, hint)
                await sleep_or_stop(self.stop, min(30.0, 0.5 * 2 ** min(failures, 6)))
                continue
            if not updates:
                continue
            offset = await self._process(updates)

    async def _process(self, updates: list[Update]) -> int:
        """Process a batch; return the offset to confirm up to."""
        failed: set[int] = self.app.bot_data.setdefault(FAILED_KEY, set())
        failed.clear()
        await process_batch(self.app, updates)
        retry = None
        for update in updates:
            if update.update_id not in failed:
                self._tries.pop(update.update_id, None)
                continue
            tries = self._tries[update.update_id] = self._tries.get(update.update_id, 0) + 1
            if tries < MAX_TRIES:
                retry = update.update_id if retry is None else min(retry, update.update_id)
            else:
                log.error("giving up on update %s after %d tries", update.update_id, tries)
                self._tries.pop(update.update_id, None)
                if self.on_give_up is not None:
                    await self.on_give_up(update)
        if retry is not None:
            await sleep_or_stop(self.stop, 1.0)
            return retry
        return updates[-1].update_id + 1


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
