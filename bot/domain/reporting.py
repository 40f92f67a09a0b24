"""The reporter's side: registration, the one-tap alert, what they add, "I'm safe".

Every function is one domain step: it changes rows and queues the answers in one
transaction, so an alert is committed before the reporter is told it was received.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.domain import discreet, menus, notify
from bot.domain.languages import language_buttons
from bot.domain.live import LIVE_CHECK, Live, Where, until
from bot.domain.messages import PRIORITY_ALERT, PRIORITY_CASE, PRIORITY_REPLY, Button, Outgoing
from bot.domain.notify import hidden
from bot.domain.regions import BY_KEY, REGIONS, nearest_region
from bot.domain.routing import Route, first_wave
from bot.domain.services import Services
from bot.i18n import N_, lang_of, t, tn
from storage import Alert, Person, Tx

if TYPE_CHECKING:
    from bot.domain.flood import Flood

log = logging.getLogger(__name__)

SafeHook = Callable[[Tx, Alert, Person], Awaitable[None]]

UNDO = "undo"  # timer kind: the end of an alert's undo window, when its first wave goes
DISCREET_ON = (
    N_("Discreet mode is on, for when someone else may read this phone: I write in plain words, "
    "and when your request is over I delete our messages here. Whoever helps you still "
    "gets everything you send. To change it: /discreet off, /discreet on."))
DISCREET_OFF = (N_("Discreet mode is off: messages here say plainly what happens and stay. "
                "/discreet on turns it back on."))
MAX_NAME = 48
MAX_NOTE = 2000


def clean_text(text: str, limit: int) -> str | None:
    """Printable, trimmed text within ``limit`` characters, or None if nothing is left."""
    kept = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch == "\n")
    kept = kept.strip()
    return kept[:limit] if kept else None


def clean_name(text: str) -> str | None:
    """A display name: one line, without control or bidirectional characters, so that it
    cannot add lines to a card or reorder what is shown around it; None if nothing is left."""
    return clean_text(notify.one_line(text), MAX_NAME)


class Reporting:
    def __init__(self, svc: Services, on_safe: SafeHook, flood: Flood | None = None) -> None:
        self.svc = svc
        self.on_safe = on_safe  # casework decides what "I'm safe" does to a case
        self.flood = flood  # limits alerts from people who never registered
        self.live = Live(svc)

    async def raise_missed_checkin(self, tx: Tx, person: Person, due_at: float) -> None:
        """A check-in ran out without "I'm OK": an alert, raised by itself through the same
        step as an SOS, at the last location the person shared (if any), paged and
        escalated like any other."""
        share = await tx.live_share(person.user_id)
        where = (share.lat, share.lon, share.accuracy_m, share.located_at) if share else None
        await self._raise(tx, person, where, missed_checkin=due_at)
        if share is not None:  # from now on its silence or end matters to the lawyers
            await tx.set_timer(LIVE_CHECK, person.user_id, self.svc.now())

    async def raise_by_sms(self, tx: Tx, person: Person, text: str) -> int:
        """An SMS with the person's code word: the same step as "Alert without location"
        (stored, answered, paged, escalated), then what followed the code word joins the
        timeline. Returns the alert's number."""
        await self._raise(tx, person, None)
        alert = await tx.open_alert_of(person.user_id)
        assert alert is not None
        await tx.add_event(alert.id, self.svc.now(), "sms_received", person.user_id)
        if text.strip():
            await self._attach(tx, person, alert.id, text=text, silent=True)
        return alert.id

    async def _reply(self, tx: Tx, person: Person, out: Outgoing) -> None:
        await notify.send(tx, person.user_id, out, self.svc.now(), priority=PRIORITY_REPLY)

    async def _person(self, tx: Tx, user_id: int, language_code: str) -> Person:
        return await tx.ensure_person(user_id, self.svc.now(), language_code,
                                      self.svc.first_role(user_id))

    # --- registration -------------------------------------------------------------------

    async def start(self, user_id: int, language: str) -> None:
        """/start without an invite: begin (or resume) registration, or show the keyboard."""
        async with self.svc.step() as tx:
            person = await self._person(tx, user_id, language)
            if person.registered:
                await self._show_home(tx, person)
                return
            if person.role == "coordinator":  # an administrator from the settings
                await tx.update_person(user_id, self.svc.now(), step="c_name")
                await self._reply(tx, person, Outgoing(t(
                    person.language, "Welcome, coordinator. What name should others see? "
                    "Send it as a message."), buttons=language_buttons()))
                await menus.refresh(tx, person, self.svc.now())
            elif person.role == "lawyer":  # mid-way through the lawyer's registration
                await self._reply(tx, person, Outgoing(t(
                    person.language, "Please finish registering: answer the last question.")))
            else:
                await tx.update_person(user_id, self.svc.now(), step="consent")
                await self._reply(tx, person, consent_message(person.language))

    async def agree(self, user_id: int) -> None:
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            if person is None or person.step != "consent":
                return await self._stale(tx, person, user_id)
            await tx.update_person(user_id, self.svc.now(), step="name")
            await self._reply(tx, person, Outgoing(t(
                person.language,
                "What name should lawyers see? A pseudonym is fine. Send it as a message.")))

    async def set_region(self, user_id: int, key: str) -> None:
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            if person is None or person.step != "region" or key not in BY_KEY:
                return await self._stale(tx, person, user_id)
            await tx.update_person(user_id, self.svc.now(), region=key, step="share")
            lang = person.language
            await self._reply(tx, person, Outgoing(
                t(lang, "May press-freedom groups see your exact location when you raise an "
                        "alert? Lawyers always see it. Without it, groups see only the region."),
                buttons=((Button(t(lang, "Yes, share it"), "share:1"),
                          Button(t(lang, "No, region only"), "share:0")),),
            ))

    async def set_share(self, user_id: int, share: bool) -> None:
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            if person is None or person.step != "share":
                return await self._stale(tx, person, user_id)
            await tx.update_person(user_id, self.svc.now(), share_location=int(share), step="done",
                                   discreet=1)  # the default for reporters: their choice below
            person = await tx.person(user_id)
            assert person is not None
            await self._registered(tx, person)

    async def _registered(self, tx: Tx, person: Person) -> None:
        """The end of a reporter's registration, in discreet mode unless they turn it off
        here: the questions so far (which say what the bot is for) are deleted, and the
        answer explains discreet mode and offers to turn it off; last, the optional PIN."""
        lang = person.language
        await discreet.clear_chat(tx, person.user_id, self.svc.now())
        sos, nosos = notify.sos_labels(lang, person)
        await self._reply(tx, person, Outgoing(
            t(lang, "You are registered, {name}. If you need help, tap \"{sos}\": it is "
                    "called at once. No location? Use \"{nosos}\".", name=person.name,
              sos=sos, nosos=nosos), keyboard=notify.keyboard(lang, person, alert_open=False)))
        await self._reply(tx, person, Outgoing(t(lang, DISCREET_ON), buttons=(
            (Button(t(lang, "Turn discreet mode off"), "discreet:0"),),)))
        await self._offer_pin(tx, person)  # optional: "Set a PIN" or "Skip"

    async def _offer_pin(self, tx: Tx, person: Person) -> None:
        """At the end of registration: the optional PIN, one tap to set it or to skip."""
        lang = person.language
        await notify.send(tx, person.user_id, Outgoing(
            t(lang, "Optional: a PIN protects cancelling. If you set one, a cancel asks for it, "
                    "and a second PIN lets you seem to cancel when someone forces you, while "
                    "help goes on."),
            buttons=((Button(t(lang, "Set a PIN"), "pin:set"), Button(t(lang, "Skip"), "pin:skip")),
                     )), self.svc.now(), priority=PRIORITY_REPLY)

    async def set_discreet(self, user_id: int, choice: str, message_id: int | None = None
                           ) -> str | None:
        """/discreet on|off (or the button at registration): a registered reporter's
        choice. Turned on with no alert open, the chat is cleared at once (the command
        too); with an alert open, when it closes. Returns the answer, None if queued."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.registered:
                return t(lang, "Please finish registering first: send /start.")
            if person.role != "reporter":
                return t(lang, "Discreet mode is for reporters; your chat keeps the cases "
                               "you work on.")
            if choice not in ("on", "off"):
                return t(lang, "Use /discreet on or /discreet off.") + " " + t(
                    lang, DISCREET_ON if person.discreet else DISCREET_OFF)
            on = choice == "on"
            await tx.update_person(user_id, now, discreet=int(on))
            fresh = await tx.person(user_id)
            assert fresh is not None
            alert = await tx.open_alert_of(user_id)
            if on and alert is None and not person.discreet:
                if message_id is not None:
                    await tx.record_incoming(user_id, message_id, now)
                await discreet.clear_chat(tx, user_id, now)
            elif on:
                await discreet.remember(tx, fresh, message_id, now)
            else:  # nothing will be deleted: what was kept for it is forgotten now
                await tx.forget_incoming(user_id)
            await self._reply(tx, fresh, Outgoing(
                t(lang, DISCREET_ON if on else DISCREET_OFF),
                keyboard=notify.keyboard(lang, fresh, alert_open=alert is not None)))
            return None

    async def forget_cleared(self, user_id: int) -> None:
        """The timer after a chat was cleared: forget the ids of its deleted messages."""
        async with self.svc.step() as tx:
            await discreet.forget(tx, user_id, self.svc.now())

    async def _show_home(self, tx: Tx, person: Person) -> None:
        alert = hidden(await tx.open_alert_of(person.user_id))
        lang = person.language
        sos = notify.sos_labels(lang, person)[0]
        if alert:
            state = notify.state_words(lang, alert, person)
            text = discreet.pick(
                person, t(lang, "Your alert #{id} is open: {state}.", id=alert.id, state=state),
                t(lang, "Your request is open: {state}.", state=state))
        else:
            text = discreet.pick(
                person, t(lang, "You are registered. Tap \"{sos}\" if you are in danger.",
                          sos=sos),
                t(lang, "You are registered. Tap \"{sos}\" if you need help.", sos=sos))
        await self._reply(tx, person, Outgoing(
            text, keyboard=notify.keyboard(lang, person, alert_open=alert is not None)))

    async def _stale(self, tx: Tx, person: Person | None, user_id: int) -> None:
        lang = lang_of(person)
        await notify.send(tx, user_id, Outgoing(t(
            lang, "That button is no longer valid. Send /start to continue.")), self.svc.now())

    # --- free text: what it means depends on where the person is -------------------------

    async def on_text(self, user_id: int, text: str, language: str,
                      message_id: int | None = None) -> None:
        async with self.svc.step() as tx:
            person = await self._person(tx, user_id, language)
            lang = person.language
            raising = notify.is_label(lang, text, notify.LABEL_SOS_NO_LOCATION,
                                      discreet.LABEL_SOS_NO_LOCATION)
            await discreet.remember(tx, person, message_id, self.svc.now(), raising)
            if raising:
                return await self._raise(tx, person, None)
            if notify.is_label(lang, text, notify.LABEL_SOS, discreet.LABEL_SOS):
                return await self._reply(tx, person, Outgoing(t(
                    lang, "Your app did not send a location. Tap \"{nosos}\" instead.",
                    nosos=notify.sos_labels(lang, person)[1])))
            if notify.is_label(lang, text, notify.LABEL_SAFE):
                return await self._safe(tx, person)
            if person.step == "name":
                return await self._set_name(tx, person, text)
            alert = await tx.open_alert_of(user_id)
            if alert is not None:
                return await self._attach(tx, person, alert.id, text=text)
            if not person.registered:
                return await self._reply(tx, person, Outgoing(t(
                    lang, "Please finish registering first: send /start.")))
            await self._offer_alert(tx, person)

    async def _offer_alert(self, tx: Tx, person: Person) -> None:
        """Someone with no open alert wrote or sent something ("HELP they are arresting
        me"): never silence, never a shrug. The SOS keyboard again, and one tap that raises
        an alert at once."""
        lang = person.language
        await self._point_to_sos(
            tx, person, N_("You have no open alert, so nobody has read this. In danger? Tap "
                        "\"{sos}\" below to send your location, or raise an alert with one tap:"),
            N_("Nothing is open, so nobody has read this. Need help? Tap \"{sos}\" below to "
            "send your location, or ask with one tap:"))
        await self._reply(tx, person, Outgoing(
            discreet.pick(person,
                          t(lang, "Lawyers on call are alerted at once. Other questions: /help"),
                          t(lang, "Help is called at once. Other questions: /help")),
            buttons=((Button(t(lang, discreet.pick(person, notify.LABEL_RAISE_NOW,
                                                   discreet.LABEL_RAISE_NOW)),
                             notify.RAISE_NOW_DATA),),)))

    async def _point_to_sos(self, tx: Tx, person: Person, plain: str, neutral: str) -> None:
        """An answer (in this person's wording) that names the SOS button, with the
        keyboard that has it."""
        lang = person.language
        await self._reply(tx, person, Outgoing(
            t(lang, discreet.pick(person, plain, neutral), sos=notify.sos_labels(lang, person)[0]),
            keyboard=notify.keyboard(lang, person, alert_open=False)))

    async def raise_now(self, user_id: int) -> str | None:
        """The one-tap button under that answer: the same step as "Alert without location".
        Its callback data can be forged, so only a registered person may raise this way."""
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            if person is None or not person.registered:
                return t(lang_of(person), "Sorry, this button is not for you.")
            await self._raise(tx, person, None)
            return None

    async def _set_name(self, tx: Tx, person: Person, text: str) -> None:
        lang = person.language
        name = clean_name(text)
        if name is None or name.startswith("/"):
            return await self._reply(tx, person, Outgoing(t(
                lang, "Please send a name of 1 to {n} letters.", n=MAX_NAME)))
        await tx.update_person(person.user_id, self.svc.now(), display_name=name, step="region")
        rows = [tuple(Button(t(lang, r.name), f"region:{r.key}") for r in REGIONS[i:i + 2])
                for i in range(0, len(REGIONS), 2)]
        await self._reply(tx, person, Outgoing(
            t(lang, "Where are you based? Lawyers of your region are alerted first."),
            buttons=tuple(rows)))

    # --- alerts -------------------------------------------------------------------------

    async def location(self, user_id: int, language: str, lat: float, lon: float,
                       accuracy: float | None, taken_at: float | None, live: bool,
                       forwarded: bool = False, message_id: int | None = None,
                       live_period: float | None = None, sent_at: float | None = None) -> None:
        """A location from the one-tap button, the first message of a live share
        (``live_period`` seconds from ``sent_at``) or its update (``live``: an edited
        message). One forwarded from someone else is not where the reporter is: it never
        raises an alert."""
        usable = (math.isfinite(lat) and math.isfinite(lon)
                  and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0)
        if not usable and live:
            return  # a broken live update; the next one will do, and answers would flood
        if accuracy is not None and not (math.isfinite(accuracy) and accuracy >= 0):
            accuracy = None
        async with self.svc.step() as tx:
            person = await self._person(tx, user_id, language)
            if not usable:
                sos, nosos = notify.sos_labels(person.language, person)
                return await self._reply(tx, person, Outgoing(t(
                    person.language, "That location could not be read. Tap \"{sos}\" again, "
                    "or \"{nosos}\" if it keeps failing.", sos=sos, nosos=nosos)))
            if not live:  # a live share is one message, kept from its first position
                await discreet.remember(tx, person, message_id, self.svc.now(), not forwarded)
            if forwarded:
                return await self._forwarded_location(tx, person, lat, lon)
            where = (lat, lon, accuracy, taken_at or self.svc.now())
            live_share = live_period is not None and live_period > 0
            live_until = until(sent_at or where[3], live_period or 0) if live_share else None
            if live:
                return await self.live.moved(tx, person, where, live_until)
            if live_share and await self.live.started(tx, person, where, live_until):
                return  # kept for the running check-in
            await self._raise(tx, person, where)
            alert = await tx.open_alert_of(user_id)
            if live_share and alert is not None:
                await notify.keep_live_pin(tx, alert, self.svc.now())

    async def _forwarded_location(self, tx: Tx, person: Person, lat: float,
                                  lon: float) -> None:
        """Someone else's spot: a note on the open alert, or a calm answer."""
        lang = person.language
        alert = await tx.open_alert_of(person.user_id)
        note = t(lang, "Forwarded location (from someone else, not the reporter's own): "
                       "{lat:.5f}, {lon:.5f}", lat=lat, lon=lon)
        if alert is not None and not alert.concealed:
            return await self._attach(tx, person, alert.id, text=note, answer=discreet.pick(
                person, t(lang, "Added to alert #{id} as a note; a forwarded location does "
                                "not change your alert's position.", id=alert.id),
                t(lang, "Added as a note; it does not change your own position.")))
        if alert is not None:  # hidden by a duress cancel: kept, answered as if none were open
            await self._attach(tx, person, alert.id, text=note, silent=True)
        await self._point_to_sos(
            tx, person, N_("This location was forwarded from someone else, so it raised no "
                        "alert. If you are in danger, tap \"{sos}\" to send your own."),
            N_("This location was forwarded from someone else, so nothing was started. Need "
            "help? Tap \"{sos}\" to send your own."))

    async def _raise(self, tx: Tx, person: Person, where: Where | None,
                     missed_checkin: float | None = None) -> None:
        """Raise an alert (or add to the open one). ``missed_checkin``: raised by itself,
        because the person missed a check-in due then; told in neutral words."""
        now = self.svc.now()
        lang = person.language
        open_alert = await tx.open_alert_of(person.user_id)
        if open_alert is not None and open_alert.concealed:
            return await self._sos_after_duress(tx, person, open_alert, where, now,
                                                missed_checkin)
        if open_alert is not None:
            if open_alert.safe_at is not None:
                await self._withdraw_safe(tx, open_alert.id, person, now)
            if where is None:
                state = notify.state_words(lang, open_alert, person)
                return await self._reply(tx, person, Outgoing(discreet.pick(
                    person, t(lang, "Your alert #{id} is already open: {state}. Send updates "
                                    "here.", id=open_alert.id, state=state),
                    t(lang, "Already received: {state}. Send updates here.", state=state))))
            lat, lon, acc, taken = where
            await tx.update_alert(open_alert.id, lat=lat, lon=lon, accuracy_m=acc,
                                  located_at=taken)
            await tx.add_event(open_alert.id, now, "position", person.user_id)
            await self._forward_position(tx, open_alert.id, now)
            await self._reply(tx, person, Outgoing(discreet.pick(
                person, t(lang, "Alert #{id} is already open; your new position was added.",
                          id=open_alert.id),
                t(lang, "Your new position was added."))))
            return
        region = nearest_region(where[0], where[1]) if where else person.region
        # A lawyer in trouble is a reporter here: never paged for their own alert.
        staff = [p for p in await tx.staff() if p.user_id != person.user_id]
        route = first_wave(staff, region, now)
        held = self.flood is not None and not self.flood.admit_alert(person)
        if held:
            route = Route((), urgent=False)
        fields: dict[str, object] = {"region": region, "urgent": int(route.urgent),
                                     "missed_checkin_at": missed_checkin}
        if where is not None:
            lat, lon, acc, taken = where
            fields.update(lat=lat, lon=lon, accuracy_m=acc, located_at=taken)
        alert_id = await tx.create_alert(person.user_id, now, **fields)
        await tx.add_event(alert_id, now, "raised", person.user_id,
                           located=where is not None, region=region,
                           paged=len(route.recipients), urgent=route.urgent)
        checkin = await tx.checkin_of(person.user_id)
        if missed_checkin is not None:
            await tx.add_event(alert_id, now, "checkin_missed", None, due=missed_checkin)
        elif checkin is not None:  # an alert raised by hand: the timer has done its job
            await tx.end_checkin(checkin.id)
        alert = await tx.alert(alert_id)
        assert alert is not None
        if held and self.flood is not None:  # unregistered, past the limit: to coordinators
            return await self.flood.hold(tx, alert, person)
        await self._received(tx, person, alert_id, route, now, missed_checkin, where is not None)
        undo = self.svc.settings.undo_seconds
        if undo > 0:  # stored now; paged when the window ends (a timer row: kill-proof)
            await notify.send(tx, person.user_id, Outgoing(
                t(lang, "Sent by mistake? You can cancel within {wait}.",
                  wait=notify.duration(lang, undo)),
                buttons=((Button(t(lang, "Cancel"), f"undo:{alert_id}"),),)),
                now, priority=PRIORITY_ALERT)
            await tx.set_timer(UNDO, alert_id, now + undo)
            return
        await self._page_first(tx, alert, person, route, now)

    async def _received(self, tx: Tx, person: Person, alert_id: int, route: Route,
                        now: float, missed_checkin: float | None = None,
                        located: bool = False) -> None:
        """The answer to an SOS: stored, who is being alerted, what to do next."""
        lang = person.language
        if route.recipients:
            paging = tn(lang, "We are alerting {n} lawyer now. If nobody answers within "
                              "{wait}, we alert everyone on call.",
                        "We are alerting {n} lawyers now. If nobody answers within {wait}, we "
                        "alert everyone on call.", len(route.recipients),
                        wait=notify.duration(lang, self.svc.policy.ack_timeout))
        else:  # told to the first coordinator who registers (team.tell_unreached)
            log.warning("alert #%d reached nobody: no lawyer or coordinator is registered",
                        alert_id)
            paging = t(lang, "No lawyer can be reached this minute; we keep trying every "
                             "{wait} until one answers.",
                       wait=notify.duration(lang, self.svc.policy.repeat))
        if missed_checkin is not None and located:  # neutral words: perhaps
            told = t(lang, "Time is up and we did not hear \"I'm OK\" from you, so we are "
                           "sending help to your last shared location. Send anything you can "
                           "here.")  # read by whoever holds the phone
        elif missed_checkin is not None:
            told = t(lang, "Time is up and we did not hear \"I'm OK\" from you, so we are "
                           "sending help now. Send anything you can here.")
        elif discreet.is_discreet(person):
            told = (t(lang, "Received. Help is on the way.") if route.recipients else t(
                lang, "Received. Nobody can answer this minute; we keep trying until someone "
                      "does.")) + " " + t(lang, "Send anything you can here (text, photo, "
                                                "voice); it is passed on.")
        else:
            told = (t(lang, "Alert #{id} received and saved.", id=alert_id) + " " + paging +
                    " " + t(lang, "Send anything you can here (text, photo, voice); it goes "
                                  "to your lawyer."))
        await notify.send(tx, person.user_id, Outgoing(
            told, keyboard=notify.keyboard(lang, person, alert_open=True),
        ), now, priority=PRIORITY_ALERT if person.registered else PRIORITY_REPLY)

    async def _sos_after_duress(self, tx: Tx, person: Person, alert: Alert,
                                where: Where | None, now: float,
                                missed_checkin: float | None = None) -> None:
        """SOS from someone whose chat showed a duress cancel: to them it is a new alert, so
        it is answered as one; behind it, the open alert goes on (still DURESS on the cards),
        no longer hidden from their chat, with the new position."""
        fields: dict[str, object] = {"concealed": 0}
        if where is not None:
            lat, lon, acc, taken = where
            fields.update(lat=lat, lon=lon, accuracy_m=acc, located_at=taken)
        await tx.update_alert(alert.id, **fields)
        await tx.add_event(alert.id, now, "sos_after_duress", person.user_id,
                           located=where is not None)
        holder = alert.claimed_by or alert.acknowledged_by
        staff = {c.user_id for c in await tx.people(role="coordinator")} | {holder or 0}
        for user_id in sorted(staff - {0, person.user_id}):
            await notify.tell(tx, user_id, N_("Alert #{id} (DURESS): the reporter pressed SOS "
                              "again. Their chat now shows it as a new alert, open."), now,
                              alert.id, priority=PRIORITY_ALERT, id=alert.id)
        if where is not None:
            await self._forward_position(tx, alert.id, now)
        await notify.refresh_alert_messages(tx, alert.id, now)
        others = [p for p in await tx.staff() if p.user_id != person.user_id]
        await self._received(tx, person, alert.id, first_wave(others, alert.region, now), now,
                             missed_checkin, where is not None)

    async def _page_first(self, tx: Tx, alert: Alert, person: Person, route: Route,
                          now: float) -> None:
        # Paged after the answer is queued: one message to the reporter goes before the many
        # cards, all at the top priority, when a flood leaves little of the overall rate.
        await notify.page(tx, alert, route.recipients, now, wave=1, known=[], reporter=person)
        await notify.post_group_notices(tx, alert, now, reporter=person)
        await tx.set_timer("escalate", alert.id, now + self.svc.policy.ack_timeout)

    async def window_ended(self, kind: str, alert_id: int) -> None:
        """The undo window of an alert ran out without a cancel: its first wave goes now.
        Whoever is on call now is paged (the window may have outlived a restart)."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            if not await tx.is_due(kind, alert_id, now):
                return
            alert = await tx.alert(alert_id)
            person = await tx.person(alert.reporter_id) if alert else None
            if alert is None or person is None or not alert.is_open:
                return
            if alert.state != "open":  # someone already took it up: just the group notices
                return await notify.post_group_notices(tx, alert, now, reporter=person)
            staff = [p for p in await tx.staff() if p.user_id != person.user_id]
            route = first_wave(staff, alert.region, now)
            await tx.update_alert(alert_id, urgent=int(route.urgent))
            await tx.add_event(alert_id, now, "window_ended", None, paged=len(route.recipients),
                               urgent=route.urgent)
            await self._page_first(tx, await tx.alert(alert_id) or alert, person, route, now)

    async def _withdraw_safe(self, tx: Tx, alert_id: int, person: Person, now: float) -> None:
        """SOS again after "I'm safe": the "safe" may have been forced. Keep the alert open
        and tell whoever holds it."""
        await tx.update_alert(alert_id, safe_at=None)
        await tx.clear_timer("safe_close", alert_id)
        await tx.add_event(alert_id, now, "safe_withdrawn", person.user_id)
        alert = await tx.alert(alert_id)
        holder = (alert.claimed_by or alert.acknowledged_by) if alert else None
        if holder is not None:
            await notify.tell(tx, holder, N_("Alert #{id}: the reporter pressed SOS again after "
                              "saying they were safe. The alert stays open."), now, alert_id,
                              priority=PRIORITY_ALERT, id=alert_id)

    async def _forward_position(self, tx: Tx, alert_id: int, now: float) -> None:
        """A new position goes to whoever holds or acknowledged the alert."""
        alert = await tx.alert(alert_id)
        if alert is None:
            return
        holder = alert.claimed_by or alert.acknowledged_by
        if holder is None:
            return
        person = await tx.person(holder)
        where = notify.pin(lang_of(person), alert, now)
        if where is not None:
            await notify.send(tx, holder, where, now, kind="pin", priority=PRIORITY_CASE,
                              alert_id=alert_id)

    async def attach_media(self, user_id: int, language: str, kind: str, file_id: str,
                           caption: str | None, message_id: int) -> None:
        """A photo, voice, video, file...: recorded on the timeline (kind, Telegram file id,
        caption) and copied, caption included, to whoever answers the alert."""
        async with self.svc.step() as tx:
            person = await self._person(tx, user_id, language)
            alert = await tx.open_alert_of(user_id)
            if alert is None:
                if not person.registered:
                    return await self._reply(tx, person, Outgoing(t(
                        person.language, "Please finish registering first: send /start.")))
                return await self._offer_alert(tx, person)
            await self._attach(tx, person, alert.id, media=(
                kind, file_id, clean_text(caption, MAX_NOTE) if caption else None, message_id))
            await discreet.remember(tx, person, message_id, self.svc.now())

    async def _attach(self, tx: Tx, person: Person, alert_id: int, text: str | None = None,
                      media: tuple[str, str, str | None, int] | None = None,
                      answer: str | None = None, silent: bool = False) -> None:
        """What the reporter adds joins the timeline and goes on to the lawyer (``silent``:
        without an answer to the reporter)."""
        now = self.svc.now()
        lang = person.language
        note = ""
        if media is not None:
            kind, file_id, caption, message_id = media
            await tx.add_event(alert_id, now, "reporter_media", person.user_id, media=kind,
                               file_id=file_id, caption=caption, message_id=message_id)
        else:
            cleaned = clean_text(text or "", MAX_NOTE)
            if cleaned is None:
                return
            note = cleaned
            await tx.add_event(alert_id, now, "reporter_text", person.user_id, text=note)
        alert = await tx.alert(alert_id)
        assert alert is not None
        holder = alert.claimed_by or alert.acknowledged_by
        if holder is not None:
            if media is not None:
                await notify.share_media(tx, alert, now, person)
            else:
                hl = lang_of(await tx.person(holder))
                await notify.send(tx, holder, Outgoing(
                    t(hl, "Alert #{id} · from {name}:", id=alert_id,
                      name=notify.reporter_name(hl, person)) + "\n" + notify.quote_lines(note)),
                    now, kind="case", priority=PRIORITY_CASE, alert_id=alert_id)
        if silent:
            return
        if alert.concealed:  # their chat answers as if nothing were open
            await self._offer_alert(tx, person)
        elif holder is not None:
            await self._reply(tx, person, Outgoing(answer or discreet.pick(
                person, t(lang, "Sent to your lawyer."), t(lang, "Sent."))))
        else:
            await self._reply(tx, person, Outgoing(answer or discreet.pick(
                person, t(lang, "Added to alert #{id}; the lawyer who answers will see it.",
                          id=alert_id),
                t(lang, "Saved; it will be passed on."))))

    async def _safe(self, tx: Tx, person: Person) -> None:
        alert = await tx.open_alert_of(person.user_id)
        if alert is None:
            return await self._reply(tx, person, notify.nothing_open(person))
        await self.on_safe(tx, alert, person)


def consent_message(lang: str) -> Outgoing:
    return Outgoing(
        t(lang, "Qorgau alerts on-call lawyers when you are detained or in danger.\n\n"
                "What we store: the name you choose (a pseudonym is fine), your region, your "
                "language, and for each alert its location and what you send.\n"
                "Who sees it: the lawyers we alert, our coordinators and, only if you agree, "
                "press-freedom groups see your exact location.\n"
                "We never write your location or messages to logs."),
        buttons=((Button(t(lang, "I agree"), "agree"),), *language_buttons()),
    )
