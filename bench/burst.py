"""Scenario ``burst``: many reporters detained at once, under Telegram's real limits.

The question is not how fast one message goes but whether every on-call lawyer of the
region learns of every alert within seconds while the bot stays under the flood limits;
the same burst with bundling switched off shows what bundling buys.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import Summary
from bench.stage import Stage, stage
from bench.world import BURST_REGIONS, near, send_location, stored_alerts
from emulator import Faults, Limits

BUNDLE = 25  # bot.delivery.outbox.BUNDLE_LIMITS["alert"], restated: the bench must not import it


@dataclass
class BurstResult:
    coalesce: bool
    label: str  # which code and configuration: "now", "before", "coalescing off"
    alerts: int
    stored: int
    first: Summary  # per alert: handed to the bot → first lawyer card
    every: Summary  # per alert: handed to the bot → its last lawyer has seen it
    confirm: Summary  # per alert: handed to the bot → its reporter told "received"
    group: Summary  # per (group, alert): handed to the bot → the group shows it
    groups_unreached: int  # (group, alert) pairs never shown when the run ended
    pins: int  # location pins sent
    unreached: int  # alerts some lawyer of the region had not seen when the run ended
    finished_after: float | None  # seconds from the first alert until all was seen
    messages: int
    limit_429: int
    limit_429_kinds: dict[str, int]
    injected_429: int
    faults: int
    duplicates: int
    peak_rss_mb: float
    samples: dict[str, list[float]] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        summaries = ("first", "every", "confirm", "group")
        out = {k: v for k, v in vars(self).items() if k not in summaries}
        out.update({f"{k}_s": vars(getattr(self, k)) for k in summaries})
        return out


async def run_burst(alerts: int = 200, lawyers: int = 50, seconds: float = 10.0,
                    groups: int = 5, regions: int = 5, fault_rate: float = 0.0,
                    coalesce: bool = True, within: float = 120.0,
                    settle: float = 2.0, code: Path | None = None,
                    label: str = "") -> BurstResult:
    """``code``: run the bot from this source tree instead (``--before``)."""
    keys = BURST_REGIONS[:max(1, min(regions, lawyers))]  # every region has a lawyer
    faults = (Faults(rate=fault_rate, kinds=("429", "500", "drop"), seed=11)
              if fault_rate > 0 else None)
    async with stage(lawyers, alerts, groups, keys, coalesce, faults, code=code) as st:
        await st.wait_until(lambda: False, 1.1)  # start-up traffic out of the windows
        update_of: dict[int, int] = {}
        rng = random.Random(20240502)
        points = [near(st.cast.reporter_regions[u.id], rng) for u in st.cast.reporters]
        by_name = {u.first_name: u.id for u in st.cast.reporters}

        def all_seen() -> bool:
            seen, reporter_of = st.tracker.seen, st.tracker.reporter_of
            if len(reporter_of) < alerts or len(st.tracker.confirmed_at) < alerts:
                return False
            if len(st.tracker.group_seen) < alerts * len(st.cast.groups):
                return False
            return all((law, n) in seen
                       for n, name in reporter_of.items()
                       for law in st.cast.lawyers_of(st.cast.reporter_regions[by_name[name]]))

        async def reporters() -> None:
            start = time.monotonic()
            for i, (user, point) in enumerate(zip(st.cast.reporters, points, strict=True)):
                await asyncio.sleep(max(0.0, start + i * seconds / alerts - time.monotonic()))
                update_of[user.id] = await send_location(st.emu, user, *point)

        began = time.monotonic()
        sender = asyncio.create_task(reporters())
        done = await st.wait_until(lambda: sender.done() and all_seen(), within)
        finished = time.monotonic() - began if done else None
        if not sender.done():
            sender.cancel()
        await st.wait_until(lambda: False, settle)  # let the outbox settle a little
        await st.stop_bot()
        result = await _result(st, coalesce, alerts, update_of, finished)
        result.label = label or ("now" if coalesce else "coalescing off")
        return result


async def _result(st: Stage, coalesce: bool, alerts: int, update_of: dict[int, int],
                  finished: float | None) -> BurstResult:
    alerts_of = await stored_alerts(st.db)
    first, every, unreached = [], [], 0
    confirm, group, groups_unreached = [], [], 0
    for alert_id, reporter in alerts_of.items():
        handed = st.emu.update_handed_at.get(update_of.get(reporter, -1))
        if handed is None:
            unreached += 1
            continue
        if alert_id in st.tracker.first_card:
            first.append(st.tracker.first_card[alert_id] - handed)
        if alert_id in st.tracker.confirmed_at:
            confirm.append(st.tracker.confirmed_at[alert_id] - handed)
        for g in st.cast.groups:
            shown = st.tracker.group_seen.get((g.id, alert_id))
            if shown is None:
                groups_unreached += 1
            else:
                group.append(shown - handed)
        lawyers = st.cast.lawyers_of(st.cast.reporter_regions[reporter])
        seen = [st.tracker.seen.get((law, alert_id)) for law in lawyers]
        if seen and all(s is not None for s in seen):
            every.append(max(s for s in seen if s is not None) - handed)
        else:
            unreached += 1
    unreached += max(0, alerts - len(alerts_of))  # never stored: never seen either
    stats = st.emu.stats
    return BurstResult(
        coalesce=coalesce, label="", alerts=alerts, stored=len(alerts_of),
        first=Summary.of(first), every=Summary.of(every), confirm=Summary.of(confirm),
        group=Summary.of(group), groups_unreached=groups_unreached, pins=st.tracker.pins_sent,
        unreached=unreached, finished_after=finished,
        messages=st.tracker.messages_sent, limit_429=stats["rate_limited"],
        limit_429_kinds=st.tracker.limit_429_kinds(st.emu.limits or Limits()),
        injected_429=st.tracker.injected_429, faults=stats["faults_injected"],
        duplicates=st.tracker.duplicates(), peak_rss_mb=st.peak_rss_mb,
        samples={"first_s": first, "every_s": every, "confirm_s": confirm},
    )
