"""The application's resources in one object, and the "domain step" every change goes
through: one transaction, then a wake-up for the delivery worker and the timer loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from bot.clock import Clock, SystemClock
from bot.domain.escalation import Policy
from bot.settings import Settings
from storage import Storage, Tx


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
        self.bot_username = "qorgau_bot"  # replaced by getMe's answer at start
        self._listeners: list[Callable[[], None]] = []

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Register a wake-up (the outbox worker's, the timer loop's)."""
        self._listeners.append(listener)

    def first_role(self, user_id: int) -> str:
        """The role a person gets on first contact: administrators from the settings are
        coordinators, everyone else a reporter until invited."""
        return "coordinator" if user_id in self.settings.admin_ids else "reporter"

    def now(self) -> float:
        return self.clock.now()

    @asynccontextmanager
    async def step(self) -> AsyncIterator[Tx]:
        """One domain step: all its rows commit together, then the workers are woken."""
        async with self.storage.transaction() as tx:
            yield tx
        for listener in self._listeners:
            listener()
