"""/metrics and /healthz: what an operator watches, read fresh at each request.

The figures come from the database (alerts by state, response times, the outbox) and from
the running parts (Bot API outcomes, updates taken), so they survive restarts where the
database does and cost nothing between scrapes. Each Runner has its own registry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from bot.delivery.botapi import ApiHealth
from bot.delivery.updates import Intake
from storage import Storage

# Seconds: from a page going out to the first lawyer's answer; a claim can take longer.
ACK_BUCKETS = (15.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 1800.0, 3600.0)
CLAIM_BUCKETS = (60.0, 180.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 21600.0)
STALE_AFTER = 120.0  # clock seconds without an answer from the Bot API: not healthy
DB_TIMEOUT = 5.0  # a database that takes longer to answer a read counts as not answering
TELEGRAM = "telegram:"  # what names the Bot API's trouble in failing()


@dataclass
class Snapshot:
    """The database's part of a scrape, read in one go."""

    alerts: dict[str, int]
    ack_times: list[float]
    claim_times: list[float]
    outbox: dict[str, int]
    oldest_pending_at: float | None


async def snapshot(storage: Storage) -> Snapshot:
    async with storage.read() as tx:
        ack, claim = await tx.alert_response_times()
        return Snapshot(await tx.alert_counts(), ack, claim, await tx.outbox_counts(),
                        await tx.oldest_pending_at())


def histogram(name: str, doc: str, values: list[float],
              buckets: tuple[float, ...]) -> HistogramMetricFamily:
    counts = [sum(1 for v in values if v <= b) for b in buckets]
    pairs = [(repr(b), float(c)) for b, c in zip(buckets, counts, strict=True)]
    pairs.append(("+Inf", float(len(values))))
    return HistogramMetricFamily(name, doc, buckets=pairs, sum_value=sum(values))


class Figures(Collector):
    """Turns one snapshot and the live counters into metric families."""

    def __init__(self, now: Callable[[], float], api: ApiHealth) -> None:
        self.now = now
        self.api = api
        self.updates: dict[str, int] = {}  # the Intake's counts, once it exists
        self.last: Snapshot | None = None  # filled just before each scrape

    def collect(self) -> Iterator[Metric]:
        yield from self._database()
        errors = CounterMetricFamily("qorgau_botapi_errors", "Bot API calls that failed, by "
                                     "kind (HTTP status, network, timeout)", labels=["kind"])
        for kind, count in sorted(self.api.errors.items()):
            errors.add_metric([kind], float(count))
        yield errors
        yield CounterMetricFamily("qorgau_botapi_calls", "Bot API calls made",
                                  value=float(self.api.calls))
        yield CounterMetricFamily("qorgau_botapi_rate_limited", "Bot API answers 429 (Too Many "
                                  "Requests)", value=float(self.api.errors.get("429", 0)))
        yield GaugeMetricFamily("qorgau_botapi_reachable", "1 if the last Bot API call was "
                                "answered", value=1.0 if self.api.reachable else 0.0)
        updates = CounterMetricFamily("qorgau_updates", "Telegram updates taken, by outcome",
                                      labels=["outcome"])
        for outcome, count in sorted(self.updates.items()):
            updates.add_metric([outcome], float(count))
        yield updates

    def _database(self) -> Iterable[Metric]:
        snap = self.last
        if snap is None:
            return
        alerts = GaugeMetricFamily("qorgau_alerts", "Alerts by state", labels=["state"])
        for state in ("open", "acknowledged", "claimed", "closed"):
            alerts.add_metric([state], float(snap.alerts.get(state, 0)))
        yield alerts
        yield histogram("qorgau_alert_ack_seconds", "Seconds from an alert to its "
                        "acknowledgement", snap.ack_times, ACK_BUCKETS)
        yield histogram("qorgau_alert_claim_seconds", "Seconds from an alert to its claim",
                        snap.claim_times, CLAIM_BUCKETS)
        outbox = GaugeMetricFamily("qorgau_outbox_messages", "Outbox rows by state",
                                   labels=["state"])
        for state in ("pending", "sent", "failed", "superseded"):
            outbox.add_metric([state], float(snap.outbox.get(state, 0)))
        yield outbox
        age = 0.0 if snap.oldest_pending_at is None else max(
            0.0, self.now() - snap.oldest_pending_at)
        yield GaugeMetricFamily("qorgau_outbox_oldest_pending_seconds", "Age of the oldest "
                                "message waiting to be sent (0: none waits)", value=age)


class Metrics:
    """One registry per running bot, and the health verdict. Served from the start on, so
    a bot still waiting for the Bot API says so instead of not answering."""

    def __init__(self, storage: Storage, now: Callable[[], float], api: ApiHealth) -> None:
        self.storage = storage
        self.now = now
        self.api = api
        self.registry = CollectorRegistry(auto_describe=False)
        self.figures = Figures(now, api)
        self.registry.register(self.figures)
        self.tasks: list[asyncio.Task[Any]] = []  # the loops whose death makes us unhealthy
        self.running = False  # every loop started
        # "leader", or "standby" while another instance runs the bot (storage/postgres.py)
        self.role: Callable[[], str] = lambda: "leader"

    def started(self, intake: Intake, tasks: list[asyncio.Task[Any]]) -> None:
        self.figures.updates = intake.counts
        self.tasks = list(tasks)
        self.running = True

    async def exposition(self) -> bytes:
        self.figures.last = await asyncio.wait_for(snapshot(self.storage), DB_TIMEOUT)
        return generate_latest(self.registry)

    async def failing(self) -> list[str]:
        """The parts that are not well, each named with why; empty when all is well."""
        problems: list[str] = []
        try:
            await asyncio.wait_for(ping(self.storage), DB_TIMEOUT)
        except Exception as exc:  # locked past the timeout, closed, disk gone
            problems.append(f"database: {type(exc).__name__}")
        if self.role() != "leader":  # a standby sends nothing: only its database counts
            return problems
        if not self.running:
            problems.append("starting: waiting for the Bot API")
        problems += [f"{task.get_name()}: stopped" for task in self.tasks if task.done()]
        now = self.now()
        if self.api.down_since is not None:
            problems.append(f"{TELEGRAM} unreachable for {now - self.api.down_since:.0f} s")
        elif self.api.last_ok_at is None or now - self.api.last_ok_at > STALE_AFTER:
            problems.append(f"{TELEGRAM} no answer recently")
        return problems


async def ping(storage: Storage) -> None:
    async with storage.read() as tx:
        await tx.oldest_pending_at()
