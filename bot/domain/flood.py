"""Input limits: one person's flood, or a wave of fake alerts, cannot bury a real alert.

- Past ``flood_messages_per_minute`` messages from one person, the update poller hands
  further messages here in bulk (``absorb``): one transaction per batch stores what belongs
  to an open alert on its timeline, answers nothing and forwards nothing, and arms a
  ``flood_summary`` timer row; when the flood stops (or a minute has passed) the person and
  whoever holds their alert get one summary. Handling a flood thus costs a transaction per
  hundred messages instead of one per message plus an answer each.
- Alerts from people who never registered page lawyers only within a limit, per person and
  in total per minute. Past it, an alert is saved and left to coordinators (told once
  when the limit trips), and pages nobody, so a wave of fake alerts cannot bury real ones.

The counters are in memory: a restart forgets them, which only lets a flood start over.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain import discreet, notify
from bot.domain.messages import PRIORITY_ALERT, PRIORITY_CASE, PRIORITY_REPLY, Outgoing
from bot.domain.reporting import MAX_NOTE, clean_text
from bot.domain.services import Services
from bot.i18n import t, tn
from storage import Alert, Person, Tx

WINDOW = 60.0  # seconds: "per minute"
SUMMARY = "flood_summary"  # the timer kind, one row per flooding person
SUMMARY_TEXTS = 3  # the latest held texts quoted to the holder in the summary
# Lawyers and coordinators were invited, and a held order (/revoke, /note) would be lost: they
# get this many times the limit before their messages are held. No person types that fast;
# a seized staff phone used to flood the bot does, and must not delay real alerts.
STAFF_FACTOR = 6


class SlidingCounter:
    """At most ``limit`` events per key within any ``window`` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._seen: dict[int, deque[float]] = {}

    def admit(self, key: int, now: float) -> bool:
        """Count one event for ``key`` if the limit allows it; False (not counted) if not,
        so a steady flood still gets ``limit`` events through per window."""
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if len(seen) >= self.limit:
            return False
        seen.append(now)
        if len(self._seen) > 10_000:  # forget quiet people now and then
            self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > now - self.window}
        return True


@dataclass(frozen=True)
class Held:
    """One message over the limit, as the poller read it (no Telegram types)."""

    update_id: int
    user_id: int
    text: str | None = None
    media: str | None = None  # the kind of file: photo, voice, ...
    file_id: str | None = None
    location: tuple[float, float] | None = None
    message_id: int | None = None  # kept for a discreet reporter, to delete it later


