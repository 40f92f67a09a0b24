"""Pacing under Telegram's limits, so the worker does not draw 429s rather than reacting to
them: per private chat, per group and overall. Pure logic over an injected time."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    private_per_second: float = 1.0
    group_per_minute: float = 20.0
    global_per_second: float = 30.0
    # Our clock and Telegram's are not the same clock: keep a little below the line.
    margin: float = 0.05


class Pacer:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._last: dict[int, float] = {}  # chat -> time of the last send
        self._group_sends: dict[int, deque[float]] = {}
        self._global: deque[float] = deque()
        self._blocked_until: dict[int, float] = {}
        self._global_blocked_until = 0.0

    def _chat_interval(self, chat_id: int) -> float:
        if chat_id < 0:
            return 60.0 / self.limits.group_per_minute
        return 1.0 / self.limits.private_per_second

    def ready_at(self, chat_id: int, now: float) -> float:
        """The earliest time a message to ``chat_id`` may go."""
        at = max(now, self._global_blocked_until, self._blocked_until.get(chat_id, 0.0))
        last = self._last.get(chat_id)
        if last is not None:
            at = max(at, last + self._chat_interval(chat_id) * (1 + self.limits.margin))
        if chat_id < 0:
            window = self._group_sends.get(chat_id)
            if window and len(window) >= self.limits.group_per_minute:
                at = max(at, window[0] + 60.0 * (1 + self.limits.margin))
        return max(at, self.global_ready_at(now))

    def global_ready_at(self, now: float) -> float:
        self._trim(now)
        cap = max(1, int(self.limits.global_per_second * (1 - self.limits.margin)))
        if len(self._global) >= cap:
            return max(now, self._global[0] + 1.0, self._global_blocked_until)
        return max(now, self._global_blocked_until)

    def record(self, chat_id: int, now: float) -> None:
        """A message to ``chat_id`` is going out now."""
        self._last[chat_id] = now
        self._global.append(now)
        if chat_id < 0:
            window = self._group_sends.setdefault(chat_id, deque())
            window.append(now)
            while window and window[0] <= now - 60.0:
                window.popleft()

    def back_off(self, chat_id: int | None, until: float) -> None:
        """Telegram said retry_after: hold that chat (or everything, if it said so)."""
        if chat_id is None:
            self._global_blocked_until = max(self._global_blocked_until, until)
        else:
            self._blocked_until[chat_id] = max(self._blocked_until.get(chat_id, 0.0), until)

    def _trim(self, now: float) -> None:
        while self._global and self._global[0] <= now - 1.0:
            self._global.popleft()
