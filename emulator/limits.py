"""Telegram's flood limits (Bots FAQ), enforced with sliding windows.

A bot that is fine against an unlimited fake gets 429s in production; enforcing the
published limits here makes the bot's own throttling and RetryAfter handling testable.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """How many counted calls fit into which sliding window.

    Defaults follow the Bots FAQ: about 1 message per second to one private chat, 20 per
    minute to one group, 30 per second overall.
    """

    per_chat: int = 1
    per_chat_window: float = 1.0
    per_group: int = 20
    per_group_window: float = 60.0
    overall: int = 30
    overall_window: float = 1.0


COUNTED_EXTRA = frozenset({"copymessage", "forwardmessage", "copymessages", "forwardmessages"})
# Chat actions ("typing...") are not messages: Telegram does not count them as such.
NOT_COUNTED = frozenset({"sendchataction"})


def is_counted(method: str) -> bool:
    """Message-producing methods are the ones Telegram throttles."""
    low = method.lower()
    if low in NOT_COUNTED:
        return False
    return low.startswith(("send", "edit")) or low in COUNTED_EXTRA


class _Window:
    """Timestamps of accepted calls within one sliding window."""

    def __init__(self) -> None:
        self.times: deque[float] = deque()

    def wait_needed(self, now: float, count: int, window: float) -> float:
        """Seconds until one more call fits (0 if it fits now)."""
        while self.times and self.times[0] <= now - window:
            self.times.popleft()
        if len(self.times) < count:
            return 0.0
        # the call fits once the oldest call that keeps us at `count` leaves the window
        return self.times[len(self.times) - count] + window - now


class RateLimiter:
    """Per-chat and global sliding-window counters.

    ``check`` only looks; ``record`` is called after the call succeeded, so refused calls
    (400, 403, 429, injected faults) never use up budget.
    """

    def __init__(self, limits: Limits):
        self.limits = limits
        self._chats: dict[int, _Window] = {}
        self._overall = _Window()

    def check(self, chat_id: int | None, now: float) -> int:
        """0 if the call may go ahead, else retry_after in whole seconds (>= 1)."""
        lim = self.limits
        wait = self._overall.wait_needed(now, lim.overall, lim.overall_window)
        if chat_id is not None:
            win = self._chats.setdefault(chat_id, _Window())
            if chat_id < 0:
                wait = max(wait, win.wait_needed(now, lim.per_group, lim.per_group_window))
            else:
                wait = max(wait, win.wait_needed(now, lim.per_chat, lim.per_chat_window))
        if wait <= 0:
            return 0
        return max(1, math.ceil(wait))

    def record(self, chat_id: int | None, now: float) -> None:
        """Count an accepted call."""
        self._overall.times.append(now)
        if chat_id is not None:
            self._chats.setdefault(chat_id, _Window()).times.append(now)
