"""A case from the lawyers' side: acknowledge, claim, assign, notes, "I'm safe", close,
and the escalation step the timer loop runs. Each public method is one domain step and
returns the short answer for the person who pressed or typed (None: nothing to say)."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable

from bot.domain import discreet, notify
from bot.domain.escalation import Action, decide
from bot.domain.messages import (
    DELETE,
    PRIORITY_ALERT,
    PRIORITY_CASE,
    PRIORITY_LOW,
    PRIORITY_REPLY,
    Button,
    Outgoing,
)
from bot.domain.reporting import MAX_NOTE, clean_text
from bot.domain.routing import escalation_wave
from bot.domain.services import Services
from bot.domain.team import NO_LONGER_AVAILABLE, cancel_sms_pages
from bot.i18n import N_, lang_of, t, tn
from storage import Alert, OutboxRow, Person, Tx


def held_counts(alerts: list[Alert]) -> dict[int, int]:
    """How many open cases each lawyer holds (their load)."""
    load: dict[int, int] = {}
    for a in alerts:
        if a.claimed_by is not None and a.is_open:
            load[a.claimed_by] = load.get(a.claimed_by, 0) + 1
    return load


OUTCOMES = (N_("released"), N_("fined"), N_("administrative arrest"), N_("criminal charge"),
            N_("other"))
OUTCOME_KEYS = {"rel": N_("released"), "fin": N_("fined"), "adm": N_("administrative arrest"),
                "crim": N_("criminal charge"), "oth": N_("other"), "safe": N_("safe")}
STAFF = ("lawyer", "coordinator")
CONTACT_FACTS = 8  # the newest reporter messages repeated in the holder's contact message
# Why a lawyer cannot take (or hand over) a case: the key travels in the callback data.
DECLINE_REASONS = {"busy": N_("busy with another case"), "far": N_("too far away"),
                   "conf": N_("conflict of interest"), "oth": N_("other reason")}
DELIVERY_NOTICE = "delivery"  # outbox kind of a "could not be delivered" notice
HANDLING = N_("Someone is handling it now. What you send here reaches them.")
DISCREET_CONTACT = (N_("Discreet mode: the reporter's phone may be read by others. What you "
                    "send them arrives as you write it (and is deleted when the case "
                    "closes): keep it plain, without names or case words."))



async def may_act(tx: Tx, person: Person | None, alert: Alert) -> bool:
    """Lawyers act on alerts they were paged for; coordinators on all. Nobody acts on their
    own alert: a person in danger is never their own responder (and whoever holds their
    phone must not be able to claim, acknowledge or close it)."""
    if person is None or not person.registered or person.role not in STAFF:
        return False
    if person.user_id == alert.reporter_id:
        return False
    return person.role == "coordinator" or await tx.was_notified(alert.id, person.user_id)


async def not_to_page(tx: Tx, alert: Alert) -> set[int]:
    """Who must never be paged for ``alert``: its reporter, and the lawyers who said they
    cannot take it (or handed it over)."""
    declined = {e.actor_id for e in await tx.events(alert.id)
                if e.kind in ("declined", "handed_over") and e.actor_id is not None}
    return declined | {alert.reporter_id}


async def kept_from(tx: Tx, person: Person, alert: Alert) -> bool:
    """Whether a lawyer paged for ``alert`` is kept from its details (the exact place, what
    the reporter wrote): once another lawyer holds the case, or once they declined or
    handed it over, the case is no longer theirs to follow. Coordinators see everything."""
    if person.role != "lawyer":
        return False
    if alert.claimed_by not in (None, person.user_id):
        return True
    return person.user_id in await not_to_page(tx, alert)


async def coordinators_except(tx: Tx, *user_ids: int) -> list[Person]:
    """Coordinators to tell about an alert, never its own reporter (nor the one acting)."""
    return [c for c in await tx.people(role="coordinator") if c.user_id not in user_ids]


class CaseWork:
    def __init__(self, svc: Services, on_group_gone: Callable[[int], Awaitable[None]]) -> None:
        self.svc = svc
        self.on_group_gone = on_group_gone  # the team's: disconnect and tell coordinators

    # --- acknowledge and claim ----------------------------------------------------------

    async def acknowledge(self, user_id: int, alert_id: int) -> str:
        async with self.svc.step() as tx:
            return await self.acknowledge_in(tx, user_id, alert_id)

    async def acknowledge_in(self, tx: Tx, user_id: int, alert_id: int) -> str:
        """The acknowledgement inside a step (a button, or ``ACK 12`` by SMS)."""
        now = self.svc.now()
        person = await tx.person(user_id)
        lang = lang_of(person)
        alert = await tx.alert(alert_id)
        if alert is None or not await may_act(tx, person, alert):
            return t(lang, "Sorry, this button is not for you.")
        if not alert.is_open:
            return t(lang, "Alert #{id} is already closed.", id=alert_id)
        if not await tx.acknowledge(alert_id, user_id, now):
            return t(lang, "Alert #{id} was already acknowledged; you can still claim it.",
                     id=alert_id)
        await tx.add_event(alert_id, now, "acknowledged", user_id)
        if person is not None:  # the one acting gets the pin by itself
            await notify.send_pin(tx, person, alert, now)
        await notify.tell(
            tx, alert.reporter_id, N_("A lawyer has seen your alert #{id} and is acting. "
            "Stay calm; you will be told when a lawyer takes your case."), now, alert_id,
            priority=PRIORITY_ALERT, id=alert_id,
            neutral=N_("Someone has seen it and is acting. Stay calm."))
        await tx.set_timer("escalate", alert_id, now + self.svc.policy.claim_timeout)
        await notify.refresh_alert_messages(tx, alert_id, now)
        return t(lang, "Acknowledged alert #{id}. Please claim it if you take the case.",
                 id=alert_id)

    async def claim(self, user_id: int, alert_id: int) -> str:
        async with self.svc.step() as tx:
            return await self.claim_in(tx, user_id, alert_id)

    async def claim_in(self, tx: Tx, user_id: int, alert_id: int) -> str:
        """The claim inside a step (a button, or ``CLAIM 12`` by SMS)."""
        person = await tx.person(user_id)
        lang = lang_of(person)
        alert = await tx.alert(alert_id)
        if alert is None or not await may_act(tx, person, alert) or person is None:
            return t(lang, "Sorry, this button is not for you.")
        if person.role != "lawyer":
            return t(lang, "Only a lawyer can claim a case; use /assign {id}.", id=alert_id)
        return await self._take(tx, alert, person, actor=person)

    async def _take(self, tx: Tx, alert: Alert, lawyer: Person, actor: Person) -> str:
        """The atomic claim (one winner), and everything that follows from winning."""
        now = self.svc.now()
        lang = lang_of(actor)
        if not await tx.claim(alert.id, lawyer.user_id, now):
            current = await tx.alert(alert.id)
            if current is None or not current.is_open:
                return t(lang, "Alert #{id} is already closed.", id=alert.id)
            holder = await tx.person(current.claimed_by or 0)
            await notify.refresh_alert_messages(tx, alert.id, now)
            return t(lang, "Alert #{id} was already taken by {name}.", id=alert.id,
                     name=holder.name if holder else "?")
        await tx.add_event(alert.id, now, "claimed", actor.user_id, lawyer=lawyer.user_id)
        reporter = await tx.person(alert.reporter_id)
        await notify.tell(
            tx, alert.reporter_id, N_("Lawyer {name} has taken your case (alert #{id}). "
            "Everything you send here now goes to them."), now, alert.id,
            priority=PRIORITY_ALERT, name=lawyer.name, id=alert.id, neutral=HANDLING)
        await self._send_contact(tx, alert.id, lawyer, reporter, now)
        await tx.set_timer("escalate", alert.id, now + self.svc.policy.stale)
        await notify.refresh_alert_messages(tx, alert.id, now)
        if actor.user_id != lawyer.user_id:
            await notify.tell(tx, lawyer.user_id, N_("A coordinator assigned alert #{id} to you."),
                              now, alert.id, priority=PRIORITY_ALERT, id=alert.id)
        return t(lang, "Alert #{id} is yours.", id=alert.id)

    async def _send_contact(self, tx: Tx, alert_id: int, lawyer: Person,
                            reporter: Person | None, now: float) -> None:
        """The holder gets the way to reach the reporter and all they added so far."""
        lang = lawyer.language
        name = html.escape(notify.reporter_name(lang, reporter))
        rid = reporter.user_id if reporter else 0
        lines = [html.escape(t(lang, "You hold case #{id}.", id=alert_id)),
                 t(lang, "Reporter: {link}", link=f'<a href="tg://user?id={rid}">{name}</a>')]
        facts = await notify.known_facts(tx, alert_id)
        if facts:
            lines.append(html.escape(t(lang, "What they sent so far:")))
            lines.extend("• " + html.escape(f) for f in facts[-CONTACT_FACTS:])
            if len(facts) > CONTACT_FACTS:
                lines.append(html.escape(t(lang, "Earlier messages: /case {id}", id=alert_id)))
        if discreet.is_discreet(reporter):
            lines.append(html.escape(t(lang, DISCREET_CONTACT)))
        lines.append(html.escape(t(
            lang, "Reply to this message or use /note {id} <text> to update the reporter; "
                  "/close {id} <note> to close.", id=alert_id)))
        out = Outgoing("\n".join(lines), html=True, buttons=(
            (Button(t(lang, "Close the case #{id}", id=alert_id), f"close:{alert_id}"),),
            (Button(t(lang, "Hand over #{id}", id=alert_id), f"decl:{alert_id}"),)))
        await notify.send(tx, lawyer.user_id, out, now, kind="contact", priority=PRIORITY_ALERT,
                          alert_id=alert_id)
        alert = await tx.alert(alert_id)
        # The holder's pin, unless they got it when they acknowledged it earlier and the
        # reporter has not moved since (one pin, not two, for the same place).
        if alert is not None and not (
                alert.acknowledged_by == lawyer.user_id and alert.acknowledged_at is not None
                and alert.acknowledged_at < now
                and (alert.located_at or alert.created_at) <= alert.acknowledged_at):
            await notify.send_pin(tx, lawyer, alert, now)

    async def show_map(self, user_id: int, alert_id: int) -> str:
        """A card's "Show on map": the alert's location pin, to the one who asked only (the
        card carries the position as text; pins for every lawyer paged would fill
        Telegram's overall limit in a mass detention). Checked like every button."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            person = await tx.person(user_id)
            lang = lang_of(person)
            alert = await tx.alert(alert_id)
            if (alert is None or person is None or not await may_act(tx, person, alert)
                    or await kept_from(tx, person, alert)):
                return t(lang, "Sorry, this button is not for you.")
            if not alert.is_open:
                return t(lang, "Alert #{id} is already closed.", id=alert_id)
            if not alert.has_location:
                return t(lang, "Alert #{id} has no location.", id=alert_id)
            if not await tx.pending_for(user_id, alert_id, "pin"):
                await notify.send_pin(tx, person, alert, now, priority=PRIORITY_REPLY)
            return t(lang, "The map of alert #{id} is on its way.", id=alert_id)

    # --- assign -------------------------------------------------------------------------

    async def assign_choices(self, user_id: int, alert_id: int) -> str | None:
        """/assign N: the coordinator gets the lawyers as buttons."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.is_coordinator:
                return t(lang, "Only coordinators can assign cases.")
            alert = await tx.alert(alert_id)
            if alert is None or not alert.is_open:
                return t(lang, "There is no open alert #{id}.", id=alert_id)
            if alert.reporter_id == user_id:
                return t(lang, "Alert #{id} is your own; another coordinator assigns it.",
                         id=alert_id)
            # Never the reporter (a lawyer in danger), nor whoever holds it already.
            skip = {alert.reporter_id, alert.claimed_by}
            # Those who serve the alert's region first, then the least loaded, on call first.
            load = held_counts(await tx.open_alerts())
            lawyers = sorted((p for p in await tx.people(role="lawyer") if p.user_id not in skip),
                             key=lambda p: (alert.region not in p.serves_regions,
                                            load.get(p.user_id, 0), not p.on_call))
            if not lawyers:
                return t(lang, "There are no other lawyers registered yet.")
            rows = tuple((Button(("🟢 " if p.on_call else "") + p.name + (
                " · " + tn(lang, "{n} case", "{n} cases", load[p.user_id])
                if load.get(p.user_id) else ""), f"asg:{alert_id}:{p.user_id}"),)
                for p in lawyers[:30])
            if alert.claimed_by is None:
                title = t(lang, "Assign alert #{id} to:", id=alert_id)
            else:
                holder = await tx.person(alert.claimed_by)
                title = t(lang, "Case #{id} is held by {name}. Move it to:", id=alert_id,
                          name=holder.name if holder else "?")
            await notify.send(tx, user_id, Outgoing(title, buttons=rows), now)
            return None

    @staticmethod
    async def _pick(tx: Tx, user_id: int, alert_id: int, lawyer_id: int
                    ) -> tuple[Person, Alert, Person] | str:
        """A coordinator's choice of a lawyer for an alert, checked (a button can be forged
        or stale): the coordinator, the alert and the lawyer, or the refusal to answer.
        Neither of them may be the alert's own reporter."""
        person = await tx.person(user_id)
        lang = lang_of(person)
        if person is None or not person.is_coordinator:
            return t(lang, "Sorry, this button is not for you.")
        lawyer = await tx.person(lawyer_id)
        alert = await tx.alert(alert_id)
        if (alert is None or lawyer is None or not lawyer.is_lawyer
                or alert.reporter_id in (user_id, lawyer_id)):
            return t(lang, "That lawyer or alert no longer exists.")
        return person, alert, lawyer

    async def assign(self, user_id: int, alert_id: int, lawyer_id: int) -> str | None:
        async with self.svc.step() as tx:
            picked = await self._pick(tx, user_id, alert_id, lawyer_id)
            if isinstance(picked, str):
                return picked
            person, alert, lawyer = picked
            lang = lang_of(person)
            if alert.is_open and alert.claimed_by == lawyer_id:
                return t(lang, "{name} already holds case #{id}.", name=lawyer.name,
                         id=alert_id)
            if alert.is_open and alert.claimed_by is not None:
                holder = await tx.person(alert.claimed_by)
                await notify.send(tx, user_id, Outgoing(
                    t(lang, "Move case #{id} from {old} to {new}? {old} will no longer "
                      "receive the reporter's messages.", id=alert_id,
                      old=holder.name if holder else "?", new=lawyer.name),
                    buttons=((Button(t(lang, "Yes, move #{id}", id=alert_id),
                                     f"mv:{alert_id}:{lawyer_id}:{alert.claimed_by}"),),)),
                    self.svc.now())
                return None
            answer = await self._take(tx, alert, lawyer, actor=person)
            current = await tx.alert(alert_id)
            if current is not None and current.claimed_by == lawyer_id:
                await tx.add_recipients(alert_id, [lawyer_id], alert.wave, self.svc.now())
            return answer

    async def move(self, user_id: int, alert_id: int, lawyer_id: int, holder_id: int) -> str:
        """The coordinator confirmed: the held case goes from ``holder_id`` to ``lawyer_id``.
        The holder in the button must still hold it, so a stale confirmation moves nothing."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            picked = await self._pick(tx, user_id, alert_id, lawyer_id)
            if isinstance(picked, str):
                return picked
            person, alert, lawyer = picked
            lang = lang_of(person)
            if lawyer_id == holder_id:
                return t(lang, "That lawyer or alert no longer exists.")
            if not await tx.reassign(alert_id, holder_id, lawyer_id, now):
                return t(lang, "Case #{id} changed meanwhile; nothing was moved.", id=alert_id)
            await tx.add_event(alert_id, now, "reassigned", user_id, lawyer=lawyer_id,
                               previous=holder_id)
            await tx.add_recipients(alert_id, [lawyer_id], alert.wave, now)
            await notify.tell(tx, holder_id, N_("A coordinator moved case #{id} to {name}. You "
                              "no longer receive the reporter's messages."), now, alert_id,
                              priority=PRIORITY_ALERT, id=alert_id, name=lawyer.name)
            await notify.tell(tx, lawyer_id, N_("A coordinator assigned alert #{id} to you."),
                              now, alert_id, priority=PRIORITY_ALERT, id=alert_id)
            await self._send_contact(tx, alert_id, lawyer, await tx.person(alert.reporter_id),
                                     now)
            await notify.tell(
                tx, alert.reporter_id, N_("Lawyer {name} has taken your case (alert #{id}). "
                "Everything you send here now goes to them."), now, alert_id,
                priority=PRIORITY_ALERT, name=lawyer.name, id=alert_id, neutral=HANDLING)
            await tx.set_timer("escalate", alert_id, now + self.svc.policy.stale)
            await notify.refresh_alert_messages(tx, alert_id, now)
            return t(lang, "Case #{id} moved to {name}.", id=alert_id, name=lawyer.name)

    # --- "Can't take it" and "Hand over" --------------------------------------------------

    async def decline_choices(self, user_id: int, alert_id: int,
                              typed: bool = False) -> str | None:
        """The "Can't take it" / "Hand over" button, or ``/decline N`` (``typed``: a bundle
        of many alerts shows no such button): ask why, as buttons."""
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            alert = await tx.alert(alert_id)
            if alert is None or person is None or person.role != "lawyer" \
                    or not await may_act(tx, person, alert):
                return (t(lang, "No alert #{id} that you can see.", id=alert_id) if typed
                        else t(lang, "Sorry, this button is not for you."))
            refusal = self._decline_refusal(lang, alert, user_id)
            if refusal is not None:
                return refusal
            rows = tuple((Button(t(lang, text), f"decl:{alert_id}:{key}"),)
                         for key, text in DECLINE_REASONS.items())
            await notify.send(tx, user_id, Outgoing(
                t(lang, "Why can't you take alert #{id}? Others are paged at once.",
                  id=alert_id), buttons=rows), self.svc.now())
            return None

    @staticmethod
    def _decline_refusal(lang: str, alert: Alert, user_id: int) -> str | None:
        if not alert.is_open:
            return t(lang, "Alert #{id} is already closed.", id=alert.id)
        if alert.claimed_by not in (None, user_id):
            return t(lang, "Alert #{id} is already held by another lawyer.", id=alert.id)
        return None

    async def decline(self, user_id: int, alert_id: int, reason_key: str) -> str:
        """A paged lawyer cannot take the alert, or its holder hands it over: whatever they
        held goes back to open, the reason joins the timeline, coordinators are told, the
        next wave is paged now (not after the timeout), and they are not paged for it again."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            person = await tx.person(user_id)
            lang = lang_of(person)
            alert = await tx.alert(alert_id)
            reason = DECLINE_REASONS.get(reason_key)
            if (alert is None or person is None or person.role != "lawyer" or reason is None
                    or not await may_act(tx, person, alert)):
                return t(lang, "Sorry, this button is not for you.")
            refusal = self._decline_refusal(lang, alert, user_id)
            if refusal is not None:
                return refusal
            if user_id in await not_to_page(tx, alert):
                return t(lang, "You already said you cannot take alert #{id}.", id=alert_id)
            holding = alert.claimed_by == user_id
            if holding or alert.acknowledged_by == user_id:
                await tx.update_alert(alert_id, state="open", claimed_by=None, claimed_at=None,
                                      acknowledged_by=None, acknowledged_at=None)
            await tx.add_event(alert_id, now, "handed_over" if holding else "declined",
                               user_id, reason=reason_key)
            await cancel_sms_pages(tx, user_id, alert_id)
            if holding:
                await notify.tell(tx, alert.reporter_id, N_("Your alert #{id} is being passed to "
                                  "another lawyer. We are alerting them now."), now, alert_id,
                                  priority=PRIORITY_ALERT, id=alert_id, neutral=discreet.PASSED_ON)
            await notify.refresh_alert_messages(tx, alert_id, now)  # before the new cards
            fresh = await tx.alert(alert_id)
            paging = fresh is not None and fresh.state == "open"
            if fresh is not None and paging:
                await self._escalate(tx, fresh, now)
            for c in await coordinators_except(tx, alert.reporter_id, user_id):
                cl = c.language
                text = t(cl, "{name} cannot take alert #{id} ({reason}).", name=person.name,
                         id=alert_id, reason=t(cl, reason))
                if paging:
                    text += " " + t(cl, "Others are being paged now; /assign {id} to choose "
                                        "someone.", id=alert_id)
                await notify.send(tx, c.user_id, Outgoing(text), now, kind="case",
                                  priority=PRIORITY_ALERT, alert_id=alert_id)
            if paging:
                return t(lang, "Noted: you cannot take alert #{id}. Others are being paged "
                               "now.", id=alert_id)
            return t(lang, "Noted: you cannot take alert #{id}; another lawyer is on it.",
                     id=alert_id)

    # --- updates and closing ------------------------------------------------------------

    async def note(self, user_id: int, alert_id: int, text: str) -> str:
        async with self.svc.step() as tx:
            now = self.svc.now()
            person = await tx.person(user_id)
            lang = lang_of(person)
            alert = await tx.alert(alert_id)
            if (alert is None or person is None or person.role != "lawyer"
                    or alert.claimed_by != user_id):
                return t(lang, "You can add notes only to a case you hold.")
            note = clean_text(text, MAX_NOTE)
            if note is None:
                return t(lang, "Please write the note after the number: /note {id} text.",
                         id=alert_id)
            await tx.add_event(alert_id, now, "lawyer_note", user_id, text=note)
            await tx.update_alert(alert_id, last_update_at=now)
            if not alert.is_open:  # kept for the record; a closed (or cancelled) case's
                return t(lang, "Note added to closed case #{id}; the reporter is not told.",
                         id=alert_id)  # reporter's chat may have been cleared already
            await tx.set_timer("escalate", alert_id, now + self.svc.policy.stale)
            if alert.concealed:
                return t(lang, "Note added to case #{id}; not sent to the reporter: after "
                               "their duress PIN their chat must show nothing of it.",
                         id=alert_id)
            await notify.tell(tx, alert.reporter_id, N_("Update from your lawyer {name}:\n{text}"),
                              now, alert_id, name=person.name, text=notify.quote_lines(note),
                              neutral=N_("Update:\n{text}"))
            return t(lang, "Note added to case #{id} and sent to the reporter.", id=alert_id)

    async def close_choices(self, user_id: int, alert_id: int, note: str | None) -> str | None:
        """/close N [note] or the Close button: the outcome buttons."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            person = await tx.person(user_id)
            lang = lang_of(person)
            alert = await tx.alert(alert_id)
            if alert is None or not self._may_close(person, alert):
                return t(lang, "You can close only a case you hold.")
            if not alert.is_open:
                return t(lang, "Alert #{id} is already closed.", id=alert_id)
            clean = clean_text(note, MAX_NOTE) if note else None
            if clean:
                await tx.add_event(alert_id, now, "closing_note", user_id, text=clean)
            keys = [k for k in OUTCOME_KEYS if k != "safe"]
            rows = tuple((Button(t(lang, OUTCOME_KEYS[k]), f"out:{alert_id}:{k}"),) for k in keys)
            await notify.send(tx, user_id, Outgoing(
                t(lang, "How did case #{id} end?", id=alert_id), buttons=rows), now)
            return None

    @staticmethod
    def _may_close(person: Person | None, alert: Alert, outcome: str | None = None) -> bool:
        """Closing belongs to holding: the lawyer who holds the claim, or a coordinator;
        never the reporter themself. "safe" only once the reporter said so, unless a
        coordinator decides it; then the lawyer who acknowledged an unclaimed alert may
        confirm it too (they were asked to)."""
        if person is None or not person.registered or person.user_id == alert.reporter_id:
            return False
        if person.role == "coordinator":
            return True
        if person.role != "lawyer":
            return False
        if outcome == "safe":
            return alert.safe_at is not None and person.user_id == (
                alert.claimed_by if alert.claimed_by is not None else alert.acknowledged_by)
        return alert.claimed_by == person.user_id

    async def close(self, user_id: int, alert_id: int, outcome_key: str) -> str:
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            alert = await tx.alert(alert_id)
            outcome = OUTCOME_KEYS.get(outcome_key)
            if alert is None or outcome is None or not self._may_close(person, alert, outcome):
                return t(lang, "Sorry, this button is not for you.")
            if not alert.is_open:
                return t(lang, "Alert #{id} is already closed.", id=alert_id)
            await self._close(tx, alert, outcome, user_id)
            return t(lang, "Case #{id} closed: {outcome}.", id=alert_id, outcome=t(lang, outcome))

    async def _close(self, tx: Tx, alert: Alert, outcome: str, actor: int | None,
                     tell_reporter: bool = True) -> None:
        now = self.svc.now()
        notes = [e for e in await tx.events(alert.id) if e.kind == "closing_note"]
        note = str(notes[-1].detail.get("text", "")) if notes else ""
        await tx.update_alert(alert.id, state="closed", closed_at=now, outcome=outcome)
        await tx.add_event(alert.id, now, "closed", actor, outcome=outcome, note=note)
        await tx.clear_timer("escalate", alert.id)
        await tx.clear_timer("safe_close", alert.id)
        await tx.clear_timer("undo", alert.id)
        await tx.forget_live_share(alert.reporter_id)  # no longer needed: its pins stop
        if tell_reporter:  # else the caller answers the reporter itself
            await self._tell_closed(tx, alert, outcome, note, now)
        await self._retire_case_messages(tx, alert, now)
        await notify.refresh_alert_messages(tx, alert.id, now)

    @staticmethod
    async def _tell_closed(tx: Tx, alert: Alert, outcome: str, note: str, now: float) -> None:
        reporter = await tx.person(alert.reporter_id)
        rl = lang_of(reporter)
        text = t(rl, "Your alert #{id} is closed ({outcome}).", id=alert.id,
                 outcome=t(rl, outcome))
        if note:
            text += "\n" + t(rl, "Lawyer's note:\n{note}", note=notify.quote_lines(note))
        if discreet.is_discreet(reporter):  # the outcome and the note stay with the lawyer
            await discreet.clear_chat(tx, alert.reporter_id, now)
            text = t(rl, "All done here.")
        await notify.send(tx, alert.reporter_id, Outgoing(
            text + "\n" + t(rl, "Take care. If you need help again, tap the button."),
            keyboard=notify.keyboard(rl, reporter, alert_open=False)), now,
            priority=PRIORITY_CASE, alert_id=alert.id)

    @staticmethod
    async def _retire_case_messages(tx: Tx, alert: Alert, now: float) -> None:
        """A closed case leaves less behind on phones that may be seized: each lawyer's
        contact message (the link to the reporter) is deleted, and each group notice is
        edited once to a closing line without the place, then never touched again."""
        empty = Outgoing().to_json()
        for row in await tx.retire_rows("contact", alert_id=alert.id):
            if row.state == "sent":
                await tx.enqueue(row.chat_id, DELETE, PRIORITY_CASE, empty, now,
                                 alert_id=alert.id, target_id=row.id)
            else:  # not delivered yet, perhaps in flight: it arrives (or is edited) neutral
                lang = lang_of(await tx.person(row.chat_id))
                await notify.edit(tx, row.id, Outgoing(t(lang, NO_LONGER_AVAILABLE)), now)
        await notify.close_group_notices(tx, await tx.retire_rows("group", alert_id=alert.id),
                                         now)

    # --- timers ---------------------------------------------------------------------------

    async def on_timer(self, kind: str, subject_id: int) -> None:
        """One due timer row, in one transaction with everything it causes."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            if not await tx.is_due(kind, subject_id, now, take=False):
                return  # handled meanwhile
            alert = await tx.alert(subject_id)
            if alert is None or not alert.is_open:
                await tx.clear_timer(kind, subject_id)
                return
            if kind == "safe_close":
                await tx.clear_timer(kind, subject_id)
                if alert.acknowledged_by is not None:  # a lawyer is in the loop
                    await self._close(tx, alert, "safe", None)
                return
            await self._escalate(tx, alert, now)

    async def _escalate(self, tx: Tx, alert: Alert, now: float) -> None:
        decision = decide(alert, now, self.svc.policy)
        if decision.action is Action.WAVE:
            wave = alert.wave + 1
            await tx.update_alert(alert.id, wave=wave)
            alert = await tx.alert(alert.id) or alert
            recipients = escalation_wave(await tx.staff(), now, await not_to_page(tx, alert))
            await tx.add_event(alert.id, now, "wave", None, wave=wave, paged=len(recipients))
            await notify.page(tx, alert, recipients, now, wave,
                              await notify.known_facts(tx, alert.id))
            if wave == 2:
                await notify.tell(
                    tx, alert.reporter_id, N_("We are still looking for a lawyer for alert #{id} "
                    "and have now alerted everyone on call."), now, alert.id, id=alert.id,
                    neutral=N_("Still working on it: more people have been asked to help."))
        elif decision.action is Action.ASK_ASSIGN:
            holder = await tx.person(alert.acknowledged_by or 0)
            for c in await coordinators_except(tx, alert.reporter_id):
                await notify.send(tx, c.user_id, Outgoing(
                    t(c.language, "Alert #{id} was acknowledged by {name} but nobody has "
                      "claimed it. Please assign it.", id=alert.id,
                      name=holder.name if holder else "?"),
                    buttons=((Button(t(c.language, "Assign #{id}", id=alert.id),
                                     f"assign:{alert.id}"),),)),
                    now, kind="case", priority=PRIORITY_ALERT, alert_id=alert.id)
            await tx.add_event(alert.id, now, "assign_requested", None)
        elif decision.action is Action.REMIND_STALE and alert.claimed_by is not None:
            await notify.tell(
                tx, alert.claimed_by, N_("Case #{id} has had no update for a while. Add one with "
                "/note {id} <text> or close it with /close {id}."), now, alert.id,
                priority=PRIORITY_LOW, id=alert.id)
            await tx.add_event(alert.id, now, "stale_reminder", None)
        if decision.next_due is None:
            await tx.clear_timer("escalate", alert.id)
        else:
            await tx.set_timer("escalate", alert.id, decision.next_due)

    # --- delivery failures ------------------------------------------------------------------

    async def undeliverable(self, row: OutboxRow, reason: str) -> None:
        """A person cannot be reached: record it, tell coordinators, and page others so no
        alert depends on one unreachable chat."""
        if row.chat_id < 0:
            await self.on_group_gone(row.chat_id)
            return
        async with self.svc.step() as tx:
            now = self.svc.now()
            person = await tx.person(row.chat_id)
            if person is not None and person.on_call:
                await tx.update_person(row.chat_id, now, on_call=0)
            if row.alert_id is None:
                return
            alert = await tx.alert(row.alert_id)
            if alert is None:
                return
            await tx.add_event(alert.id, now, "undeliverable", None, recipient=row.chat_id,
                               reason=reason.split(":")[0])
            name = person.name if person else str(row.chat_id)
            for c in await coordinators_except(tx, alert.reporter_id, row.chat_id):
                await notify.send(tx, c.user_id, Outgoing(t(
                    c.language, "{name} cannot be reached by the bot (blocked or gone); alert "
                    "#{id} was routed to others.", name=name, id=alert.id)), now, kind="case",
                    priority=PRIORITY_ALERT, alert_id=alert.id)
            if row.kind == "alert" and alert.is_open and alert.claimed_by is None:
                already = set(await tx.recipients(alert.id)) | {row.chat_id}
                others = escalation_wave(await tx.staff(), now,
                                         already | await not_to_page(tx, alert))
                if others:
                    await notify.page(tx, alert, others, now, alert.wave,
                                      await notify.known_facts(tx, alert.id))

    async def delivery_failed(self, row: OutboxRow, reason: str) -> None:
        """A message about an alert can never be delivered (Telegram refused it, or it kept
        failing for a day): record it on the alert's timeline and tell coordinators, so
        nobody counts on a message that never arrived. Coordinators hear it once per alert
        and recipient (a deleted card refuses every later edit), and a failed notice about
        a failure is recorded but not announced again."""
        if row.alert_id is None:
            return
        async with self.svc.step() as tx:
            now = self.svc.now()
            alert = await tx.alert(row.alert_id)
            if alert is None:
                return
            told = any(e.kind == "delivery_failed" and e.detail.get("recipient") == row.chat_id
                       for e in await tx.events(alert.id))
            await tx.add_event(alert.id, now, "delivery_failed", None, recipient=row.chat_id,
                               message=row.kind, reason=reason[:200])
            if told or row.kind == DELIVERY_NOTICE:
                return
            person = await tx.person(row.chat_id) if row.chat_id > 0 else None
            for c in await tx.people(role="coordinator"):
                if c.user_id == row.chat_id:
                    continue
                who = person.name if person else t(c.language, "a press-freedom group")
                await notify.send(tx, c.user_id, Outgoing(t(
                    c.language, "A message about alert #{id} could not be delivered to {name}. "
                    "Please check with them directly.",
                    id=alert.id, name=who)), now, kind=DELIVERY_NOTICE,
                    priority=PRIORITY_ALERT, alert_id=alert.id)
