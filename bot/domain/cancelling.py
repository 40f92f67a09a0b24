"""Ending an alert from the reporter's side, when their phone may be in other hands: the
undo window, "I'm safe", a cancel with the PIN, and a cancel with the duress PIN.

What the reporter's chat shows must never tell whoever holds the phone more than a plain
"Cancelled." or "Received.": a real cancel and a duress cancel look the same there, and an
"I'm safe" closes nothing by itself until a person (the holder, or a coordinator) confirms
it, unless a lawyer who acknowledged it lets it close after the set time."""

from __future__ import annotations

from bot.domain import discreet, notify
from bot.domain.casework import CaseWork, coordinators_except, not_to_page
from bot.domain.messages import PRIORITY_ALERT, PRIORITY_REPLY, Button, Outgoing
from bot.domain.reporting import UNDO
from bot.domain.routing import escalation_wave
from bot.domain.services import Services
from bot.i18n import N_, lang_of, t
from storage import Alert, Person, Tx

CANCELLED = N_("cancelled by reporter")  # the outcome of an alert withdrawn by its reporter
WITHDRAWN = N_("withdrawn in the undo window")  # the outcome of an undo: nobody was paged
# Reporter texts: neutral, since a seized phone is read (no "alert", "lawyer", "case"...).
SAID_CANCELLED = N_("Cancelled.")
SAID_RECEIVED = N_("Received.")
SAID_NOTHING = N_("Nothing to cancel.")
ASK_PIN = N_("Send your PIN. The message is deleted at once.")


