"""What coordinators (and, for their alerts, lawyers) read: open alerts, a case's timeline,
and the numbers that show whether the service keeps its promise."""

from __future__ import annotations

import math
import statistics

from bot.domain.notify import ago, quote_lines, quoted, stale_mark, state_words, utc_stamp
from bot.domain.regions import region_name
from bot.domain.services import Services
from bot.i18n import lang_of, t, tn
from storage import Alert, Tx

STATE_ORDER = {"open": 0, "acknowledged": 1, "claimed": 2}


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
    acc = f", ±{alert.accuracy_m:.0f} m" if alert.accuracy_m else ""
    return [t(lang, "Position: {lat:.5f}, {lon:.5f}{acc}, taken {ago}", lat=alert.lat,
              lon=alert.lon, acc=acc, ago=ago(lang, now - taken)) + stale_mark(lang, now - taken)]


CASE_EVENTS = 200  # the newest timeline events /case shows (a few messages at most)


class Coordination:
    def __init__(self, svc: Services) -> None:
        self.svc = svc

    async def open_alerts(self, user_id: int) -> str:
        """/open: every open alert, unacknowledged first, with who holds it."""
        async with self.svc.storage.read() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.is_coordinator:
                return t(lang, "Only coordinators can see all open alerts.")
            alerts = sorted(await tx.open_alerts(),
                            key=lambda a: (STATE_ORDER.get(a.state, 9), a.created_at))
            if not alerts:
                return t(lang, "No open alerts.")
            now = self.svc.now()
            lines = [t(lang, "Open alerts: {n}", n=len(alerts))]
            for a in alerts:
                lines.append(await self._line(tx, lang, a, now))
            return "\n".join(lines)

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
            # Once another lawyer holds the case, what was said in it is theirs to see.
            private = person is not None and person.role == "lawyer" and alert.claimed_by not in (
                None, user_id)
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
                lines.append(f"{utc_stamp(ev.at)} · {t(lang, ev.kind)}{who}{extra}")
            # A long answer goes as several messages (notify.send splits it); only a timeline
            # swollen by a flood is shortened, to its newest events, and says so.
            if len(lines) > CASE_EVENTS:
                skipped = len(lines) - CASE_EVENTS
                lines = [t(lang, "({n} earlier events not shown)", n=skipped),
                         *lines[-CASE_EVENTS:]]
            return "\n".join([head, *where, *lines])

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
