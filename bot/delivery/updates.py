"""Fetching updates by long polling, confirming each batch only after it was processed.

Telegram forgets an update only when a later getUpdates names a higher offset, and keeps
what is unconfirmed for 24 hours. So the offset lives in memory and the next getUpdates,
made only after the batch was processed, is what confirms it: after a crash, a fresh start
(offset 0) is handed again everything not yet confirmed. Each domain step records the id of
the update it handles in its own transaction (``INBOUND_UPDATE``), so an update handed again
whose effects were committed is skipped: a crash repeats no effect, only the messages that
were in flight. An update whose handler failed (the database was full, a bug) is fetched and
tried again a few times before it is given up.

Within a batch, alerts go first: the senders of a location or an SOS are handled (each
person's updates still in order) and committed before anyone else's. And past the input
limit (``Flood``), a person's further messages do not go through the handlers one by one:
they are stored in one transaction per batch, so a flood costs little and delays nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta

from telegram import Message, Update
from telegram.error import Conflict, RetryAfter, TelegramError
from telegram.ext import Application

from bot.domain import discreet
from bot.domain.flood import Flood, Held
from bot.domain.notify import LABEL_SOS_NO_LOCATION, RAISE_NOW_DATA
from bot.domain.services import INBOUND_UPDATE, Services
from bot.i18n import LANGUAGES, SENDER_LANGUAGE, pick_language, t

log = logging.getLogger(__name__)

FAILED_KEY = "failed_updates"  # in bot_data: ids whose handler raised, set by the error handler
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
MAX_TRIES = 3
# Telegram hands an unconfirmed update again for 24 hours: a processed id older than this
# can never come back, and is forgotten.
KEEP_PROCESSED = 26 * 3600.0
PRUNE_EVERY = 600.0

GiveUp = Callable[[Update], Awaitable[None]]  # tells the sender we could not do it


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Intake:
    """What the poller and the webhook share: skip updates whose effects were committed,
    hold floods, process the rest, and count each update's tries. ``take`` answers which
    updates must be handed again (their handler failed and they have tries left); every
    other one is done and may be confirmed to Telegram."""

    def __init__(self, app: Application, stop: asyncio.Event,
                 on_give_up: GiveUp | None = None, svc: Services | None = None,
                 flood: Flood | None = None) -> None:
        self.app = app
        self.stop = stop
        self.on_give_up = on_give_up
        self.svc = svc  # where processed update ids are recorded
        self.flood = flood  # the input limits
        self.counts = {"processed": 0, "skipped": 0, "failed": 0, "given_up": 0}
        self._tries: dict[int, int] = {}
        self._pruned_at = -PRUNE_EVERY

    async def take(self, updates: list[Update]) -> set[int]:
        """Process these updates; return the ids to hand again. Safe to call concurrently
        (webhook requests): each call looks only at its own ids in the failed set."""
        failed: set[int] = self.app.bot_data.setdefault(FAILED_KEY, set())
        ids = {u.update_id for u in updates}
        failed -= ids  # a mark left from an earlier try is not this try's
        replayed = await self._recorded(updates)
        if replayed:
            log.info("skipping %d update(s) already processed", len(replayed))
            self.counts["skipped"] += len(replayed)
            updates = [u for u in updates if u.update_id not in replayed]
        normal, held = await self._screen(updates)
        await process_batch(self.app, normal)
        if held and self.flood is not None:
            try:
                await self.flood.absorb(held)
            except Exception:  # e.g. the disk is full: fetched and tried again
                log.exception("could not store %d held message(s)", len(held))
                failed.update(h.update_id for h in held)
        retry: set[int] = set()
        for update in updates:
            uid = update.update_id
            if uid not in failed:
                self._tries.pop(uid, None)
                self.counts["processed"] += 1
                continue
            failed.discard(uid)
            self.counts["failed"] += 1
            tries = self._tries[uid] = self._tries.get(uid, 0) + 1
            if tries < MAX_TRIES:
                retry.add(uid)
            else:
                log.error("giving up on update %s after %d tries", uid, tries)
                self.counts["given_up"] += 1
                self._tries.pop(uid, None)
                if self.on_give_up is not None:
                    await self.on_give_up(update)
        await self._prune()
        return retry

    async def _recorded(self, updates: list[Update]) -> set[int]:
        """Ids of these updates whose effects were committed (by a run that then died)."""
        if self.svc is None or not updates:
            return set()
        try:
            async with self.svc.storage.read() as tx:
                return await tx.recorded_updates([u.update_id for u in updates])
        except Exception:  # cannot tell: process them (at-least-once), never stop polling
            log.exception("could not read which updates were processed")
            return set()

    async def _screen(self, updates: list[Update]) -> tuple[list[Update], list[Held]]:
        """Split off the messages of people over the input limit. The first alert of such a
        person in a batch still goes through: someone who typed too much may be in danger.
        Lawyers and coordinators have a larger allowance (``flood.STAFF_FACTOR`` times):
        they were invited, and a held /revoke or /note would be an order lost."""
        if self.flood is None:
            return updates, []
        over = {u.update_id for u in updates if u.message is not None
                and u.effective_user is not None
                and not self.flood.admit_message(u.effective_user.id,
                                                 u.message.date.timestamp())}
        if not over:
            return updates, []
        staff = await self.flood.staff()
        normal: list[Update] = []
        held: list[Held] = []
        alerted: set[int] = set()
        for update in updates:
            message, user = update.message, update.effective_user
            if update.update_id not in over or message is None or user is None or (
                    user.id in staff and self.flood.admit_staff_message(
                        user.id, message.date.timestamp())):
                normal.append(update)
            elif is_alert(update) and user.id not in alerted:
                alerted.add(user.id)
                normal.append(update)
            else:
                held.append(held_message(update.update_id, user.id, message))
        return normal, held

    async def _prune(self) -> None:
        """Forget processed ids Telegram can no longer hand again (every few minutes)."""
        mono = asyncio.get_running_loop().time()
        if self.svc is None or mono - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = mono
        try:
            async with self.svc.storage.transaction() as tx:
                await tx.forget_updates(self.svc.now() - KEEP_PROCESSED)
        except Exception:  # next time; a few more rows harm nothing
            log.exception("could not prune processed update ids")




class UpdatePoller:
    def __init__(self, intake: Intake, poll_timeout: int = 10) -> None:
        self.intake = intake
        self.app = intake.app
        self.stop = intake.stop
        self.poll_timeout = poll_timeout
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
        fresh = [u for u in updates if u.update_id not in self._done]
        retry = await self.intake.take(fresh)
        self._done |= {u.update_id for u in fresh if u.update_id not in retry}
        offset = updates[-1].update_id + 1
        if retry:
            await sleep_or_stop(self.stop, 1.0)
            offset = min(retry)
        self._done = {uid for uid in self._done if uid >= offset}  # confirmed ones go
        return offset


SOS_TEXTS = frozenset(t(lang, label) for lang in LANGUAGES
                      for label in (LABEL_SOS_NO_LOCATION, discreet.LABEL_SOS_NO_LOCATION))


def is_alert(update: Update) -> bool:
    """A location (not a live one moving), the "alert without location" button, or an
    inline "raise an alert" button: what must never wait behind anything else."""
    message = update.message
    if message is not None:
        return message.location is not None or (message.text or "").strip() in SOS_TEXTS
    query = update.callback_query
    return query is not None and (query.data or "").startswith(RAISE_NOW_DATA)


def held_message(update_id: int, user_id: int, message: Message) -> Held:
    """What of a held message is kept: its text, the kind of file, or the position.
    Commands, and anything said in a group, are only counted."""
    if message.chat.type != "private":
        return Held(update_id, user_id)
    mid = message.message_id
    if message.text is not None:
        text = None if message.text.startswith("/") else message.text
        return Held(update_id, user_id, text=text, message_id=mid)
    if message.location is not None:
        loc = message.location
        return Held(update_id, user_id, location=(loc.latitude, loc.longitude), message_id=mid)
    found = media_of(message)
    if found is not None:
        return Held(update_id, user_id, media=found[0], file_id=found[1], message_id=mid)
    return Held(update_id, user_id, text=message.caption, message_id=mid)


MEDIA_KINDS = ("voice", "video", "video_note", "audio", "document")


def media_of(message: Message) -> tuple[str, str] | None:
    """The kind of what was sent and its Telegram file id (a photo's largest size)."""
    if message.photo:
        return "photo", message.photo[-1].file_id
    for kind in MEDIA_KINDS:
        item = getattr(message, kind)
        if item is not None:
            return kind, item.file_id
    return None


async def process_batch(app: Application, updates: Iterable[Update]) -> None:
    """Different people's updates run concurrently; one person's run in order. The people
    who raise an alert in this batch go first, and everyone else once those are committed."""
    by_sender: dict[int, list[Update]] = {}
    for update in updates:
        sender = update.effective_user.id if update.effective_user else 0
        by_sender.setdefault(sender, []).append(update)

    async def in_order(batch: list[Update]) -> None:
        for update in batch:
            token = INBOUND_UPDATE.set(update.update_id)  # recorded by the domain's step
            user = update.effective_user  # answers someone unknown in their app's language
            spoken = SENDER_LANGUAGE.set(pick_language(user.language_code if user else None))
            try:
                await app.process_update(update)
            finally:
                SENDER_LANGUAGE.reset(spoken)
                INBOUND_UPDATE.reset(token)

    first = [b for b in by_sender.values() if any(is_alert(u) for u in b)]
    rest = [b for b in by_sender.values() if not any(is_alert(u) for u in b)]
    for lane in (first, rest):
        if lane:
            await asyncio.gather(*(in_order(b) for b in lane))
