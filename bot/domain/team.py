"""The people who answer: invites, lawyer registration, roles, on call, connected groups."""

from __future__ import annotations

import hashlib
import secrets

from bot.domain import discreet, menus, notify
from bot.domain.languages import GROUP_DATA, language_buttons
from bot.domain.messages import (
    DELETE,
    PRIORITY_ALERT,
    PRIORITY_CASE,
    PRIORITY_REPLY,
    Button,
    KeyButton,
    Outgoing,
)
from bot.domain.regions import BY_KEY, REGIONS, region_name
from bot.domain.reporting import MAX_NAME, clean_name
from bot.domain.services import Services
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGE_NAMES, LANGUAGES, N_, lang_of, t, tn
from storage import Person, Tx

INVITE_ROLES = ("lawyer", "coordinator")
ROLE_WORDS = {"reporter": N_("reporter"), "lawyer": N_("lawyer"),
              "coordinator": N_("coordinator")}
MIN_ON_CALL = 60.0  # "/oncall 0.0000001h" must not mean "on call for ever"
MAX_ON_CALL = 7 * 86400.0
NO_LONGER_AVAILABLE = N_("This message is no longer available.")


def hash_code(code: str) -> str:
    """Invite codes are stored only as this hash: a stolen database grants no role."""
    return hashlib.sha256(code.encode()).hexdigest()


async def staff_keyboard(tx: Tx, lang: str, person: Person
                         ) -> tuple[tuple[KeyButton, ...], ...]:
    return notify.keyboard(lang, person,
                           notify.hidden(await tx.open_alert_of(person.user_id)) is not None)


async def cancel_sms_pages(tx: Tx, user_id: int, alert_id: int | None = None) -> None:
    """SMS pages and answers for ``user_id`` (about ``alert_id``, or any) that the modem has
    not sent yet never go out: who declined an alert or left the team gets none. The SMS
    gateway takes back a file it already wrote."""
    for sms in await tx.sms_rows("pending") + await tx.sms_rows("queued"):
        if sms.user_id == user_id and sms.kind in ("page", "answer") \
                and alert_id in (None, sms.alert_id):
            await tx.set_sms_state(sms.id, "cancelled")


async def cut_off(tx: Tx, person_id: int, now: float) -> None:
    """Someone leaves the team (revoked, often because their phone was seized): what is
    still queued for them is never sent (nor an SMS page or answer), and every message
    they have about an alert is withdrawn once and never touched again: a text (card,
    contact, the reporter's words) is edited to a neutral text without buttons; what cannot
    become that text (a pin, a copied photo or video message) is deleted, or where Telegram
    no longer allows that (after 48 hours) a copy's caption is made neutral."""
    await tx.cancel_pending_to(person_id, "cut off")
    await cancel_sms_pages(tx, person_id)
    neutral = Outgoing(t(lang_of(await tx.person(person_id)), NO_LONGER_AVAILABLE)).to_json()
    for row in await tx.withdraw_case_messages(person_id):
        shown = Outgoing.from_json(row.payload)
        kind = DELETE if shown.copy_of is not None or shown.location is not None else "edit"
        await tx.enqueue(person_id, kind, PRIORITY_CASE, neutral, now, alert_id=row.alert_id,
                         target_id=row.id)


