"""The timer loop: due times are rows (python-telegram-bot's JobQueue is not persisted), so
after a restart whatever fell due while the bot was down fires at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.domain.services import Services

log = logging.getLogger(__name__)
ALERT_TIMERS = ("escalate", "safe_close")  # timers whose subject is an alert

TimerHandler = Callable[[str, int], Awaitable[None]]
RETRY_FAILED = 60.0  # seconds before a timer whose handler raised is tried again


class TimerLoop:
    def __init__(self, svc: Services, handlers: dict[str, TimerHandler],
                 max_sleep: float = 1.0) -> None:
        self.svc = svc
        self.handlers = handlers
        self.max_sleep = max_sleep
        self._wake = asyncio.Event()
        self._stopping = False
        svc.on_commit(self._wake.set)

    async def run_due(self) -> int:
        """Fire every timer that is due now; return how many were handled (a failing one is
        postponed and not counted, so a broken timer cannot make the loop spin)."""
        async with self.svc.storage.read() as tx:
            due = await tx.due_timers(self.svc.now(), limit=500)
        handled = 0
        for timer in due:
            handler = self.handlers.get(timer.kind)
            try:
                if handler is None:
                    raise LookupError(f"no handler for timer kind {timer.kind}")
                await handler(timer.kind, timer.subject_id)
                handled += 1
            except Exception:  # one bad timer must not stop the others
                log.exception("timer %s failed; trying again in %.0f s", timer.kind,
                              RETRY_FAILED, extra={"event": timer.kind, "alert": (
                                  timer.subject_id if timer.kind in ALERT_TIMERS else None)})
                await self._postpone(timer.kind, timer.subject_id)
        return handled

    async def _postpone(self, kind: str, subject_id: int) -> None:
        try:
            async with self.svc.storage.transaction() as tx:
                await tx.set_timer(kind, subject_id, self.svc.now() + RETRY_FAILED)
        except Exception:
            log.exception("could not postpone timer %s", kind)

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                fired = await self.run_due()
                if fired:
                    continue
                async with self.svc.storage.read() as tx:
                    nxt = await tx.next_timer_time()
            except Exception:  # the database failed: keep the loop alive and try again
                log.exception("timer loop failed; retrying")
                nxt = None
            delay = self.max_sleep if nxt is None else min(self.max_sleep,
                                                           max(0.01, nxt - self.svc.now()))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
