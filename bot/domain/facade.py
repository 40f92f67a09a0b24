"""The domain as one object: everything a handler may call, built from the shared services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.domain import board, discreet
from bot.domain.board import Boards
from bot.domain.cancelling import Cancelling
from bot.domain.casework import CaseWork
from bot.domain.checkin import DUE, REMIND, CheckIns
from bot.domain.coordination import Coordination
from bot.domain.dispatch import PrivateText
from bot.domain.erasure import ERASE, FORGET, RETENTION, Erasure
from bot.domain.figures import Reports
from bot.domain.flood import SUMMARY, Flood
from bot.domain.languages import Languages
from bot.domain.live import LIVE_CHECK
from bot.domain.pins import Pins
from bot.domain.reporting import UNDO, Reporting
from bot.domain.services import Services
from bot.domain.sms import SMS_PAGE, Sms
from bot.domain.team import Team
from storage import OutboxRow


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
    cancelling: Cancelling
    pins: Pins
    checkins: CheckIns
    erasure: Erasure
    sms: Sms
    boards: Boards
    reports: Reports
    languages: Languages

    @classmethod
    def build(cls, svc: Services) -> Domain:
        team = Team(svc)
        casework = CaseWork(svc, team.group_gone)
        flood = Flood(svc)
        cancelling = Cancelling(svc, casework)
        pins = Pins(svc, cancelling)
        reporting = Reporting(svc, cancelling.reporter_safe, flood)
        return cls(svc, reporting, casework, team, Coordination(svc),
                   PrivateText(svc, reporting, team, casework, pins), flood, cancelling, pins,
                   CheckIns(svc, reporting), Erasure(svc), Sms(svc, reporting, casework),
                   Boards(svc), Reports(svc), Languages(svc))

    async def fire_timer(self, kind: str, subject: int) -> None:
        """What a due timer row means: the timer loop calls this for every kind below."""
        if kind == board.TIMER:
            await self.boards.redraw(subject)
        elif kind == "oncall_until":
            await self.team.on_call_ended(subject)
        elif kind == SUMMARY:
            await self.flood.summary(subject)
        elif kind == UNDO:
            await self.reporting.window_ended(kind, subject)
        elif kind == discreet.FORGET:
            await self.reporting.forget_cleared(subject)
        elif kind in (DUE, REMIND):
            await self.checkins.on_timer(kind, subject)
        elif kind == LIVE_CHECK:
            await self.reporting.live.check(subject)
        elif kind == RETENTION:
            await self.erasure.purge()
        elif kind in (FORGET, ERASE):
            await self.erasure.erasure_due(kind, subject)
        elif kind == SMS_PAGE:
            await self.sms.page_due(kind, subject)
        else:
            await self.casework.on_timer(kind, subject)

    def timer_handlers(self) -> dict[str, Callable[[str, int], Awaitable[None]]]:
        return {kind: self.fire_timer for kind in ("escalate", "safe_close", "oncall_until",
                                                  SUMMARY, UNDO, discreet.FORGET, DUE, REMIND,
                                                  LIVE_CHECK, RETENTION, FORGET, ERASE, SMS_PAGE,
                                                  board.TIMER)}

    async def delivery_failed(self, row: OutboxRow, reason: str) -> None:
        """A message that can never go: a board's is replaced, an alert's is reported."""
        await self.boards.lost(row, reason)
        await self.casework.delivery_failed(row, reason)