class Flood:
    """The input limits and what happens past them (see the module's docstring)."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        s = svc.settings
        self.messages = SlidingCounter(s.flood_messages_per_minute, WINDOW)
        self.staff_messages = SlidingCounter(
            (STAFF_FACTOR - 1) * s.flood_messages_per_minute, WINDOW)
        self.unregistered_total = SlidingCounter(s.unregistered_alerts_per_minute, WINDOW)
        self.unregistered_person = SlidingCounter(s.unregistered_alerts_per_person_per_hour,
                                                  3600.0)
        self._tripped_at = -math.inf  # when coordinators were last told of held alerts
        notify.REPLY_BACKLOG = s.reply_backlog_per_chat  # read by notify.send, per process

    def admit_message(self, user_id: int, sent: float) -> bool:
        """Count a message from this person; False once they are over the limit.

        ``sent`` is when Telegram stamped the message, not when it is read: after an
        outage or a failover the bot reads minutes of messages at once, and a coordinator's
        orders typed at a person's pace must not look like a flood and be held."""
        return self.messages.admit(user_id, sent)

    async def staff(self) -> set[int]:
        """Who has the larger allowance: registered lawyers and coordinators (read only
        when someone is over the limit, so it costs nothing in quiet times)."""
        async with self.svc.storage.read() as tx:
            return {p.user_id for p in await tx.staff()}

    def admit_staff_message(self, user_id: int, sent: float) -> bool:
        """A staff member past the common limit: counted against their larger allowance
        (by when Telegram stamped the message, as ``admit_message``)."""
        return self.staff_messages.admit(user_id, sent)

    # --- messages over the limit ---------------------------------------------------------

    async def absorb(self, items: Sequence[Held]) -> None:
        """Store a batch of held messages in one step, answering none of them."""
        if not items:
            return
        async with self.svc.step() as tx:
            now = self.svc.now()
            # Per person, read once a batch: (profile, open alert, a PIN is awaited).
            people: dict[int, tuple[Person | None, Alert | None, bool]] = {}
            counts: dict[int, int] = {}
            events: list[tuple[int, float, str, int | None, dict[str, Any]]] = []
            for item in items:
                if item.user_id not in people:
                    person = await tx.person(item.user_id)
                    if person is None:
                        people[item.user_id] = (None, None, False)
                        continue  # never seen: nothing to store it with
                    pins = await tx.pin_state(item.user_id)
                    people[item.user_id] = (person, await tx.open_alert_of(item.user_id),
                                            pins is not None and pins.awaiting is not None)
                person, alert, awaits_pin = people[item.user_id]
                counts[item.user_id] = counts.get(item.user_id, 0) + 1
                if item.text is not None and awaits_pin:
                    # Perhaps the PIN they were asked for: never stored as a text, deleted
                    # like every typed PIN; they type it again once the flood is over.
                    await notify.erase_theirs(tx, item.user_id, item.message_id, now)
                    continue
                if alert is not None:
                    events.extend(await self._store(tx, alert, item, now))
                    if person is not None and item.message_id is not None \
                            and discreet.is_discreet(person):
                        await tx.record_incoming(item.user_id, item.message_id, now)
            await tx.add_events(events)
            for user_id, count in counts.items():
                held = await tx.hold_input(user_id, count, now)
                due = min(held.last_at + self.svc.settings.flood_quiet_seconds,
                          held.first_at + WINDOW)
                await tx.set_timer(SUMMARY, user_id, due)
            await tx.record_updates([i.update_id for i in items], now)

    async def _store(self, tx: Tx, alert: Alert, item: Held, now: float
                     ) -> list[tuple[int, float, str, int | None, dict[str, Any]]]:
        """The timeline event a held message becomes (written with the others at once)."""
        if item.text is not None:
            note = clean_text(item.text, MAX_NOTE)
            if note is not None:
                return [(alert.id, now, "reporter_text", item.user_id,
                         {"text": note, "held": True})]
        elif item.media is not None:
            return [(alert.id, now, "reporter_media", item.user_id,
                     {"media": item.media, "file_id": item.file_id, "held": True})]
        elif item.location is not None:
            lat, lon = item.location
            if -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0:
                await tx.update_alert(alert.id, lat=lat, lon=lon, located_at=now)
                return [(alert.id, now, "position", item.user_id, {"held": True})]
        return []

    async def summary(self, user_id: int) -> None:
        """The flood stopped (or a minute passed): one word to the person and to whoever
        holds their alert, instead of an answer and a forward per message."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            if not await tx.is_due(SUMMARY, user_id, now):
                return  # re-armed by a later batch
            held = await tx.held_input(user_id)
            await tx.clear_held_input(user_id)
            person = await tx.person(user_id)
            if held is None or person is None:
                return
            alert = await tx.open_alert_of(user_id)
            lang = person.language
            if alert is None or alert.concealed:  # none, or hidden by a duress cancel
                sos = notify.sos_labels(lang, person)[0]
                await notify.send(tx, user_id, Outgoing(discreet.pick(person, tn(
                    lang, "You sent {n} message in a short time; it was not answered. In "
                    "danger? Tap \"{sos}\".", "You sent {n} messages in a short time; they were "
                    "not answered one by one. In danger? Tap \"{sos}\".", held.held, sos=sos),
                    tn(lang, "You sent {n} message in a short time; it was not answered. Need "
                       "help? Tap \"{sos}\".", "You sent {n} messages in a short time; they "
                       "were not answered one by one. Need help? Tap \"{sos}\".", held.held,
                       sos=sos))), now)
                if alert is None:
                    return
            else:
                await notify.send(tx, user_id, Outgoing(discreet.pick(person, tn(
                    lang, "You sent {n} message in a short time. It was saved to alert #{id}, "
                    "and whoever takes your case sees it.", "You sent {n} messages in a short "
                    "time. They were saved to alert #{id} without an answer to each, and "
                    "whoever takes your case sees them.", held.held, id=alert.id), tn(
                    lang, "You sent {n} message in a short time. It was saved and is passed "
                    "on.", "You sent {n} messages in a short time. They were saved without an "
                    "answer to each and are passed on.", held.held))), now)
            holder = alert.claimed_by or alert.acknowledged_by
            if holder is not None:
                latest = [str(e.detail.get("text", "")) for e in await tx.events(alert.id)
                          if e.kind == "reporter_text" and e.detail.get("held")
                          and e.at >= held.first_at][-SUMMARY_TEXTS:]
                # Quoted line by line: what a reporter wrote never passes for the bot's lines.
                quoted = "\n".join(notify.quote_lines(notify.cut_units(x, notify.FACT_CHARS))
                                   for x in latest)
                await notify.tell(tx, holder, lambda lang: tn(
                    lang, "Alert #{id}: the reporter sent {n} message in a short time. It is "
                    "on the case's timeline. The latest:\n{latest}", "Alert #{id}: the "
                    "reporter sent {n} messages in a short time. They are on the case's "
                    "timeline; they were not forwarded one by one. The latest:\n{latest}",
                    held.held, id=alert.id, latest=quoted or "-"),
                    now, alert.id, priority=PRIORITY_CASE)

    # --- alerts from people who never registered -------------------------------------------

    def admit_alert(self, person: Person) -> bool:
        """Whether this alert may page lawyers: always for a registered person; for anyone
        else only within the per-person and the overall limit."""
        if person.registered:
            return True
        now = self.svc.now()
        return (self.unregistered_person.admit(person.user_id, now)
                and self.unregistered_total.admit(0, now))

    async def hold(self, tx: Tx, alert: Alert, person: Person) -> None:
        """An unregistered person's alert past the limit: saved, paging nobody; the person
        is answered and coordinators are told once per minute that alerts are being held."""
        now = self.svc.now()
        await tx.add_event(alert.id, now, "held", None, reason="unregistered_limit")
        lang = person.language
        await notify.send(tx, person.user_id, Outgoing(
            t(lang, "Alert #{id} received and saved. Many alerts are arriving right now; a "
                    "coordinator will look at yours. Send anything you can here.", id=alert.id),
            keyboard=notify.keyboard(lang, person, alert_open=True)),
            now, priority=PRIORITY_REPLY)
        if now - self._tripped_at < WINDOW:
            return
        self._tripped_at = now
        for c in await tx.people(role="coordinator"):
            await notify.send(tx, c.user_id, Outgoing(tn(
                c.language, "More than {n} alert a minute is coming from people who never "
                "registered. Further ones are saved but page no lawyer; /open lists them all.",
                "More than {n} alerts a minute are coming from people who never registered. "
                "Further ones are saved but page no lawyer; /open lists them all.",
                self.svc.settings.unregistered_alerts_per_minute)),
                now, kind="case", priority=PRIORITY_ALERT)
