"""Check-in timers, a dead man's switch: before a protest a reporter starts a timer; if they
do not tap "I'm OK" before it runs out, an alert is raised for them by itself, at the last
location they shared, and paged like any other.

The timer and its reminder are rows (``checkins``, and ``timers`` of kinds ``checkin_due``
and ``checkin_remind``), so a deadline that passes while the bot is down raises its alert
once, at the restart. What the reporter reads here never names an alert, a lawyer or the
police: the phone may be in someone else's hands when it is read."""

from __future__ import annotations

from bot.domain import notify
from bot.domain.messages import PRIORITY_ALERT, PRIORITY_REPLY, Button, Outgoing
from bot.domain.reporting import Reporting
from bot.domain.services import Services
from bot.i18n import N_, lang_of, t
from storage import CheckIn, Person, Tx

DUE = "checkin_due"
REMIND = "checkin_remind"
SHORTEST = 5 * 60.0  # seconds; a shorter timer would run out before anyone could act
LONGEST = 24 * 3600.0
SLACK = 5.0
EXTEND = 3600.0  # what "Extend" adds
CHOICES = (30, 60, 120, 180)  # minutes offered by a bare /checkin
LABEL_OK = N_("✅ I'm OK")


def _left(lang: str, seconds: float) -> str:
    """Time left, to the nearest minute: "30 min", not the 29 a floor would show."""
    return notify.duration(lang, round(seconds / 60) * 60)


def _buttons(lang: str, checkin: CheckIn) -> tuple[tuple[Button, ...], ...]:
    return ((Button(t(lang, LABEL_OK), f"chk:ok:{checkin.id}"),
             Button(t(lang, "Extend by 1 h"), f"chk:ext:{checkin.id}")),)


