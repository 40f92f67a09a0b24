"""Retention and erasure: what is no longer needed must not exist at all.

A daily timer row anonymises every alert closed more than ``QORGAU_RETENTION_DAYS`` ago
(storage.personal lists what that removes; region, times, outcome and staff ids stay, so
/stats keeps working), and erases reporters left with no alert at all. ``/forget`` lets a
reporter erase themself, ``/erase <user id>`` lets a coordinator erase a person; an open
alert is kept until it closes, then erased by a timer row. The timeline records that an
erasure happened, never what it removed.

The reporter's texts here avoid words that would give them away to someone reading over
their shoulder (alert, lawyer, case...): "SOS" and "history" say enough.
"""

from __future__ import annotations

import logging

from bot.domain import notify
from bot.domain.messages import PRIORITY_REPLY, Button, Outgoing
from bot.domain.services import Services
from bot.i18n import N_, lang_of, t, tn
from storage import Person, Tx

log = logging.getLogger(__name__)

RETENTION = "retention"  # timer kind: the daily purge (one row, subject 0)
FORGET = "forget"  # timer kind: a reporter's /forget waiting for their open alert to close
ERASE = "erase"  # timer kind: a coordinator's /erase waiting likewise
DAY = 86400.0
BATCH = 50  # alerts per transaction: a kill loses at most one batch, which the next run redoes
PAYLOAD_BATCH = 500
RECHECK = 300.0  # seconds between looks at whether a waiting erasure's alert has closed
FORGET_DATA = "forget"  # the confirmation button's callback data
ERASED_TEXT = (N_("Done: your profile and history here are erased. To use Qorgau again, send "
               "/start."))


