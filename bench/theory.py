"""The best any bot could do under Telegram's limits, for the burst's arrival pattern.

A small schedule simulation with the emulator's exact limits (1 message per second to one
chat, 20 a minute to one group, 30 per second overall) and the burst's whole load: one
"received" per reporter (none can be bundled), the lawyers' cards, the group notices. Each
free place of the overall limit goes, in this order, to a waiting confirmation; to a lawyer
who may be written to again, preferring one waiting for an alert no lawyer has seen yet
(the lawyers of a region staggered; that alert goes in the message first; of its lawyers
the one whose oldest card waits longest), then the one with the oldest unseen card,
keeping one lawyer of each region free for its next alert; to a group whose own limit
allows (a message every 3 s, the 20 a minute spread out). A third order puts the groups
first: the groups' best (groups last, as the first version had it only, left them to
wait for the lawyers' backlog and called 22 s the best when 9 s is possible).
With bundling one message carries all that is waiting for that chat (at most ``bundle``
cards, ``group_bundle`` notices), without it one. Confirmations first is the best for them
(they arrive slower than the overall limit, so they never wait) and costs the lawyers no
more than the places the confirmations must take in any order. Network time is left out:
a best figure is what the limits alone impose.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from emulator import Limits


@dataclass(frozen=True)
class Best:
    first: list[float]  # per alert: seconds from arrival to its first lawyer card
    every: list[float]  # per alert: seconds from arrival until its last lawyer has it
    last_card: float  # seconds from the first alert to the last card
    confirm: list[float] = field(default_factory=list)  # per alert: to its "received"
    group: list[float] = field(default_factory=list)  # per (group, alert): to its notice


def simulate(alerts: int, lawyers: int, regions: int, seconds: float, bundle: int,
             limits: Limits | None = None, groups: int = 0, group_bundle: int = 25,
             confirmations: bool = True, stagger: bool = True,
             groups_first: bool = False, patience: float = 0.0) -> Best:
    """``stagger``: prefer the lawyers waiting for an alert nobody has seen (best for the
    first lawyer); without, always the lawyer waiting longest (often better for the last).
    ``groups_first``: a group whose own limit allows goes before everyone else (best for
    the groups: they need a few places a second at most; last, as in the other schedules,
    they wait until the lawyers' backlog is gone and their best looked twice as late);
    with ``patience``, only a group whose oldest notice waited that long goes first (the
    bot's ``GROUP_PATIENCE``), the others last."""
    lim = limits or Limits()
    slot = lim.overall_window / lim.overall
    chat_gap = lim.per_chat_window / lim.per_chat
    group_gap = lim.per_group_window / lim.per_group
    arrival = [i * seconds / alerts for i in range(alerts)]
    region_lawyers = [[x for x in range(lawyers) if x % regions == r] for r in range(regions)]
    pending: list[list[int]] = [[] for _ in range(lawyers)]  # per lawyer, alert ids (FIFO)
    ready = [0.0] * lawyers
    first = [math.inf] * alerts
    every = [0.0] * alerts
    confirm = [math.nan] * alerts
    told: deque[int] = deque()
    notices: list[list[int]] = [[] for _ in range(groups)]
    group_ready = [0.0] * groups
    group_seen: list[float] = []
    arrived, t, last = 0, 0.0, 0.0
    while arrived < alerts or any(pending) or told or any(notices):
        while arrived < alerts and arrival[arrived] <= t + 1e-12:
            for lawyer in region_lawyers[arrived % regions]:
                pending[lawyer].append(arrived)
            if confirmations:
                told.append(arrived)
            for g in range(groups):
                notices[g].append(arrived)
            arrived += 1
        open_groups = [g for g in range(groups) if notices[g] and group_ready[g] <= t + 1e-12]
        overdue = [g for g in open_groups if t - arrival[notices[g][0]] >= patience - 1e-12]
        if groups_first and overdue:
            t = _group_send(overdue, notices, group_ready, group_seen, arrival, t,
                            group_bundle, group_gap) + slot
            continue
        if told:
            a = told.popleft()
            confirm[a] = t - arrival[a]
            t += slot
            continue
        candidates = [x for x in range(lawyers) if pending[x] and ready[x] <= t + 1e-12]
        if candidates:
            fresh = [x for x in candidates
                     if stagger and any(first[a] == math.inf for a in pending[x])]
            if stagger and not fresh:  # keep one lawyer of each region ready for its next
                spare = [x for x in candidates
                         if sum(1 for y in candidates if y % regions == x % regions) > 1]
                candidates = spare or candidates
            # the oldest alert nobody has seen, to the one of its lawyers waiting longest
            lawyer = (min(fresh, key=lambda x: (min(a for a in pending[x] if first[a] == math.inf),
                                                pending[x][0]))
                      if fresh else min(candidates, key=lambda x: pending[x][0]))
            unseen = [a for a in pending[lawyer] if first[a] == math.inf][:bundle]
            take = unseen + [a for a in pending[lawyer] if a not in unseen][:bundle - len(unseen)]
            pending[lawyer] = [a for a in pending[lawyer] if a not in take]
            for a in take:
                first[a] = min(first[a], t - arrival[a])
                every[a] = max(every[a], t - arrival[a])
            ready[lawyer] = t + chat_gap
            last = t
            t += slot
            continue
        if open_groups:
            t = _group_send(open_groups, notices, group_ready, group_seen, arrival, t,
                            group_bundle, group_gap) + slot
            continue
        upcoming = [ready[x] for x in range(lawyers) if pending[x]]
        upcoming += [group_ready[g] for g in range(groups) if notices[g]]
        if arrived < alerts:
            upcoming.append(arrival[arrived])
        t = max(t + 1e-9, min(upcoming))
    return Best(first=first, every=every, last_card=last,
                confirm=[c for c in confirm if not math.isnan(c)], group=group_seen)


def _group_send(open_groups: list[int], notices: list[list[int]], group_ready: list[float],
                group_seen: list[float], arrival: list[float], t: float, group_bundle: int,
                group_gap: float) -> float:
    """The group waiting longest gets its oldest notices, as many as one message holds."""
    g = min(open_groups, key=lambda x: notices[x][0])
    take = notices[g][:group_bundle]
    del notices[g][:len(take)]
    group_seen.extend(t - arrival[a] for a in take)
    group_ready[g] = t + group_gap
    return t
