"""Pacing under Telegram's limits, so the worker does not draw 429s rather than reacting to
them: per private chat, per group and overall. Pure logic over an injected time.

Telegram counts a message when its request arrives, which is somewhere between our dispatch
and its answer. So a send occupies the windows from dispatch until its answer comes back
(``finish``): conservative, and immune to requests that travel at different speeds.

Only messages count (sent, edited, copied: what Telegram throttles). A call that is not
one (a person's command menu, a pin, deleting a typed PIN) still goes one at a time per
chat and only when the overall limit has a place, but takes none: 50 staff menus renewed
at a start would otherwise fill the second in which a burst of alerts begins. Such calls
have a small budget of their own instead (``OTHER_PER_SECOND``; Telegram documents no
limit for them, but answers 429 to many), and a 429 to one holds only them.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass

BURST_PLACES = 15  # of the overall limit's places, at most this many go at once
OTHER_PER_SECOND = 5  # calls that are not messages (menus, pins, erasing a typed PIN)


@dataclass(frozen=True)
class Limits:
    private_per_second: float = 1.0
    group_per_minute: float = 20.0
    global_per_second: float = 30.0
    # Our clock and Telegram's are not the same clock: keep a little below the line.
    margin: float = 0.03


def _free_at(answered: deque[float], in_flight: int, now: float, window: float,
             cap: int) -> float:
    """When fewer than ``cap`` sends can still count within ``window``: sends in flight
    always count; answered ones age out ``window`` after their answer."""
    while answered and answered[0] <= now - window:
        answered.popleft()
    surplus = in_flight + len(answered) - cap
    if surplus < 0:
        return now
    if surplus >= len(answered):
        return math.inf  # only answers can free a place
    return answered[surplus] + window


class Pacer:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._ids = itertools.count()
        self._pending: dict[int, int] = {}  # send id -> chat, while in flight
        self._uncounted: set[int] = set()  # send ids in flight that are not messages
        self._tokens, self._tokens_at = float(BURST_PLACES), 0.0  # the spreading bucket
        self._chat_in_flight: dict[int, int] = {}
        self._last: dict[int, float] = {}  # chat -> when its latest send was answered
        self._answered: deque[float] = deque()  # answer times, last second, all chats
        self._group_answered: dict[int, deque[float]] = {}  # the last minute, per group
        self._blocked_until: dict[int, float] = {}
        self._global_blocked_until = 0.0
        self._other_answered: deque[float] = deque()  # calls that are not messages
        self._other_blocked_until = 0.0

    def _cap(self, per_window: float) -> int:
        return max(1, math.floor(per_window * (1 - self.limits.margin)))

    def ready_at(self, chat_id: int, now: float, reserve: int = 0,
                 counted: bool = True) -> float:
        """The earliest time a message to ``chat_id`` may go (``reserve``: see below;
        ``counted``: False for a call that is not a message, see above)."""
        if self._chat_in_flight.get(chat_id):
            return math.inf  # one request at a time per chat
        at = max(now, self._blocked_until.get(chat_id, 0.0))
        if not counted:
            others = len(self._uncounted)
            return max(at, self._other_blocked_until, self.global_ready_at(now, reserve),
                       _free_at(self._other_answered, others, now, 1.0, OTHER_PER_SECOND))
        last = self._last.get(chat_id)
        if chat_id < 0:
            interval = 60.0 / self.limits.group_per_minute
            answered = self._group_answered.setdefault(chat_id, deque())
            at = max(at, _free_at(answered, 0, now, 60.0,
                                  self._cap(self.limits.group_per_minute)))
        else:
            interval = 1.0 / self.limits.private_per_second
        if last is not None:
            at = max(at, last + interval * (1 + self.limits.margin))
        return max(at, self.global_ready_at(now, reserve))

    def global_ready_at(self, now: float, reserve: int = 0) -> float:
        """When the overall limit has a place; ``reserve`` places of it are kept free for
        others (alerts), so that a flood of lesser messages never fills the whole second.
        The places are also spread over the second, a token bucket in front of the
        window: up to ``BURST_PLACES`` at once (a quiet alert's cards), then one every
        1/29 s. Taken all at once as soon as the window freed, they went in one bunch a
        second, to whoever waited at that instant, and a reporter's "received" written
        just after waited for the next bunch (every confirmation of a burst 0 to 0.9 s
        late, in a saw-tooth)."""
        cap = self._cap(self.limits.global_per_second)
        kept = min(reserve, cap // 2)
        in_flight = len(self._pending) - len(self._uncounted)
        free = _free_at(self._answered, in_flight, now, 1.0, max(1, cap - kept))
        size = min(BURST_PLACES, cap)
        need = 1 + size * kept / cap  # lesser messages leave the alerts their share
        tokens = self._tokens_now(now)
        if tokens < need:
            free = max(free, now + (need - tokens) / cap)
        return max(free, self._global_blocked_until)

    def _tokens_now(self, now: float) -> float:
        """The places that may go at once now: the bucket refills at the overall rate."""
        cap = self._cap(self.limits.global_per_second)
        size = min(BURST_PLACES, cap)
        return min(size, self._tokens + max(0.0, now - self._tokens_at) * cap)

    def record(self, chat_id: int, now: float, counted: bool = True) -> int:
        """A message to ``chat_id`` is dispatched now; returns the id for ``finish``.
        ``counted``: False for a call that is not a message (see above)."""
        send_id = next(self._ids)
        self._pending[send_id] = chat_id
        if not counted:
            self._uncounted.add(send_id)
        else:
            self._tokens, self._tokens_at = self._tokens_now(now) - 1, now
        self._chat_in_flight[chat_id] = self._chat_in_flight.get(chat_id, 0) + 1
        return send_id

    def cancel(self, send_id: int) -> None:
        """The send was dropped before any request (its rows were superseded): it never
        counts against a window (its place in the bucket is given back)."""
        done = self._done(send_id)
        if done is not None and done[1]:
            self._tokens += 1

    def _done(self, send_id: int) -> tuple[int, bool] | None:
        """The send is no longer in flight; returns its chat and whether it was a
        message."""
        chat = self._pending.pop(send_id, None)
        if chat is None:
            return None
        self._chat_in_flight[chat] -= 1
        if not self._chat_in_flight[chat]:
            del self._chat_in_flight[chat]
        if send_id in self._uncounted:
            self._uncounted.discard(send_id)
            return chat, False
        return chat, True

    def finish(self, send_id: int, now: float) -> None:
        """Its answer came back (whatever it said): from now on it ages out of the windows."""
        done = self._done(send_id)
        if done is None:
            return
        chat, counted = done
        if not counted:
            self._other_answered.append(now)  # aged out by _free_at, as _answered is
            return
        self._last[chat] = now
        self._answered.append(now)
        if chat < 0:
            self._group_answered.setdefault(chat, deque()).append(now)
        if send_id % 1024 == 0:
            self._forget(now)

    def _forget(self, now: float) -> None:
        """Chats not written to for two minutes carry no limit any more: drop them, so the
        pacer's memory follows the active chats, not every chat ever contacted."""
        horizon = now - 120.0
        self._last = {c: t for c, t in self._last.items() if t > horizon}
        self._blocked_until = {c: t for c, t in self._blocked_until.items() if t > now}
        self._group_answered = {c: d for c, d in self._group_answered.items()
                                if d and d[-1] > horizon}

    def back_off_others(self, until: float) -> None:
        """Telegram said retry_after to a call that is not a message: hold those calls
        only (a menu's 429 must not hold a person's pages, nor count toward holding all)."""
        self._other_blocked_until = max(self._other_blocked_until, until)

    def back_off(self, chat_id: int | None, until: float) -> None:
        """Telegram said retry_after: hold that chat (or everything, if it said so)."""
        if chat_id is None:
            self._global_blocked_until = max(self._global_blocked_until, until)
        else:
            self._blocked_until[chat_id] = max(self._blocked_until.get(chat_id, 0.0), until)
