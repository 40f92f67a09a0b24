"""What coordinators (and, for their alerts, lawyers) read: open alerts, a case's timeline,
and the numbers that show whether the service keeps its promise."""

from __future__ import annotations

import math
import statistics

from bot.domain import notify
from bot.domain.casework import held_counts, kept_from
from bot.domain.messages import PRIORITY_CASE, Button, Outgoing
from bot.domain.notify import (
    ago,
    clock_time,
    local_stamp,
    quote_lines,
    quoted,
    stale_mark,
    state_words,
)
from bot.domain.regions import REGIONS, region_name
from bot.domain.services import Services
from bot.i18n import N_, lang_of, t, tn
from storage import Alert, Tx

STATE_ORDER = {"open": 0, "acknowledged": 1, "claimed": 2}
OPEN_PAGE = 25  # alerts per page of /open: a page always fits one message
# /open's state words (and their callback tokens) -> an alert state.
STATE_WORDS = {"waiting": "open", "open": "open", "acknowledged": "acknowledged",
               "seen": "acknowledged", "held": "claimed", "claimed": "claimed"}

# What each timeline event means, in the reader's words (/case N).
EVENT_WORDS = {
    "raised": N_("alert raised"), "window_ended": N_("undo window ended, lawyers paged"),
    "undone": N_("withdrawn by the reporter within the undo window"),
    "wave": N_("paged again (next wave)"), "acknowledged": N_("acknowledged"),
    "claimed": N_("case claimed"), "declined": N_("could not take it"),
    "handed_over": N_("handed over"), "released": N_("released by the lawyer"),
    "reassigned": N_("moved to another lawyer"), "assign_requested": N_("coordinators asked "
                                                                         "to assign it"),
    "reporter_text": N_("the reporter wrote"), "reporter_media": N_("the reporter sent a file"),
    "lawyer_note": N_("note"), "closing_note": N_("closing note"), "closed": N_("closed"),
    "reporter_safe": N_("the reporter said \"I'm safe\""),
    "safe_withdrawn": N_("the reporter pressed SOS again after \"I'm safe\""),
    "duress": N_("duress PIN entered"), "sos_after_duress": N_("SOS again after the duress PIN"),
    "pin_locked": N_("cancelling locked after wrong PINs"), "position": N_("new position"),
    "live_silent": N_("live location went silent"), "live_resumed": N_("live location resumed"),
    "live_ended": N_("live location ended"), "checkin_missed": N_("check-in missed"),
    "stale_reminder": N_("lawyer reminded: no update for a while"),
    "delivery_failed": N_("a message could not be delivered"),
    "undeliverable": N_("a recipient could not be reached"),
    "unreached_told": N_("coordinators told nobody was reached"),
    "unregistered_limit": N_("held back: too many unregistered alerts"),
    "held": N_("held"), "erased": N_("personal data erased"),
}


def pager(lang: str, page: int, pages: int, data: str) -> tuple[str, tuple[Button, ...]]:
    """A paged list's "Page 2 of 3" line and its buttons (``data:N`` opens page N)."""
    nav = []
    if page > 0:
        nav.append(Button(t(lang, "◀ Previous"), f"{data}:{page - 1}"))
    if page < pages - 1:
        nav.append(Button(t(lang, "Next ▶"), f"{data}:{page + 1}"))
    return t(lang, "Page {page} of {pages}", page=page + 1, pages=pages), tuple(nav)


def event_words(lang: str, kind: str) -> str:
    """An event's kind as a reader says it; an unknown kind still reads as words."""
    return t(lang, EVENT_WORDS[kind]) if kind in EVENT_WORDS else kind.replace("_", " ")


def open_filter(lang: str, word: str | None) -> str | None:
    """/open's argument as a filter: "all", an alert state or a region key; None if it is
    neither (a region may be named by its key or its name, in English or the reader's
    language, with or without "region")."""
    if word is None or word.strip().lower() in ("", "all"):
        return "all"
    raw = word.strip().lower()
    if raw in STATE_WORDS:
        return STATE_WORDS[raw]
    if raw in STATE_ORDER:
        return raw
    for region in REGIONS:
        names = {region.key, region.name.lower(), t(lang, region.name).lower()}
        if raw in names or raw in {n.replace(" region", "") for n in names}:
            return region.key
    return None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no data."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def minutes(lang: str, value: float | None) -> str:
    return "—" if value is None else t(lang, "{m} min", m=f"{value / 60:.1f}")


