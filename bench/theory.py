"""The best any bot could do under Telegram's limits, for the burst's arrival pattern.

A small schedule simulation with the emulator's exact limits (1 message per second to one
chat, 30 per second overall), counting only lawyers' cards (they have the top priority, so
pins, confirmations and group notices never delay them in the best case). Each free global
slot goes to the ready lawyer with the oldest undelivered alert; with bundling, that one
message carries all of the lawyer's undelivered alerts (at most ``bundle``), without it one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from emulator import Limits


@dataclass(frozen=True)
class Best:
    first: list[float]  # per alert: seconds from arrival to its first lawyer card
    every: list[float]  # per alert: seconds from arrival until its last lawyer has it
    last_card: float  # seconds from the first alert to the last card


def simulate(alerts: int, lawyers: int, regions: int, seconds: float, bundle: int,
             limits: Limits | None = None) -> Best:
    lim = limits or Limits()
    slot = lim.overall_window / lim.overall
    chat_gap = lim.per_chat_window / lim.per_chat
    arrival = [i * seconds / alerts for i in range(alerts)]
    region_lawyers = [[x for x in range(lawyers) if x % regions == r] for r in range(regions)]
    pending: list[list[int]] = [[] for _ in range(lawyers)]  # per lawyer, alert ids (FIFO)
    ready = [0.0] * lawyers
    first = [math.inf] * alerts
    every = [0.0] * alerts
    left = [len(region_lawyers[i % regions]) for i in range(alerts)]
    arrived, t, last = 0, 0.0, 0.0
    while arrived < alerts or any(pending):
        while arrived < alerts and arrival[arrived] <= t + 1e-12:
            for lawyer in region_lawyers[arrived % regions]:
                pending[lawyer].append(arrived)
            arrived += 1
        candidates = [x for x in range(lawyers) if pending[x] and ready[x] <= t + 1e-12]
        if not candidates:
            upcoming = [ready[x] for x in range(lawyers) if pending[x]]
            if arrived < alerts:
                upcoming.append(arrival[arrived])
            t = max(t + 1e-9, min(upcoming))
            continue
        lawyer = min(candidates, key=lambda x: pending[x][0])
        take = pending[lawyer][:bundle]
        del pending[lawyer][:len(take)]
        for a in take:
            first[a] = min(first[a], t - arrival[a])
            every[a] = max(every[a], t - arrival[a])
            left[a] -= 1
        ready[lawyer] = t + chat_gap
        last = t
        t += slot
    return Best(first=first, every=every, last_card=last)