class Team:
    def __init__(self, svc: Services) -> None:
        self.svc = svc

    async def _reply(self, tx: Tx, user_id: int, out: Outgoing) -> None:
        await notify.send(tx, user_id, out, self.svc.now(), priority=PRIORITY_REPLY)

    # --- invites --------------------------------------------------------------------------

    async def invite(self, user_id: int, role: str) -> str:
        """/invite lawyer|coordinator: a single-use deep link with 128+ random bits."""
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.is_coordinator:
                return t(lang, "Only coordinators can invite.")
            if role not in INVITE_ROLES:
                return t(lang, "Use /invite lawyer or /invite coordinator.")
            code = secrets.token_urlsafe(24)  # 192 bits; deep-link payloads allow [A-Za-z0-9_-]
            now = self.svc.now()
            ttl = self.svc.settings.invite_ttl_hours * 3600
            await tx.add_invite(hash_code(code), role, user_id, now, now + ttl)
            await tx.add_audit(now, "invited", user_id, None, role, invite=hash_code(code)[:8])
            link = f"https://t.me/{self.svc.bot_username}?start={code}"
            hours = round(ttl / 3600)
            if role == "lawyer":
                return tn(lang, "Invite for a lawyer, single use, valid {n} hour:\n{link}",
                          "Invite for a lawyer, single use, valid {n} hours:\n{link}", hours,
                          link=link)
            return tn(lang, "Invite for a coordinator, single use, valid {n} hour:\n{link}",
                      "Invite for a coordinator, single use, valid {n} hours:\n{link}", hours,
                      link=link)

    async def redeem(self, user_id: int, code: str, language: str) -> None:
        """/start <code>: a valid code grants its role and starts that role's registration."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            person = await tx.ensure_person(user_id, now, language,
                                            self.svc.first_role(user_id))
            lang = person.language
            code_hash = hash_code(code)
            role = await tx.invite_role(code_hash, now) if len(code) <= 64 else None
            if role is None:
                await self._reply(tx, user_id, Outgoing(t(
                    lang, "This invite link is wrong, used or expired. Ask a coordinator for a "
                    "new one. Send /start to register as a reporter.")))
                return
            refusal = await self._redeem_refusal(tx, person)
            if refusal is not None:  # the link is not spent: it stays good for someone else
                await self._reply(tx, user_id, Outgoing(refusal))
                return
            await tx.use_invite(code_hash, user_id, now)
            await tx.add_audit(now, "joined", user_id, user_id, role, invite=code_hash[:8])
            new_role = "coordinator" if person.role == "coordinator" else role
            if new_role == "lawyer":
                await tx.update_person(user_id, now, role="lawyer", step="l_name", discreet=0)
                await self._reply(tx, user_id, Outgoing(t(
                    lang, "Welcome. You are invited as a lawyer. What name should reporters "
                    "and coordinators see? Send it as a message."),
                    buttons=language_buttons()))
            else:
                step = person.step if person.registered else "c_name"
                await tx.update_person(user_id, now, role="coordinator", step=step, discreet=0)
                await self._reply(tx, user_id, Outgoing(t(
                    lang, "Welcome. You are now a coordinator. What name should others see? "
                    "Send it as a message."), buttons=language_buttons()) if step == "c_name"
                    else Outgoing(t(lang, "You are now a coordinator.")))
            fresh = await tx.person(user_id)
            assert fresh is not None
            await menus.refresh(tx, fresh, now)  # the command menu of the new role

    @staticmethod
    async def _redeem_refusal(tx: Tx, person: Person) -> str | None:
        """An invite never disturbs someone mid-way: a registered lawyer or coordinator keeps
        their registration and on-call state (a role changes by /revoke and a new invite),
        and a person with an open alert stays where their texts reach their lawyer."""
        lang = person.language
        if person.registered and person.role in INVITE_ROLES:
            if person.role == "lawyer":
                return t(lang, "You are already registered as a lawyer; this invite changes "
                               "nothing. To change a role, a coordinator revokes it first.")
            return t(lang, "You are already registered as a coordinator; this invite changes "
                           "nothing. To change a role, a coordinator revokes it first.")
        alert = notify.hidden(await tx.open_alert_of(person.user_id))
        if alert is not None:
            return discreet.pick(
                person, t(lang, "Your alert #{id} is open; this invite can wait. Everything "
                                "you send here still goes to your lawyer. Open the link again "
                                "after the alert is closed.", id=alert.id),
                t(lang, "Your request is still open; this link can wait. Open it again when "
                        "it is over."))
        return None

    # --- staff registration steps ---------------------------------------------------------

    async def on_text(self, person: Person, text: str) -> bool:
        """A message during a staff registration step; False if it is not one."""
        if person.step not in ("l_name", "c_name", "admin_name"):
            return False
        async with self.svc.step() as tx:
            lang = person.language
            name = clean_name(text)
            if name is None or name.startswith("/"):
                await self._reply(tx, person.user_id, Outgoing(t(
                    lang, "Please send a name of 1 to {n} letters.", n=MAX_NAME)))
                return True
            now = self.svc.now()
            if person.step == "l_name":
                await tx.update_person(person.user_id, now, display_name=name, step="l_regions")
                fresh = await tx.person(person.user_id)
                assert fresh is not None
                await self._reply(tx, person.user_id, regions_picker(fresh))
            else:
                await tx.update_person(person.user_id, now, display_name=name, step="done")
                fresh = await tx.person(person.user_id)
                assert fresh is not None
                await self._reply(tx, person.user_id, Outgoing(t(
                    lang, "Registered as coordinator {name}. Start with /invite lawyer; "
                    "/open shows open alerts; /help lists every command.", name=name),
                    keyboard=await staff_keyboard(tx, lang, fresh)))
                await tell_unreached(tx, now)
            return True

    async def toggle_region(self, user_id: int, key: str) -> str | None:
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            if person is None or person.role != "lawyer" or person.step not in (
                    "l_regions", "done"):
                return t(lang_of(person), "Sorry, this button is not for you.")
            if key == "done":
                if not person.serves_regions:
                    return t(person.language, "Choose at least one region.")
                if person.step == "l_regions":
                    await tx.update_person(user_id, self.svc.now(), step="l_langs")
                    await self._reply(tx, user_id, languages_picker(person))
                return None
            if key not in BY_KEY:
                return t(person.language, "Sorry, this button is not for you.")
            served = set(person.serves_regions) ^ {key}
            await tx.update_person(user_id, self.svc.now(),
                                   serves_regions=tuple(sorted(served)))
            names = ", ".join(t(person.language, BY_KEY[k].name) for k in sorted(served))
            return t(person.language, "Selected: {list}", list=names or "—")

    async def toggle_language(self, user_id: int, code: str) -> str | None:
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            if person is None or person.role != "lawyer" or person.step != "l_langs":
                return t(lang_of(person), "Sorry, this button is not for you.")
            if code == "done":
                if not person.speaks:
                    return t(person.language, "Choose at least one language.")
                await tx.update_person(user_id, self.svc.now(), step="done")
                fresh = await tx.person(user_id)
                assert fresh is not None
                await self._reply(tx, user_id, Outgoing(t(
                    person.language, "Registered as lawyer {name}. Go on call to receive alerts "
                    "for your regions: /oncall (or /oncall 18:00 until a time), /offcall.",
                    name=person.name), keyboard=await staff_keyboard(tx, person.language, fresh)))
                return None
            if code not in LANGUAGES:
                return t(person.language, "Sorry, this button is not for you.")
            chosen = sorted(set(person.speaks) ^ {code})
            await tx.update_person(user_id, self.svc.now(), speaks=tuple(chosen))
            names = ", ".join(LANGUAGE_NAMES[c] for c in chosen)
            return t(person.language, "Selected: {list}", list=names or "—")

    # --- on call --------------------------------------------------------------------------

    async def set_on_call(self, user_id: int, on: bool, until: float | None = None) -> None:
        async with self.svc.step() as tx:
            now = self.svc.now()
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.is_lawyer:
                await self._reply(tx, user_id, Outgoing(t(
                    lang, "Only registered lawyers can go on call.")))
                return
            if on and until is not None and not now + MIN_ON_CALL <= until <= now + MAX_ON_CALL:
                await self._reply(tx, user_id, Outgoing(t(
                    lang, "An on-call time must be between 1 minute and 7 days from now; "
                          "nothing changed. Use /oncall, /oncall 18:30 or /oncall 4h.")))
                return
            await tx.update_person(user_id, now, on_call=int(on),
                                   on_call_until=until if on else None)
            await self.svc.touched(tx)  # the live board lists who is on call
            if on and until is not None:
                await tx.set_timer("oncall_until", user_id, until)
            else:
                await tx.clear_timer("oncall_until", user_id)
            fresh = await tx.person(user_id)
            assert fresh is not None
            if on:
                text = (t(lang, "You are on call until {time}.", time=notify.clock_time(until))
                        if until else t(lang, "You are on call. Alerts of your regions reach "
                                              "you at once."))
            else:
                text = t(lang, "You are off call.")
            await self._reply(tx, user_id, Outgoing(
                text, keyboard=await staff_keyboard(tx, lang, fresh)))

    async def on_call_ended(self, user_id: int) -> None:
        """The "until" time passed: off call, and told so."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            if not await tx.is_due("oncall_until", user_id, now):
                return  # extended meanwhile
            person = await tx.person(user_id)
            if person is None or not person.on_call:
                return
            await tx.update_person(user_id, now, on_call=0, on_call_until=None)
            await self.svc.touched(tx)
            fresh = await tx.person(user_id)
            assert fresh is not None
            await self._reply(tx, user_id, Outgoing(t(
                person.language, "Your on-call time has ended; you are off call now."),
                keyboard=await staff_keyboard(tx, person.language, fresh)))

    # --- people and roles -----------------------------------------------------------------

    async def list_people(self, user_id: int, role: str | None) -> str:
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.is_coordinator:
                return t(lang, "Only coordinators can list people.")
            if role is not None and role not in ("reporter", "lawyer", "coordinator"):
                return t(lang, "Use /people, /people lawyer, /people coordinator or "
                               "/people reporter.")
            people = await tx.people(role=role)
            if not people:
                return t(lang, "Nobody yet.")
            lines = []
            for p in people[:100]:
                extra = ""
                if p.role == "lawyer":
                    extra = " · " + (t(lang, "on call") if p.on_call else t(lang, "off call"))
                    extra += " · " + ", ".join(t(lang, region_name(k))
                                               for k in p.serves_regions)
                # A reporter's Telegram id would identify them on a seized staff phone;
                # staff ids stay (/revoke takes one).
                who = p.name if p.role == "reporter" else f"{p.user_id} · {p.name}"
                lines.append(f"{who} · {t(lang, ROLE_WORDS.get(p.role, p.role))}{extra}")
            return "\n".join(lines)

    async def audit(self, user_id: int, days: float) -> str:
        """/audit [days]: invites, joins and revocations, newest last, for coordinators."""
        async with self.svc.storage.read() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.is_coordinator:
                return t(lang, "Only coordinators can read the audit trail.")
            entries = await tx.audit_since(self.svc.now() - days * 86400)
            names: dict[int, str] = {}
            for e in entries:
                for pid in (e.actor_id, e.subject_id):
                    if pid is not None and pid not in names:
                        p = await tx.person(pid)
                        names[pid] = f"{p.name if p else '—'} ({pid})"
        if not entries:
            return tn(lang, "Nothing in the audit trail for the last {n} day.",
                      "Nothing in the audit trail for the last {n} days.", round(days))
        words = {"invited": t(lang, "invite created"), "joined": t(lang, "joined"),
                 "revoked": t(lang, "role revoked"), "left": t(lang, "left the team"),
                 "erased": t(lang, "a person's data erased")}
        lines = [tn(lang, "Audit trail, last {n} day:", "Audit trail, last {n} days:",
                    round(days))]
        for e in entries:
            who = names.get(e.actor_id or 0, "—")
            whom = f" → {names[e.subject_id]}" if e.subject_id not in (None, e.actor_id) \
                else ""
            code = f" · {e.detail['invite']}" if "invite" in e.detail else ""
            lines.append(f"{notify.local_stamp(e.at)} · {words.get(e.kind, e.kind)} · "
                         f"{t(lang, ROLE_WORDS.get(e.role or '—', '—'))} · {who}{whom}{code}")
        while len(lines) > 2 and sum(len(x) + 1 for x in lines) > 3900:
            lines.pop(1)  # one message: the newest lines matter most
        return "\n".join(lines)

    async def revoke(self, user_id: int, target_id: int) -> str:
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.is_coordinator:
                return t(lang, "Only coordinators can revoke roles.")
            target = await tx.person(target_id)
            if target is None or target.role == "reporter":
                return t(lang, "No lawyer or coordinator with id {id}.", id=target_id)
            if target_id in self.svc.settings.admin_ids:
                return t(lang, "{id} is an administrator from the settings; change "
                               "QORGAU_ADMIN_IDS instead.", id=target_id)
            released = await self._off_team(tx, target, user_id, "revoked")
            text = t(lang, "{name} is now a reporter only.", name=target.name)
            if released:
                text += " " + t(lang, "Their open alerts are paged again: {list}.",
                                list=", ".join(f"#{i}" for i in released))
            return text

    async def leave_choice(self, user_id: int) -> str | None:
        """/leave: a lawyer or coordinator leaves the team themself, after one confirmation."""
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            refusal = self._leave_refusal(lang, person)
            if refusal is not None:
                return refusal
            await self._reply(tx, user_id, Outgoing(
                t(lang, "Leave the Qorgau team? Cases you hold are passed to others at once, "
                        "and you receive no more alerts."),
                buttons=((Button(t(lang, "Yes, leave the team"), "leave"),),)))
            return None

    async def leave(self, user_id: int) -> str | None:
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            refusal = self._leave_refusal(lang, person)
            if refusal is not None or person is None:
                return refusal
            await self._off_team(tx, person, user_id, "left")
            fresh = await tx.person(user_id)
            assert fresh is not None
            await self._reply(tx, user_id, Outgoing(t(
                lang, "You have left the team. If you are in danger, you can still raise an "
                      "alert here."), keyboard=await staff_keyboard(tx, lang, fresh)))
            return None

    def _leave_refusal(self, lang: str, person: Person | None) -> str | None:
        if person is None or person.role not in INVITE_ROLES:
            return t(lang, "You are not on the team.")
        if person.user_id in self.svc.settings.admin_ids:
            return t(lang, "You are an administrator from the settings; change "
                           "QORGAU_ADMIN_IDS instead.")
        return None

    async def _off_team(self, tx: Tx, target: Person, by: int, kind: str) -> list[int]:
        """However someone leaves the team (revoked, or by themself), the same happens: the
        role goes, what they hold is passed on, and they are cut off from every case."""
        now = self.svc.now()
        # Someone mid-way through staff registration starts over as a reporter.
        step = "done" if target.registered else "consent"
        await tx.update_person(target.user_id, now, role="reporter", on_call=0,
                               on_call_until=None, step=step)
        await tx.clear_timer("oncall_until", target.user_id)
        await tx.expire_invites_of(target.user_id, now)
        await tx.add_audit(now, kind, by, target.user_id, target.role)
        released = await self._release_cases(tx, target.user_id, by, now)
        await cut_off(tx, target.user_id, now)
        fresh = await tx.person(target.user_id)  # after cut_off, which drops what is queued
        assert fresh is not None
        await menus.refresh(tx, fresh, now)  # the reporters' menu: no staff commands left
        return released

    async def _release_cases(self, tx: Tx, person_id: int, by: int, now: float) -> list[int]:
        """A revoked lawyer (a seized phone, often) holds nothing any more: the alerts they
        hold go back to open and are paged again at once. Only theirs: an alert they merely
        acknowledged that another lawyer has claimed stays with that lawyer."""
        released = []
        for alert in await tx.open_alerts():
            holder = alert.claimed_by if alert.claimed_by is not None else alert.acknowledged_by
            if holder != person_id:
                continue
            await tx.update_alert(alert.id, state="open", claimed_by=None, claimed_at=None,
                                  acknowledged_by=None, acknowledged_at=None)
            await tx.add_event(alert.id, now, "released", by, lawyer=person_id)
            await tx.set_timer("escalate", alert.id, now)
            await notify.refresh_alert_messages(tx, alert.id, now)  # "Taken by" no more
            await notify.tell(tx, alert.reporter_id, N_("Your alert #{id} is being passed to "
                              "another lawyer. We are alerting them now."), now, alert.id,
                              priority=PRIORITY_ALERT, id=alert.id, neutral=discreet.PASSED_ON)
            released.append(alert.id)
        return released

    # --- groups ---------------------------------------------------------------------------

    async def connect_group(self, user_id: int, chat_id: int, connect: bool,
                            language: str | None = None, asker: str = DEFAULT_LANGUAGE
                            ) -> str | None:
        """/connect [ru|kk|en] and /disconnect in a group, by a coordinator. Answered in the
        group's language (Russian unless chosen; before that, the sender's: ``asker`` for
        someone unknown), with the language buttons on connecting; returns an answer to
        post, or None if one was queued."""
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            current = await tx.group_language(chat_id)
            lang = current or (person.language if person else asker)
            if person is None or not person.is_coordinator:
                return t(lang, "Only a Qorgau coordinator can connect or disconnect this group.")
            if language is not None and language not in LANGUAGES:
                return t(lang, "Use /connect ru, /connect kk or /connect en.")
            now = self.svc.now()
            if connect:
                chosen = language or current or DEFAULT_LANGUAGE
                done = current is None  # (an ignored INSERT's "row id" is not 0 in SQLite)
                if done:
                    await tx.connect_group(chat_id, user_id, now)
                await tx.set_group_language(chat_id, chosen)
                await notify.send(tx, chat_id, Outgoing(
                    t(chosen, "This group now receives Qorgau alert notices.") if done
                    else t(chosen, "This group is already connected."),
                    buttons=language_buttons(GROUP_DATA)), now, kind="reply",
                    priority=PRIORITY_REPLY)
                return None
            done = await tx.disconnect_group(chat_id)
            if done:  # its notices end with a line without the place, and stay so
                await notify.close_group_notices(
                    tx, await tx.retire_rows("group", chat_id=chat_id), now, language=lang)
            return (t(lang, "This group no longer receives alert notices.") if done
                    else t(lang, "This group was not connected."))


    async def group_gone(self, chat_id: int) -> None:
        """The bot left or was removed from a group: disconnect it and tell coordinators."""
        async with self.svc.step() as tx:
            if not await tx.disconnect_group(chat_id):
                return
            for c in await tx.people(role="coordinator"):
                await notify.send(tx, c.user_id, Outgoing(t(
                    c.language, "The bot can no longer post in a connected press-freedom "
                    "group ({id}); it was disconnected.", id=chat_id)), self.svc.now())