class Erasure:
    def __init__(self, svc: Services) -> None:
        self.svc = svc

    # --- the daily purge --------------------------------------------------------------------

    async def purge(self) -> None:
        """The daily timer. Each batch is its own transaction and the timer row moves on
        only at the end: a purge killed half-way is still due, and the next start finishes
        it (what was done stays done, the rest is found by the same queries)."""
        started = self.svc.now()
        cutoff = started - self.svc.settings.retention_days * DAY
        alerts = people = payloads = 0
        while True:
            async with self.svc.step() as tx:
                batch = await tx.alerts_to_anonymise(cutoff, BATCH)
                for alert_id in batch:
                    reporter = await self._anonymise(tx, alert_id, None, "retention")
                    if reporter is not None and await self._drop_if_done(tx, reporter):
                        people += 1
            alerts += len(batch)
            if len(batch) < BATCH:
                break
        while True:
            async with self.svc.step() as tx:
                done = await tx.redact_sent_payloads(PAYLOAD_BATCH)
            payloads += done
            if done < PAYLOAD_BATCH:
                break
        async with self.svc.step() as tx:
            await tx.forget_erased_chats()
        # Overwritten pages are zeroed in the file (secure_delete); their old copies in the
        # WAL go with the checkpoint.
        await self._checkpoint()
        async with self.svc.step() as tx:
            await tx.set_timer(RETENTION, 0, started + DAY)
        log.info("retention purge: %d alert(s) anonymised, %d person(s) erased, "
                 "%d late message(s) redacted", alerts, people, payloads)

    async def _checkpoint(self) -> None:
        if not await self.svc.storage.checkpoint():
            log.warning("the WAL could not be emptied after an erasure (a reader held it); "
                        "the next purge tries again")

    async def _anonymise(self, tx: Tx, alert_id: int, actor: int | None, by: str) -> int | None:
        """Anonymise one closed alert and record on its timeline that it was erased."""
        reporter = await tx.anonymise_alert(alert_id, self.svc.now())
        if reporter is not None:
            await tx.add_event(alert_id, self.svc.now(), "erased", actor, by=by)
        return reporter

    @staticmethod
    async def _drop_if_done(tx: Tx, user_id: int) -> bool:
        """A reporter whose last alert was anonymised, with none open, is erased too. Staff
        keep their profile (their ids are what stays on anonymous alerts)."""
        person = await tx.person(user_id)
        if person is None or person.role != "reporter" or person.step == "erased":
            return False
        if await tx.open_alert_of(user_id) is not None or await tx.closed_alerts_of(user_id):
            return False
        await tx.erase_person(user_id)
        return True

    async def _erase_now(self, tx: Tx, user_id: int, actor: int | None, by: str) -> int:
        """Everything about a person with no open alert: their closed alerts anonymised,
        then their profile and messages. Returns how many alerts were anonymised."""
        alerts = await tx.closed_alerts_of(user_id)
        for alert_id in alerts:
            await self._anonymise(tx, alert_id, actor, by)
        await tx.erase_person(user_id)
        return len(alerts)

    # --- /forget, for reporters -------------------------------------------------------------

    async def forget(self, user_id: int, language: str, confirmed: bool = False
                     ) -> str | None:
        """/forget (``confirmed`` False): what erasing would do, with one confirmation
        button. The button (True): erase now, or once the open alert has closed. A refusal
        is returned; everything else is a message."""
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            refusal = await self._forget_refusal(tx, person, language)
            if refusal is not None or person is None:
                return refusal
            lang = person.language
            now = self.svc.now()
            open_alert = await tx.open_alert_of(user_id)
            waiting = open_alert is not None
            shown = notify.hidden(open_alert) is not None  # after a duress cancel: as if none
            buttons: tuple[tuple[Button, ...], ...] = ()
            if not confirmed:
                text = t(lang, N_("Your request for help is still open. It is kept until it is "
                               "closed; then everything stored about you here is erased. Go "
                               "ahead?")
                         if shown else N_("Erase everything stored about you here: your "
                         "profile and your history? This cannot be undone."))
                buttons = ((Button(t(lang, "Yes, erase everything"), FORGET_DATA),),)
            elif waiting:
                await tx.set_timer(FORGET, user_id, now + RECHECK)
                text = t(lang, N_("Noted. Everything stored about you here is erased once your "
                               "request for help is closed.") if shown else ERASED_TEXT)
            else:
                await self._erase_now(tx, user_id, None, "request")
                text = t(lang, ERASED_TEXT)
            await notify.send(tx, user_id, Outgoing(text, buttons=buttons), now,
                              priority=PRIORITY_REPLY)
        if confirmed and not waiting:
            await self._checkpoint()
        return None

    async def _forget_refusal(self, tx: Tx, person: Person | None, language: str
                              ) -> str | None:
        """Why /forget (or its button) does nothing now, or None if it may go ahead."""
        lang = lang_of(person) if person else language
        if person is None or person.step == "erased":
            return t(lang, "Nothing is stored about you here.")
        if person.role != "reporter":
            return t(lang, "You are on the team. Leave it first with /leave, then send "
                           "/forget.")
        if await tx.timer(FORGET, person.user_id) is not None:
            return t(lang, "You already asked. Everything stored about you here is erased "
                           "once your SOS is closed.")
        return None

    # --- /erase, for coordinators ------------------------------------------------------------

    async def erase(self, user_id: int, target_id: int) -> str:
        """/erase <user id>: a coordinator erases a person (not a member of the team)."""
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.is_coordinator:
                return t(lang, "Only coordinators can erase a person's data.")
            target = await tx.person(target_id)
            if target is None or target.step == "erased":
                return t(lang, "Nothing is stored about {id}.", id=target_id)
            if target.role != "reporter":
                return t(lang, "{id} is on the team; /revoke them first.", id=target_id)
            now = self.svc.now()
            await tx.add_audit(now, "erased", user_id, None, None)
            open_alert = await tx.open_alert_of(target_id)
            if open_alert is not None:
                await tx.set_timer(ERASE, target_id, now + RECHECK)
                return t(lang, "{id} has open alert #{n}. It is kept until it is closed; then "
                               "everything about them is erased.", id=target_id, n=open_alert.id)
            n = await self._erase_now(tx, target_id, user_id, "coordinator")
        await self._checkpoint()
        return tn(lang, "Erased everything stored about {id}: their profile and {n} alert.",
                  "Erased everything stored about {id}: their profile and {n} alerts.", n,
                  id=target_id)

    # --- a waiting erasure ---------------------------------------------------------------------

    async def erasure_due(self, kind: str, user_id: int) -> None:
        """A waiting /forget or /erase: done once the person has no open alert. The WAL is
        checkpointed after every erasure, as after a purge."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            if not await tx.is_due(kind, user_id, now, take=False):
                return
            person = await tx.person(user_id)
            if person is None or person.role != "reporter":  # joined the team meanwhile
                await tx.clear_timer(kind, user_id)
                return
            if await tx.open_alert_of(user_id) is not None:
                await tx.set_timer(kind, user_id, now + RECHECK)
                return
            await self._erase_now(tx, user_id, None, "request" if kind == FORGET
                                  else "coordinator")
            if kind == FORGET:
                await notify.send(tx, user_id, Outgoing(t(person.language, ERASED_TEXT)), now,
                                  priority=PRIORITY_REPLY)
        await self._checkpoint()