class CheckIns:
    def __init__(self, svc: Services, reporting: Reporting) -> None:
        self.svc = svc
        self.reporting = reporting  # the missed check-in raises its alert there

    async def _owner(self, tx: Tx, user_id: int) -> Person | str:
        """The person, if they may run a timer now; else the calm answer why not."""
        person = await tx.person(user_id)
        lang = lang_of(person)
        if person is None or not person.registered:
            return t(lang, "Please finish registering first: send /start.")
        if notify.hidden(await tx.open_alert_of(user_id)) is not None:  # after a duress
            return t(lang, "Help is already on its way to you, so no timer can be set now.")
        return person

    async def _arm(self, tx: Tx, checkin: CheckIn, now: float) -> None:
        await tx.set_timer(DUE, checkin.id, checkin.due_at)
        remind = checkin.due_at - self.svc.settings.checkin_reminder_minutes * 60
        if remind > now:
            await tx.set_timer(REMIND, checkin.id, remind)
        else:
            await tx.clear_timer(REMIND, checkin.id)

    async def start(self, user_id: int, due_at: float) -> str | None:
        """/checkin 2h, /checkin 18:30 or a duration button: a new timer (replacing a
        running one, whose buttons then stop working)."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            owner = await self._owner(tx, user_id)
            if isinstance(owner, str):
                return owner
            lang = owner.language
            # SLACK: "/checkin 5m" was reckoned from when the command arrived, a moment ago.
            if not SHORTEST - SLACK <= due_at - now <= LONGEST + SLACK:
                return t(lang, "Please choose a time between 5 minutes and 24 hours from now.")
            running = await tx.checkin_of(user_id)
            if running is not None:
                await tx.end_checkin(running.id)
            checkin_id = await tx.start_checkin(user_id, now, due_at)
            checkin = CheckIn(checkin_id, user_id, now, due_at)
            await self._arm(tx, checkin, now)
            await notify.send(tx, user_id, Outgoing(
                t(lang, "Timer set until {time} ({left}). If you don't tap \"I'm OK\" by then, "
                        "we will send help to your last shared location. To let us know "
                        "where you are, share your live location in this chat.",
                  time=notify.clock_time(due_at), left=_left(lang, due_at - now)),
                buttons=_buttons(lang, checkin)), now, priority=PRIORITY_REPLY)
            return None

    async def start_in(self, user_id: int, minutes: int) -> str | None:
        """A duration button ("chk:set:N"); its number may be forged, so bounds apply."""
        return await self.start(user_id, self.svc.now() + minutes * 60.0)

    async def show(self, user_id: int) -> str | None:
        """A bare /checkin: the running timer with its buttons, or durations to start one."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            person = await tx.person(user_id)
            lang = lang_of(person)
            checkin = await tx.checkin_of(user_id)
            if checkin is not None:
                out = Outgoing(t(lang, "Your timer runs until {time} ({left} left).",
                                 time=notify.clock_time(checkin.due_at),
                                 left=_left(lang, checkin.due_at - now)),
                               buttons=_buttons(lang, checkin))
            else:
                owner = await self._owner(tx, user_id)
                if isinstance(owner, str):
                    return owner
                out = Outgoing(
                    t(lang, "No timer is running. If you don't tap \"I'm OK\" before a timer "
                            "runs out, we send help to your last shared location. Start one, "
                            "or type /checkin 2h or /checkin 18:30:"),
                    buttons=(tuple(Button(notify.duration(lang, m * 60), f"chk:set:{m}")
                                   for m in CHOICES),))
            await notify.send(tx, user_id, out, now, priority=PRIORITY_REPLY)
            return None

    async def stop(self, user_id: int) -> str:
        """/checkin off."""
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            checkin = await tx.checkin_of(user_id)
            if checkin is None:
                return t(lang, "No timer is running.")
            await self._end(tx, checkin)
            return t(lang, "Your timer is stopped.")

    async def _mine(self, tx: Tx, user_id: int, checkin_id: int) -> CheckIn | str:
        """The timer a button names, if it is still running and the presser's own."""
        person = await tx.person(user_id)
        lang = lang_of(person)
        checkin = await tx.checkin(checkin_id)
        if checkin is not None and checkin.user_id != user_id:
            return t(lang, "Sorry, this button is not for you.")
        if checkin is None:
            return t(lang, "That timer has already ended.")
        return checkin

    async def ok(self, user_id: int, checkin_id: int) -> str:
        """"I'm OK": the timer stops, and nothing is raised."""
        async with self.svc.step() as tx:
            lang = lang_of(await tx.person(user_id))
            checkin = await self._mine(tx, user_id, checkin_id)
            if isinstance(checkin, str):
                return checkin
            await self._end(tx, checkin)
            return t(lang, "Good. Your timer is stopped.")

    async def extend(self, user_id: int, checkin_id: int) -> str:
        async with self.svc.step() as tx:
            now = self.svc.now()
            lang = lang_of(await tx.person(user_id))
            checkin = await self._mine(tx, user_id, checkin_id)
            if isinstance(checkin, str):
                return checkin
            due = min(max(checkin.due_at, now) + EXTEND, now + LONGEST)
            await tx.move_checkin(checkin.id, due)
            await self._arm(tx, CheckIn(checkin.id, user_id, checkin.started_at, due), now)
            return t(lang, "Timer extended until {time}.", time=notify.clock_time(due))

    async def _end(self, tx: Tx, checkin: CheckIn) -> None:
        """The timer ended without an alert: its rows go, and so does the shared location
        it was keeping (nothing needs it any more)."""
        await tx.end_checkin(checkin.id)
        if await tx.open_alert_of(checkin.user_id) is None:
            await tx.forget_live_share(checkin.user_id)

    async def on_timer(self, kind: str, checkin_id: int) -> None:
        """The reminder, or the deadline: an alert, raised once (the timer rows go in the
        same transaction as the alert)."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            if not await tx.is_due(kind, checkin_id, now):
                return  # stopped or moved meanwhile
            checkin = await tx.checkin(checkin_id)
            person = await tx.person(checkin.user_id) if checkin else None
            if checkin is None or person is None:
                return
            lang = person.language
            if kind == REMIND:
                await notify.send(tx, person.user_id, Outgoing(
                    t(lang, "{left} left on your timer (until {time}). Tap \"I'm OK\" if all "
                            "is well, or extend it.",
                      left=_left(lang, checkin.due_at - now),
                      time=notify.clock_time(checkin.due_at)),
                    buttons=_buttons(lang, checkin)), now, priority=PRIORITY_ALERT)
                return
            await tx.end_checkin(checkin.id)
            # Else help is on its way; after a duress cancel it is missed like any other.
            if notify.hidden(await tx.open_alert_of(person.user_id)) is None:
                await self.reporting.raise_missed_checkin(tx, person, checkin.due_at)