class Cancelling:
    def __init__(self, svc: Services, casework: CaseWork) -> None:
        self.svc = svc
        self.casework = casework

    async def _reply(self, tx: Tx, person: Person, out: Outgoing) -> None:
        await notify.send(tx, person.user_id, out, self.svc.now(), priority=PRIORITY_REPLY)

    async def said_cancelled(self, tx: Tx, person: Person) -> None:
        """The one answer to every cancel that worked, real or duress: same text, same
        keyboard, so the reporter's chat never shows which it was; in discreet mode the chat
        is cleared in both, as when a case closes."""
        if discreet.is_discreet(person):
            await discreet.clear_chat(tx, person.user_id, self.svc.now())
        await self._reply(tx, person, Outgoing(
            t(person.language, SAID_CANCELLED),
            keyboard=notify.keyboard(person.language, person, alert_open=False)))

    # --- the undo window ------------------------------------------------------------------

    async def undo(self, user_id: int, alert_id: int) -> str | None:
        """The "Cancel" button under a fresh alert. Within the window: withdrawn, nobody is
        paged. After it: the same as "I'm safe" (the PIN, if one is set). Its callback data
        can be forged: only the alert's own reporter may press it."""
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            alert = await tx.alert(alert_id)
            lang = lang_of(person)
            if person is None or alert is None or alert.reporter_id != user_id:
                return t(lang, "Sorry, this button is not for you.")
            if not alert.is_open or alert.concealed:
                return t(lang, SAID_NOTHING)
            if await tx.timer(UNDO, alert_id) is None:
                await self.reporter_safe(tx, alert, person)
                return None
            now = self.svc.now()
            await tx.add_event(alert_id, now, "undone", user_id)
            await self.casework._close(tx, alert, WITHDRAWN, user_id, tell_reporter=False)
            await self.said_cancelled(tx, person)
            return None

    # --- "I'm safe" -------------------------------------------------------------------------

    async def reporter_safe(self, tx: Tx, alert: Alert, reporter: Person) -> None:
        """The reporter says they are safe. With a PIN set, the PIN is asked for (the real
        one cancels, the duress one raises the alarm). Without one, "I'm safe" is shown on
        the cards and to coordinators and the alarm goes on until a person confirms it:
        it may have been typed by someone else. The reporter hears only "Received."."""
        now = self.svc.now()
        lang = reporter.language
        if alert.concealed:  # what their chat would show after a real cancel
            return await self._reply(tx, reporter, notify.nothing_open(reporter))
        pins = await tx.pin_state(reporter.user_id)
        if pins is not None and pins.has_pin:
            if pins.locked_until is not None and pins.locked_until > now:
                return await self._reply(tx, reporter, Outgoing(locked_text(
                    lang, pins.locked_until - now)))
            await tx.update_pins(reporter.user_id, awaiting="cancel", awaiting_alert=alert.id,
                                 awaiting_since=now, fake=0)
            return await self._reply(tx, reporter, Outgoing(t(lang, ASK_PIN)))
        await self.mark_safe(tx, alert, reporter)

    async def mark_safe(self, tx: Tx, alert: Alert, reporter: Person) -> None:
        now = self.svc.now()
        await tx.update_alert(alert.id, safe_at=now)
        await tx.add_event(alert.id, now, "reporter_safe", reporter.user_id)
        holder = alert.claimed_by if alert.claimed_by is not None else alert.acknowledged_by
        if holder is not None:
            # A lawyer is in the loop: they confirm, or it closes after the set time.
            await tx.set_timer("safe_close", alert.id,
                               now + self.svc.settings.safe_autoclose_seconds)
            await self._ask_confirm(tx, holder, alert, now)
        for c in await coordinators_except(tx, alert.reporter_id, holder or 0):
            await self._ask_confirm(tx, c.user_id, alert, now)
        await notify.refresh_alert_messages(tx, alert.id, now)
        await self._reply(tx, reporter, Outgoing(t(reporter.language, SAID_RECEIVED)))

    @staticmethod
    async def _ask_confirm(tx: Tx, user_id: int, alert: Alert, now: float) -> None:
        lang = lang_of(await tx.person(user_id))
        await notify.send(tx, user_id, Outgoing(
            t(lang, "The reporter of alert #{id} says they are safe. It stays open until a "
                    "person confirms: check with them first if you can (it may have been "
                    "forced).", id=alert.id),
            buttons=((Button(t(lang, "Confirm: close #{id}", id=alert.id),
                             f"out:{alert.id}:safe"),),)),
            now, kind="case", priority=PRIORITY_ALERT, alert_id=alert.id)

    # --- the PINs' effects ------------------------------------------------------------------

    async def cancel(self, tx: Tx, alert: Alert, reporter: Person) -> None:
        """The real PIN: the alert closes as "cancelled by reporter" and its holder is told."""
        now = self.svc.now()
        await self.casework._close(tx, alert, CANCELLED, reporter.user_id, tell_reporter=False)
        holder = alert.claimed_by if alert.claimed_by is not None else alert.acknowledged_by
        if holder is not None:
            await notify.tell(tx, holder, N_("Alert #{id} was cancelled by the reporter with "
                              "their PIN. The case is closed."), now, alert.id,
                              priority=PRIORITY_ALERT, id=alert.id)
        await self.said_cancelled(tx, reporter)

    async def duress(self, tx: Tx, alert: Alert, reporter: Person, answer: bool = True) -> None:
        """The duress PIN: the reporter's chat shows the same "Cancelled." as a real cancel,
        while the alert stays open, says DURESS on every card, and the next wave (everyone on
        call and every coordinator) is paged at once; the holder is told too. ``answer``
        False: the caller answers as it would for the real PIN (a change of PINs)."""
        now = self.svc.now()
        if not alert.concealed:
            in_window = await tx.timer(UNDO, alert.id) is not None
            await tx.update_alert(alert.id, duress_at=now, concealed=1, wave=alert.wave + 1)
            await tx.clear_timer(UNDO, alert.id)
            await tx.clear_timer("safe_close", alert.id)
            fresh = await tx.alert(alert.id) or alert
            skip = await not_to_page(tx, fresh)
            recipients = escalation_wave(await tx.staff(), now, skip)
            await tx.add_event(alert.id, now, "duress", reporter.user_id, wave=fresh.wave,
                               paged=len(recipients))
            await notify.refresh_alert_messages(tx, alert.id, now)
            if in_window:  # its group notices were waiting for the window's end
                await notify.post_group_notices(tx, fresh, now, reporter=reporter)
            await notify.page(tx, fresh, recipients, now, fresh.wave,
                              await notify.known_facts(tx, alert.id), reporter=reporter)
            holder = alert.claimed_by if alert.claimed_by is not None else alert.acknowledged_by
            if holder is not None:
                await notify.tell(tx, holder, N_("‼️ DURESS on alert #{id}: the reporter entered "
                                  "their duress PIN, so someone may be forcing them. Their "
                                  "chat shows a normal cancel and the bot sends it nothing more "
                                  "about this alert; do not write to them in a way that gives "
                                  "it away. Everyone on call has been paged again."), now,
                                  alert.id, priority=PRIORITY_ALERT, id=alert.id)
            if fresh.state == "open":
                await tx.set_timer("escalate", alert.id, now + self.svc.policy.ack_timeout)
        if answer:
            await self.said_cancelled(tx, reporter)


def locked_text(lang: str, remaining: float) -> str:
    return t(lang, "Too many wrong tries. Cancelling is locked for {wait}.",
             wait=notify.duration(lang, max(60.0, remaining)))
