"""What a plain message in a private chat means depends on who sends it and where they are
in a flow; this is the one place that decides, so handlers stay thin."""

from __future__ import annotations

from bot.domain.casework import CaseWork
from bot.domain.notify import LABEL_OFF, LABEL_ON
from bot.domain.reporting import Reporting
from bot.domain.services import Services
from bot.domain.team import Team
from bot.i18n import t


class PrivateText:
    def __init__(self, svc: Services, reporting: Reporting, team: Team,
                 casework: CaseWork) -> None:
        self.svc = svc
        self.reporting = reporting
        self.team = team
        self.casework = casework

    async def handle(self, user_id: int, text: str, language: str,
                     reply_to: int | None) -> str | None:
        """Route one text; return a short answer to send, or None if the domain answered."""
        async with self.svc.storage.read() as tx:
            person = await tx.person(user_id)
            rows = await tx.rows_with_message(user_id, reply_to) if reply_to else []
        if person is not None:
            if await self.team.on_text(person, text):
                return None
            if person.role in ("lawyer", "coordinator") and person.registered:
                label = text.strip()
                if label in (t(person.language, LABEL_ON), t(person.language, LABEL_OFF)):
                    await self.team.set_on_call(user_id, label == t(person.language, LABEL_ON))
                    return None
                alert_ids = {r.alert_id for r in rows if r.alert_id is not None}
                if len(alert_ids) == 1:
                    return await self.casework.note(user_id, alert_ids.pop(), text)
        await self.reporting.on_text(user_id, text, language)
        return None
