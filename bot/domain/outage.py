"""The bot was sick: coordinators hear about it once it is well again.

Sick means a message has waited in the outbox longer than ``QORGAU_SICK_AFTER_SECONDS``,
or the Bot API has been out of reach that long. Coordinators cannot be told while Telegram
is down, so they are told once it is over: one message each, saying for how long and how
many alerts were raised meanwhile (their pages went out late). The start of the episode is
kept in the database, so a restart in the middle of an outage still ends in that message.
"""

from __future__ import annotations

import logging
import math

from bot.domain import notify
from bot.domain.messages import PRIORITY_CASE
from bot.domain.services import Services
from bot.i18n import N_

log = logging.getLogger(__name__)

SICK_SINCE = "sick_since"  # kv key: when the current episode began (clock seconds)


class Outage:
    def __init__(self, svc: Services) -> None:
        self.svc = svc

    async def check(self, down_since: float | None) -> None:
        """Look once: start an episode, or end one and tell coordinators. ``down_since``:
        since when the Bot API has not answered (None: it answers)."""
        now, limit = self.svc.now(), self.svc.settings.sick_after_seconds
        async with self.svc.storage.read() as tx:
            oldest = await tx.oldest_pending_at()
            since_text = await tx.get_value(SICK_SINCE)
        causes = [t0 for t0 in (oldest, down_since) if t0 is not None and now - t0 > limit]
        if causes:
            if since_text is None:
                start = min(causes)
                async with self.svc.step() as tx:
                    await tx.set_value(SICK_SINCE, repr(start))
                log.warning("the bot is sick since %.0f s: %s", now - start,
                            "Telegram out of reach" if down_since in causes
                            else "messages held up in the outbox")
            return
        if since_text is None or down_since is not None:
            return  # well, or Telegram still out of reach (not yet long enough to count)
        await self._recovered(float(since_text), now)

    async def _recovered(self, start: float, now: float) -> None:
        minutes = max(1, math.ceil((now - start) / 60.0))
        async with self.svc.step() as tx:
            if await tx.get_value(SICK_SINCE) is None:
                return  # told already (two checks raced)
            delayed = await tx.alerts_raised_between(start, now)
            for c in await tx.people(role="coordinator"):
                await notify.tell(
                    tx, c.user_id,
                    N_("Qorgau was not working normally for {minutes} min (Telegram was out of "
                    "reach or messages were held up). Alerts raised in that time: {alerts}; "
                    "their messages went out late. It is working again now."),
                    now, priority=PRIORITY_CASE, minutes=minutes, alerts=delayed)
            await tx.delete_value(SICK_SINCE)
        log.warning("the bot is well again after %d min; %d alert(s) were delayed",
                    minutes, delayed)