def regions_picker(person: Person) -> Outgoing:
    lang = person.language
    rows = [tuple(Button(t(lang, r.name), f"serve:{r.key}") for r in REGIONS[i:i + 2])
            for i in range(0, len(REGIONS), 2)]
    rows.append((Button(t(lang, "Done"), "serve:done"),))
    return Outgoing(t(lang, "Which regions do you serve? Tap each, then Done."),
                    buttons=tuple(rows))


def languages_picker(person: Person) -> Outgoing:
    lang = person.language
    rows = [(Button(name, f"speak:{code}"),) for code, name in LANGUAGE_NAMES.items()]
    rows.append((Button(t(lang, "Done"), "speak:done"),))
    return Outgoing(t(lang, "Which languages do you work in? Tap each, then Done."),
                    buttons=tuple(rows))


async def tell_unreached(tx: Tx, now: float) -> None:
    """Alerts raised while nobody could be paged are told to the coordinators once one
    exists (the later waves page them too, but a closed one would never be seen)."""
    alerts = await tx.unreached_alerts()
    if not alerts:
        return
    numbers = ", ".join(f"#{a.id}" for a in alerts)
    for coordinator in await tx.people("coordinator"):
        await notify.tell(tx, coordinator.user_id, lambda lang: tn(
            lang, "{n} alert reached nobody, because no lawyer or coordinator was registered "
            "when it was raised: {list}. /case N shows it; /invite lawyer brings lawyers in.",
            "{n} alerts reached nobody, because no lawyer or coordinator was registered when "
            "they were raised: {list}. /case N shows each; /invite lawyer brings lawyers in.",
            len(alerts), list=numbers), now)
    for alert in alerts:
        await tx.add_event(alert.id, now, "unreached_told", None)
