"""The domain as one object: everything a handler may call, built from the shared services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.domain.casework import CaseWork
from bot.domain.coordination import Coordination
from bot.domain.dispatch import PrivateText
from bot.domain.erasure import ERASE, FORGET, RETENTION, Erasure
from bot.domain.flood import SUMMARY, Flood
from bot.domain.reporting import Reporting
from bot.domain.services import Services
from bot.domain.team import Team


@dataclass
class Domain:
    """Reachable from handlers as ``context.bot_data["domain"]``."""

    svc: Services
    reporting: Reporting
    casework: CaseWork
    team: Team
    coordination: Coordination
    private_text: PrivateText
    flood: Flood
    erasure: Erasure

    @classmethod
    def build(cls, svc: Services) -> Domain:
        team = Team(svc)
        casework = CaseWork(svc, team.group_gone)
        flood = Flood(svc)
        reporting = Reporting(svc, casework.reporter_safe, flood)
        return cls(svc, reporting, casework, team, Coordination(svc),
                   PrivateText(svc, reporting, team, casework), flood, Erasure(svc))

    async def fire_timer(self, kind: str, subject: int) -> None:
        """What a due timer row means: the timer loop calls this for every kind below."""
        if kind == "oncall_until":
            await self.team.on_call_ended(subject)
        elif kind == SUMMARY:
            await self.flood.summary(subject)
        elif kind == RETENTION:
            await self.erasure.purge()
        elif kind in (FORGET, ERASE):
            await self.erasure.erasure_due(kind, subject)
        else:
            await self.casework.on_timer(kind, subject)

    def timer_handlers(self) -> dict[str, Callable[[str, int], Awaitable[None]]]:
        return {kind: self.fire_timer for kind in ("escalate", "safe_close", "oncall_until",
                                                  SUMMARY, RETENTION, FORGET, ERASE)}