def position_lines(lang: str, alert: Alert, now: float) -> list[str]:
    """The alert's latest position and its age (marked stale when old), for /case."""
    if alert.lat is None or alert.lon is None:
        return [t(lang, "Position: not shared")]
    taken = alert.located_at or alert.created_at
    age = ago(lang, now - taken)
    where = (t(lang, "Position: {lat:.5f}, {lon:.5f}, ±{m} m, taken {ago}", lat=alert.lat,
               lon=alert.lon, m=f"{alert.accuracy_m:.0f}", ago=age) if alert.accuracy_m else
             t(lang, "Position: {lat:.5f}, {lon:.5f}, taken {ago}", lat=alert.lat,
               lon=alert.lon, ago=age))
    return [where + stale_mark(lang, now - taken)]


CASE_EVENTS = 200  # the newest timeline events /case shows (a few messages at most)


class Coordination:
    def __init__(self, svc: Services) -> None:
        self.svc = svc

    async def open_alerts(self, user_id: int, word: str | None = None, page: int = 0
                          ) -> str | None:
        """/open [region or state]: the open alerts, the oldest unacknowledged first, with
        who holds each, in pages with buttons (a page always fits one message: a day of
        mass detentions must not cut the list mid-line)."""
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.is_coordinator:
                return t(lang, "Only coordinators can see all open alerts.")
            chosen = open_filter(lang, word)
            if chosen is None:
                return t(lang, "Use /open, /open waiting, /open acknowledged, /open held, or "
                               "/open with a region, for example /open almaty.")
            alerts = sorted((a for a in await tx.open_alerts() if chosen in ("all", a.state,
                                                                            a.region)),
                            key=lambda a: (STATE_ORDER.get(a.state, 9), a.created_at))
            if not alerts:
                return t(lang, "No open alerts.")
            now = self.svc.now()
            pages = -(-len(alerts) // OPEN_PAGE)
            page = min(max(0, page), pages - 1)
            lines = [t(lang, "Open alerts: {n}", n=len(alerts))]
            for a in alerts[page * OPEN_PAGE:(page + 1) * OPEN_PAGE]:
                lines.append(await self._line(tx, lang, a, now))
            buttons: tuple[tuple[Button, ...], ...] = ()
            if pages > 1:
                line, nav = pager(lang, page, pages, f"op:{chosen}")
                lines.append(line)
                buttons = (nav,)
            await notify.send(tx, user_id, Outgoing("\n".join(lines), buttons=buttons), now)
            return None

    async def _line(self, tx: Tx, lang: str, a: Alert, now: float) -> str:
        holder_id = a.claimed_by or a.acknowledged_by
        holder = await tx.person(holder_id) if holder_id else None
        who = quoted(holder.name) if holder else t(lang, "nobody")
        flag = "🔴" if a.state == "open" else ("🟡" if a.state == "acknowledged" else "🟢")
        return t(lang, "{flag} #{id} · {age} · {region} · {state} · {who}", flag=flag, id=a.id,
                 age=ago(lang, now - a.created_at), region=t(lang, region_name(a.region)),
                 state=state_words(lang, a), who=who)

    async def case(self, user_id: int, alert_id: int) -> str:
        """/case N: the whole timeline, for coordinators and lawyers paged for it."""
        async with self.svc.storage.read() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            alert = await tx.alert(alert_id)
            allowed = person is not None and (
                person.is_coordinator
                or (person.is_lawyer and alert is not None
                    and await tx.was_notified(alert_id, user_id)))
            if alert is None or not allowed:
                return t(lang, "No alert #{id} that you can see.", id=alert_id)
            now = self.svc.now()
            # Once another lawyer holds the case (or this one declined it), what was said
            # in it, and where, is the holder's to see.
            private = person is not None and await kept_from(tx, person, alert)
            head = await self._line(tx, lang, alert, now)
            where = [] if private else position_lines(lang, alert, now)
            lines = []
            for ev in await tx.events(alert_id):
                actor = await tx.person(ev.actor_id) if ev.actor_id else None
                who = f" · {quoted(actor.name)}" if actor else ""
                text = "" if private else ev.detail.get("text") or ev.detail.get("caption") or ""
                outcome = ev.detail.get("outcome")
                # What people wrote is quoted line by line: it cannot pose as an event.
                extra = (f":\n{quote_lines(str(text))}" if text
                         else f": {t(lang, str(outcome))}" if outcome else "")
                lines.append(f"{local_stamp(ev.at)} · {event_words(lang, ev.kind)}{who}{extra}")
            # A long answer goes as several messages (notify.send splits it); only a timeline
            # swollen by a flood is shortened, to its newest events, and says so.
            if len(lines) > CASE_EVENTS:
                skipped = len(lines) - CASE_EVENTS
                lines = [t(lang, "({n} earlier events not shown)", n=skipped),
                         *lines[-CASE_EVENTS:]]
            return "\n".join([head, *where, *lines])

    async def map(self, user_id: int, in_private: bool) -> str | None:
        """/map: the open alerts' positions as venues titled with their number and state,
        grouped by region, in the coordinator's private chat, where Telegram's own map shows
        them. Coordinators are staff and see every position; a group never sees one here."""
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.is_coordinator:
                return t(lang, "Only coordinators can see the map of open alerts.")
            if not in_private:
                return t(lang, "Send /map in our private chat: positions are never shown "
                               "in a group.")
            alerts = sorted(await tx.open_alerts(),
                            key=lambda a: (region_name(a.region), a.created_at))
            if not alerts:
                return t(lang, "No open alerts.")
            now = self.svc.now()
            regions: dict[str | None, list[Alert]] = {}
            for a in alerts:
                regions.setdefault(a.region, []).append(a)
            for region, group in regions.items():
                placed = [a for a in group if a.lat is not None and a.lon is not None]
                blind = [a for a in group if a not in placed]
                head = tn(lang, "{region}: {n} open alert", "{region}: {n} open alerts",
                          len(group), region=t(lang, region_name(region)))
                if blind:
                    head += "\n" + t(lang, "Without a position: {ids}",
                                     ids=", ".join(f"#{a.id}" for a in blind))
                await notify.send(tx, user_id, Outgoing(head), now)
                for a in placed:
                    assert a.lat is not None and a.lon is not None
                    await notify.send(tx, user_id, Outgoing(
                        t(lang, "#{id} · {state}", id=a.id, state=state_words(lang, a)),
                        location=(a.lat, a.lon)), now, kind="pin", priority=PRIORITY_CASE,
                        alert_id=a.id)  # withdrawn like any pin if the coordinator goes
            return None

    async def lawyers(self, user_id: int) -> str:
        """/lawyers: each lawyer's open cases, on-call state and time since their last
        response (their last act on any alert), on call and least loaded first."""
        async with self.svc.storage.read() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.is_coordinator:
                return t(lang, "Only coordinators can see the lawyers' load.")
            lawyers = [p for p in await tx.people(role="lawyer") if p.registered]
            load = held_counts(await tx.open_alerts())
            last = await tx.last_actions()
        if not lawyers:
            return t(lang, "There are no lawyers registered yet.")
        now = self.svc.now()
        lines = [t(lang, "Lawyers: {n}", n=len(lawyers))]
        for p in sorted(lawyers, key=lambda p: (not p.on_call, load.get(p.user_id, 0), p.name)):
            state = (t(lang, "🟢 on call until {time}", time=clock_time(p.on_call_until))
                     if p.on_call and p.on_call_until else
                     t(lang, "🟢 on call") if p.on_call else t(lang, "⚪ off call"))
            seen = (t(lang, "last response {ago}", ago=ago(lang, now - last[p.user_id]))
                    if p.user_id in last else t(lang, "no response yet"))
            lines.append(f"{quoted(p.name)} · {state} · "
                         + tn(lang, "{n} open case", "{n} open cases", load.get(p.user_id, 0))
                         + f" · {seen}")
        return "\n".join(lines)

    async def stats(self, user_id: int, days: float) -> str:
        """/stats [days]: alerts, time to acknowledge and to claim (median, p90), outcomes."""
        async with self.svc.storage.read() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.is_coordinator:
                return t(lang, "Only coordinators can see statistics.")
            alerts = await tx.alerts_since(self.svc.now() - days * 86400)
        ack = [a.acknowledged_at - a.created_at for a in alerts if a.acknowledged_at]
        claim = [a.claimed_at - a.created_at for a in alerts if a.claimed_at]
        outcomes: dict[str, int] = {}
        for a in alerts:
            if a.outcome:
                outcomes[a.outcome] = outcomes.get(a.outcome, 0) + 1
        lines = [
            tn(lang, "Last {n} day:", "Last {n} days:", round(days)) + " " + tn(
                lang, "{n} alert raised, {o} still open.", "{n} alerts raised, {o} still open.",
                len(alerts), o=sum(1 for a in alerts if a.is_open)),
            t(lang, "Time to acknowledge: median {m}, 90th percentile {p}",
              m=minutes(lang, statistics.median(ack) if ack else None),
              p=minutes(lang, percentile(ack, 90))),
            t(lang, "Time to claim: median {m}, 90th percentile {p}",
              m=minutes(lang, statistics.median(claim) if claim else None),
              p=minutes(lang, percentile(claim, 90))),
        ]
        if outcomes:
            lines.append(t(lang, "Outcomes: {list}", list=", ".join(
                f"{t(lang, k)} {v}" for k, v in sorted(outcomes.items()))))
        return "\n".join(lines)
