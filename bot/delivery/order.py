"""What goes first under Telegram's overall limit (30 messages a second): the one place
where the order of sends is decided. Pure logic, no I/O, so it is tested on a synthetic
backlog without the network.

Every pending message falls in one lane; lanes are served in this order:

1. ``CONFIRM`` and ``PAGE``, shared: a reporter's "received" (and every other answer at the
   alert's own priority: a reporter told their case was taken, a typed PIN erased) and each
   alert's first page to the lawyers of its region. A reporter whose phone may be taken
   any moment must learn that the alert got through; the lawyers must learn of it at all.
   Neither may starve the other: while both wait, ``CONFIRM_SHARE`` confirmations go for
   each page (200 confirmations in 10 s need 20 of the 29 places a second; at 1.75 to 1
   they get about 18 while the pages wait, so they fall behind by a second at most in
   such a burst, inside the 2 s a reporter may wait, and the lawyers' bundles get about
   10.5; at 2 to 1 every lawyer of a region saw every alert about 0.7 s later, at 1.5 to
   1 the last reporters waited over 2 s). As each bundle goes to the lawyer with the oldest
   unseen card, the lawyers of a region are reached in turn and one of them sees each
   alert soon.
2. ``WAVE``: escalation waves, an unregistered person's alert, the answers to what a person
   just did.
3. ``GROUP``: press-freedom group notices. Each group has its own budget (20 a minute,
   kept by the pacer), and groups as a whole have their own share of the overall limit:
   one send in ``GROUP_EVERY`` is theirs, before the confirmations and pages, once a
   group's oldest notice has waited ``GROUP_PATIENCE`` seconds, so a mass detention does
   not leave the groups silent until it is over (5 groups at one message each every 3 s
   take under 2 of the 30 places a second). Before that they go after the pages: in a
   burst the lawyers, who act on an alert, get those places while they are behind, and a
   group's later messages carry more notices each (a group shows 200 alerts in 8
   messages whenever they go; sent from the first second, their places cost every lawyer
   of a region a second more: `bench/theory.py`). The share is kept while a group is
   held back only by its own limit (``held_group``): a group free to send again, once
   past the groups' patience, goes at once if no group went in the last ``GROUP_EVERY``
   sends (a counter that restarted whenever every group was pacing made each group wait
   up to a second beyond its 3 s, and the last notice of a burst came that much later).
   With no group waiting at all, no share is banked: a quiet alert's own messages go
   before its group notices.
4. ``EDIT``: edits that only change what a sent message shows (a card's state).
5. ``REST``: everything else (location pins sent on request, case messages, withdrawals,
   reminders).

Within one chat the same order holds, then age: a newer alert's card goes before an older
alert's optional extras. Within a lane, chats go oldest message first.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import NamedTuple

from bot.domain.messages import PRIORITY_ALERT, PRIORITY_REPLY

CONFIRM, PAGE, WAVE, GROUP, EDIT, REST = range(6)
LANES = ("confirm", "page", "wave", "group", "edit", "rest")
URGENT = (CONFIRM, PAGE, GROUP)  # may use the places kept for alerts (groups: their pacing
# keeps them to a few a second)
CONFIRM_SHARE = 1.75  # confirmations per page while both wait
GROUP_EVERY = 5  # one send in this many is the groups' (each group paces itself)
GROUP_PATIENCE = 10.0  # seconds a group's notice waits behind a burst's pages at most


def lane(kind: str, priority: int, target_id: int | None) -> int:
    """The lane of a pending message, from what its row says."""
    if target_id is not None:
        return EDIT if kind == "edit" else REST
    if priority <= PRIORITY_ALERT:
        return PAGE if kind == "alert" else CONFIRM
    if priority <= PRIORITY_REPLY:
        return WAVE
    return GROUP if kind == "group" else REST


class Head(NamedTuple):
    """A chat's most urgent pending message: its lane, its row id (age) and its chat. A
    ``fresh`` head is a lawyer's card of an alert no lawyer has been sent yet (``row_id``
    is then that alert's number): it goes before every other page, so that the lawyers of
    a region are reached in turn and one of them sees each new alert almost at once. Of
    the lawyers who could take that alert first, the one waiting longest goes (``waiting``:
    the row id of their oldest waiting message), so the duty rotates and each such send
    also carries what that lawyer has waited for longest; by chat id, the same few lawyers
    of a region took every new alert and the others heard nothing until the burst ended."""

    lane: int
    row_id: int
    chat: int
    fresh: bool = False
    waiting: int = 0
    since: float = 0.0  # when its message was written (a group's patience)


class Lanes:
    """The chats waiting to send, one heap per lane, and the share kept between
    confirmations and pages. ``pop`` says what goes next; ``sent`` counts what went (a chat
    popped but held back by its own limit does not count against its lane's share)."""

    def __init__(self) -> None:
        self._heaps: list[list[Head]] = [[] for _ in LANES]
        self._fresh: list[tuple[int, int, int, Head]] = []  # by alert, then who waited
        self._sent = [0, 0]  # confirmations, pages, since both began to wait
        self._since_group = 0  # sends since the last group notice (up to the share)
        self._group_held = False  # a group waits for its own limit: its share is kept

    def push(self, head: Head) -> None:
        if head.fresh:
            heapq.heappush(self._fresh, (head.row_id, head.waiting, head.chat, head))
        else:
            heapq.heappush(self._heaps[head.lane], head)

    def __bool__(self) -> bool:
        return any(self._heaps) or bool(self._fresh)

    def pop(self, now: float) -> Head | None:
        """What goes next, ``now`` on the clock the heads' ``since`` were written with."""
        groups = self._heaps[GROUP]
        confirm, page = self._heaps[CONFIRM], bool(self._heaps[PAGE] or self._fresh)
        if (groups and self._since_group >= GROUP_EVERY - 1  # the groups' own share
                and (now - groups[0].since >= GROUP_PATIENCE or not (confirm or page))):
            return heapq.heappop(groups)
        if confirm and page:
            if self._sent[0] <= CONFIRM_SHARE * self._sent[1]:
                return heapq.heappop(confirm)
            return self._page()
        self._sent = [0, 0]  # a lane that ran dry banks no credit
        if confirm:
            return heapq.heappop(confirm)
        if page:
            return self._page()
        for heap in self._heaps:
            if heap:
                return heapq.heappop(heap)
        return None

    def _page(self) -> Head:
        """The oldest alert no lawyer has seen yet, to the one of its lawyers waiting
        longest; else the lawyer waiting longest."""
        if self._fresh:
            return heapq.heappop(self._fresh)[3]
        return heapq.heappop(self._heaps[PAGE])

    def sent(self, lane_: int) -> None:
        if lane_ in (CONFIRM, PAGE):
            self._sent[lane_ - CONFIRM] += 1
        if lane_ == GROUP:
            self._since_group, self._group_held = 0, False
        elif self._heaps[GROUP] or self._group_held:
            self._since_group = min(GROUP_EVERY - 1, self._since_group + 1)
        else:  # no group waits: none banks a share
            self._since_group = 0

    def held_group(self) -> None:
        """A group popped could not send yet (its own 20 a minute): keep the groups'
        share for it."""
        self._group_held = True


def plan(heads: Iterable[Head], places: int, now: float = GROUP_PATIENCE) -> list[Head]:
    """The order in which ``places`` sends would go, one per chat, for these chats' most
    urgent messages (the worker makes the same choices one send at a time); by default
    ``now`` is when heads written at 0 have waited out the groups' patience."""
    lanes = Lanes()
    for waiting in heads:
        lanes.push(waiting)
    out: list[Head] = []
    while len(out) < places:
        head = lanes.pop(now)
        if head is None:
            break
        lanes.sent(head.lane)
        out.append(head)
    return out
