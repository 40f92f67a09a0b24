"""Live location: a reporter's shared live location, stored (throttled) on their open
alert or kept for their running check-in, shown to whoever holds the alert as one message
the bot keeps current, and watched for silence and for the end of its live period.

A share's last position is one row (``live_shares``), deleted once neither an open alert
nor a check-in needs it. Its watch is a ``live_check`` timer row per person, so a share
that went quiet while the bot was down is noted after the restart."""

from __future__ import annotations

from bot.domain import notify
from bot.domain.messages import PRIORITY_CASE, PRIORITY_REPLY, Outgoing
from bot.domain.services import Services
from bot.i18n import N_, lang_of, t
from storage import Person, Tx

LIVE_CHECK = "live_check"  # timer kind; subject: the reporter's user id
LIVE_FOREVER = 0x7FFFFFFF  # Telegram's live_period for "until the person stops it"

Where = tuple[float, float, float | None, float]  # lat, lon, accuracy, when taken


def until(sent_at: float, live_period: float) -> float | None:
    """The end of a live share that began at ``sent_at``; None if it has none."""
    return None if live_period >= LIVE_FOREVER else sent_at + live_period


class Live:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        notify.LIVE_STALE = svc.settings.live_stale_seconds

    async def _arm(self, tx: Tx, user_id: int, now: float, until: float | None) -> None:
        """Look again when the share would count as silent, or when its period ends."""
        due = now + self.svc.settings.live_stale_seconds
        await tx.set_timer(LIVE_CHECK, user_id, due if until is None else min(due, until))

    async def started(self, tx: Tx, person: Person, where: Where,
                      until: float | None) -> bool:
        """The first message of a live share. True if it was kept for a running check-in
        (no alert is raised); False: it counts as a location like any other (the caller
        raises the alert, or moves the open one)."""
        now = self.svc.now()
        lat, lon, acc, taken = where
        await tx.store_live_share(person.user_id, lat, lon, acc, taken, now, until)
        await self._arm(tx, person.user_id, now, until)
        if await tx.open_alert_of(person.user_id) is not None:
            return False
        if await tx.checkin_of(person.user_id) is None:
            return False
        await notify.send(tx, person.user_id, Outgoing(t(
            person.language, "Your live location is kept with your timer. It is used only "
            "if you don't tap \"I'm OK\" in time.")), now, priority=PRIORITY_REPLY)
        return True

    async def moved(self, tx: Tx, person: Person, where: Where, until: float | None) -> None:
        """A live share moved (an edited message). Stored at most once per
        ``LIVE_MIN_INTERVAL_SECONDS``; on an open alert it moves the alert's position and
        the holder's live message. Answers nothing: a share moves every few seconds."""
        now = self.svc.now()
        uid = person.user_id
        share = await tx.live_share(uid)
        gap = self.svc.settings.live_min_interval_seconds
        if share is not None and now - share.stored_at < gap:
            return  # throttled
        alert = await tx.open_alert_of(uid)
        if alert is None and await tx.checkin_of(uid) is None:
            # Still streaming after its alert closed: raises nothing, and is not kept.
            await tx.forget_live_share(uid)
            return
        lat, lon, acc, taken = where
        await tx.store_live_share(uid, lat, lon, acc, taken, now, until)
        await self._arm(tx, uid, now, until)
        if alert is None:
            return
        await tx.update_alert(alert.id, lat=lat, lon=lon, accuracy_m=acc, located_at=taken)
        if share is not None and share.state != "live":
            # Back after a silence (or a new period): the stale mark goes from the cards.
            await tx.add_event(alert.id, now, "live_resumed", uid)
            await notify.refresh_alert_messages(tx, alert.id, now)
            return
        moved = await tx.alert(alert.id)
        if moved is not None:
            await notify.keep_live_pin(tx, moved, now)

    async def check(self, user_id: int) -> None:
        """The ``live_check`` timer: a share that went silent, or whose period ended, is
        noted on the alert's timeline, marked on the cards and told to the holder."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            if not await tx.is_due(LIVE_CHECK, user_id, now):
                return
            share = await tx.live_share(user_id)
            if share is None or share.state == "ended":
                return
            ended = share.live_until is not None and now >= share.live_until
            stale = self.svc.settings.live_stale_seconds
            silent = now - share.stored_at >= stale
            alert = await tx.open_alert_of(user_id)
            if ended and alert is None and await tx.checkin_of(user_id) is None:
                await tx.forget_live_share(user_id)
                return
            if ended:
                await tx.set_live_state(user_id, "ended")
            elif not silent:  # moved meanwhile: look again when it could be silent
                return await self._arm(tx, user_id, share.stored_at, share.live_until)
            elif share.live_until is not None:  # silent: still note its end
                await tx.set_timer(LIVE_CHECK, user_id, share.live_until)
            if alert is None or (not ended and share.state != "live"):
                return  # nobody to tell, or told already
            if ended:
                await tx.add_event(alert.id, now, "live_ended", None)
                template = (N_("Alert #{id}: the reporter's live location has ended. Their last "
                            "position was taken {ago}."))
            else:
                await tx.set_live_state(user_id, "silent")
                await tx.add_event(alert.id, now, "live_silent", None)
                template = (N_("Alert #{id}: no live location update for a while. The last "
                            "position was taken {ago} and may be out of date."))
            holder = alert.claimed_by or alert.acknowledged_by
            if holder is not None:
                lang = lang_of(await tx.person(holder))
                await notify.send(tx, holder, Outgoing(t(
                    lang, template, id=alert.id, ago=notify.ago(lang, now - share.located_at))),
                    now, kind="case", priority=PRIORITY_CASE, alert_id=alert.id)
            await notify.refresh_alert_messages(tx, alert.id, now)
