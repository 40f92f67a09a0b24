"""/report [days]: the figures a network reports to international bodies, as a chart and
as text. Figures only: counts per day by outcome and response times, never a name, a
place or anything a person wrote.

The chart is drawn with matplotlib's Agg backend (no display, no GUI toolkit): a server
has neither."""

from __future__ import annotations

import base64
import io
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain import notify
from bot.domain.coordination import minutes, percentile
from bot.domain.messages import Outgoing
from bot.domain.services import Services
from bot.i18n import N_, lang_of, t, tn
from storage import Alert

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_DAYS = 366
STILL_OPEN = N_("still open")


@dataclass(frozen=True)
class Figures:
    """Alerts per local day by outcome (days with data only, oldest first), and seconds
    to acknowledge and to claim."""

    days: list[tuple[str, dict[str, int]]]
    ack: list[float]
    claim: list[float]

    @classmethod
    def of(cls, alerts: list[Alert]) -> Figures:
        per_day: dict[str, dict[str, int]] = {}
        for a in alerts:
            outcome = STILL_OPEN if a.is_open else (a.outcome or "closed")
            day = per_day.setdefault(notify.local_date(a.created_at), {})
            day[outcome] = day.get(outcome, 0) + 1
        return cls(sorted(per_day.items()),
                   [a.acknowledged_at - a.created_at for a in alerts if a.acknowledged_at],
                   [a.claimed_at - a.created_at for a in alerts if a.claimed_at])

    def summary(self, values: list[float]) -> tuple[float | None, float | None]:
        return (statistics.median(values) if values else None, percentile(values, 90))


def chart(lang: str, figures: Figures, days: int) -> Figure:
    """Two panels: alerts per day, one stacked bar per day with data, by outcome; and the
    median and 90th percentile of the time to acknowledge and to claim, in minutes."""
    # Imported here, not at start: matplotlib costs the bot ~30 MB of memory, and only a
    # coordinator's /report needs it. Agg: headless, on any server.
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(9, 6.5), dpi=100)
    top, bottom = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 2]})
    labels = [day for day, _ in figures.days]
    outcomes = sorted({o for _, counts in figures.days for o in counts})
    base = [0] * len(labels)
    for outcome in outcomes:
        heights = [counts.get(outcome, 0) for _, counts in figures.days]
        top.bar(labels, heights, bottom=base, label=t(lang, outcome))
        base = [b + h for b, h in zip(base, heights, strict=True)]
    top.set_title(t(lang, "Alerts per day, last {d} day(s)", d=days))
    top.set_ylabel(t(lang, "alerts"))
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    if outcomes:
        top.legend(fontsize="small")
    top.tick_params(axis="x", labelrotation=45, labelsize="small")
    names = [t(lang, "acknowledge: median"), t(lang, "acknowledge: p90"),
             t(lang, "claim: median"), t(lang, "claim: p90")]
    values = [*figures.summary(figures.ack), *figures.summary(figures.claim)]
    bottom.barh(names, [(v or 0.0) / 60 for v in values], color="#6a8caf")
    bottom.set_xlabel(t(lang, "minutes"))
    bottom.set_title(t(lang, "Time to acknowledge and to claim"))
    fig.tight_layout()
    return fig


def png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def text(lang: str, figures: Figures, days: int) -> str:
    """The chart's figures as text, for screen readers and for copying into a report."""
    total = sum(sum(c.values()) for _, c in figures.days)
    ack_m, ack_p = figures.summary(figures.ack)
    claim_m, claim_p = figures.summary(figures.claim)
    lines = [tn(lang, "Report for the last {n} day.", "Report for the last {n} days.", days),
             t(lang, "Alerts raised: {n}.", n=total),
             t(lang, "Time to acknowledge: median {m}, 90th percentile {p}",
               m=minutes(lang, ack_m), p=minutes(lang, ack_p)),
             t(lang, "Time to claim: median {m}, 90th percentile {p}",
               m=minutes(lang, claim_m), p=minutes(lang, claim_p))]
    for day, counts in figures.days:
        lines.append(f"{day}: " + ", ".join(f"{t(lang, k)} {v}"
                                            for k, v in sorted(counts.items())))
    return "\n".join(lines)


class Reports:
    def __init__(self, svc: Services) -> None:
        self.svc = svc

    async def report(self, user_id: int, days: int) -> str | None:
        """/report [days]: the chart and its figures, to a coordinator's private chat."""
        async with self.svc.storage.read() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.is_coordinator:
                return t(lang, "Only coordinators can see reports.")
            alerts = await tx.alerts_since(self.svc.now() - days * 86400)
        figures = Figures.of(alerts)
        image = base64.b64encode(png(chart(lang, figures, days))).decode("ascii")
        async with self.svc.step() as tx:
            now = self.svc.now()
            await notify.send(tx, user_id, Outgoing(
                t(lang, "Alerts per day and response times, last {d} day(s).", d=days),
                photo=image), now)
            await notify.send(tx, user_id, Outgoing(text(lang, figures, days)), now)
        return None
