"""The application's resources in one object, and the "domain step" every change goes
through: one transaction, then a wake-up for the delivery worker and the timer loop.

A step taken while handling a Telegram update also records that update's id, in the same
transaction as its effects (``INBOUND_UPDATE``, set by the update poller): after a crash,
Telegram hands the update again, and the poller skips it instead of repeating its effects."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar

from bot.clock import Clock, SystemClock
from bot.domain import notify
from bot.domain.escalation import Policy
from bot.settings import Settings
from storage import Storage, Tx

log = logging.getLogger(__name__)

# The id of the Telegram update being handled in this task, if any (set by the poller).
INBOUND_UPDATE: ContextVar[int | None] = ContextVar("inbound_update", default=None)
# The update whose id a step of this task has recorded already (see ``settle_update``).
_RECORDED: ContextVar[int | None] = ContextVar("recorded_update", default=None)


class Services:
    def __init__(self, settings: Settings, storage: Storage, clock: Clock | None = None) -> None:
        self.settings = settings
        self.storage = storage
        self.clock: Clock = clock or SystemClock()
        self.policy = Policy(
            ack_timeout=settings.ack_timeout_seconds,
            repeat=settings.repeat_seconds,
            claim_timeout=settings.claim_timeout_seconds,
            stale=settings.stale_hours * 3600.0,
        )
        notify.set_zone(settings.timezone)  # every clock time shown or typed
        self.bot_username = "qorgau_bot"  # replaced by getMe's answer at start
        self._listeners: list[Callable[[], None]] = []
        self._step_hooks: list[Callable[[Tx], Awaitable[None]]] = []

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Register a wake-up (the outbox worker's, the timer loop's)."""
        self._listeners.append(listener)

    def on_step(self, hook: Callable[[Tx], Awaitable[None]]) -> None:
        """Register a check run inside every step that wrote an alert event, or that calls
        ``touched`` (the live board learns there that it may have changed)."""
        self._step_hooks.append(hook)

    async def touched(self, tx: Tx) -> None:
        for hook in self._step_hooks:
            await hook(tx)

    def first_role(self, user_id: int) -> str:
        """The role a person gets on first contact: administrators from the settings are
        coordinators, everyone else a reporter until invited."""
        return "coordinator" if user_id in self.settings.admin_ids else "reporter"

    def now(self) -> float:
        return self.clock.now()

    @asynccontextmanager
    async def step(self) -> AsyncIterator[Tx]:
        """One domain step: all its rows commit together, then the workers are woken. Inside
        an update's handling, the update is recorded as processed by the same commit."""
        async with self.storage.transaction() as tx:
            yield tx
            if tx.written_events:
                await self.touched(tx)
            update_id = INBOUND_UPDATE.get()
            if update_id is not None:
                await tx.record_updates([update_id], self.now())
                _RECORDED.set(update_id)
        for alert_id, kind in tx.written_events:  # committed: the log line tells what happened
            log.info("alert #%d: %s", alert_id, kind, extra={"alert": alert_id, "event": kind})
        for listener in self._listeners:
            listener()

    async def settle_update(self) -> None:
        """Record the update being handled as processed, if no step did: called before an
        answer that goes straight to Telegram (a button's callback answer), so that after a
        crash the update is skipped rather than answered twice, which Telegram refuses."""
        update_id = INBOUND_UPDATE.get()
        if update_id is not None and _RECORDED.get() != update_id:
            async with self.step():
                pass
