"""Reading the emulator's call log into per-alert figures.

Everything is timed on the emulator's clock (``time.monotonic()`` in this process): when it
handed an update to the bot and when a request from the bot arrived. The bot's own clock
never enters a figure, so the bot cannot flatter itself.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from emulator import Call, Emulator, Limits
from emulator.limits import is_counted

ALERT_RE = re.compile(r"Alert #(\d+)")
# A lawyer's card: "🚨 Alert #N · Region" and on the next line 'Reporter: “name”'.
CARD_RE = re.compile(r"Alert #(\d+) · [^\n]*\nReporter: “?([^\n”]+)”?")
RECEIVED_RE = re.compile(r"Alert #(\d+) received")
_K = TypeVar("_K")
SEEN_METHODS = frozenset({"sendmessage", "editmessagetext"})
PIN_METHODS = frozenset({"sendvenue", "sendlocation"})


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class Summary:
    """p50/p95/p99/max of a sample, in seconds, and how many values it has."""

    n: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Summary:
        data = list(values)
        return cls(len(data), percentile(data, 50), percentile(data, 95), percentile(data, 99),
                   max(data) if data else math.nan)


def _text(call: Call) -> str:
    params = call.params or {}
    value = params.get("text") or params.get("title") or params.get("caption") or ""
    return value if isinstance(value, str) else ""


@dataclass
class Tracker:
    """Incrementally folds ``emu.calls`` into who has seen which alert, and when.

    Calls are appended on arrival and finished later (a long poll stays open for seconds),
    so unfinished ones are kept aside and looked at again on the next ``poll``.
    """

    emu: Emulator
    lawyers: frozenset[int]
    reporters: frozenset[int]
    first_card: dict[int, float] = field(default_factory=dict)  # alert -> first lawyer send
    seen: dict[tuple[int, int], float] = field(default_factory=dict)  # (lawyer, alert) -> t
    card_sends: Counter[tuple[int, int]] = field(default_factory=Counter)
    pins: set[tuple[int, int]] = field(default_factory=set)
    reporter_of: dict[int, str] = field(default_factory=dict)  # alert -> reporter's name
    confirmed: dict[int, int] = field(default_factory=dict)  # reporter chat -> alert
    confirmed_at: dict[int, float] = field(default_factory=dict)  # alert -> its "received"
    group_seen: dict[tuple[int, int], float] = field(default_factory=dict)  # (group, alert)
    pins_sent: int = 0
    messages_sent: int = 0
    injected_429: int = 0
    counted_ok: list[tuple[float, int | None]] = field(default_factory=list)  # (time, chat)
    refused_429: list[tuple[float, int | None]] = field(default_factory=list)  # by the limits
    _next: int = 0
    _unfinished: list[Call] = field(default_factory=list)

    def poll(self) -> None:
        calls = self.emu.calls
        fresh, self._next = calls[self._next:], len(calls)
        waiting, self._unfinished = self._unfinished + fresh, []
        for call in waiting:
            if call.status == 0 and call.fault != "drop":
                if call.method.lower() != "getupdates":
                    self._unfinished.append(call)
                continue
            self._fold(call)

    def _fold(self, call: Call) -> None:
        if call.fault == "429":
            self.injected_429 += 1
        elif call.status == 429:
            self.refused_429.append((call.time, call.chat_id))
        if call.status != 200:
            return
        if is_counted(call.method):
            self.counted_ok.append((call.time, call.chat_id))
        method = call.method.lower()
        if method.startswith(("send", "edit")):
            self.messages_sent += 1
        chat = call.chat_id
        if chat is None:
            return
        text = _text(call)
        if method in PIN_METHODS:
            self.pins_sent += 1
        if chat < 0:
            for n in ALERT_RE.findall(text):
                _earliest(self.group_seen, (chat, int(n)), call.time)
        elif chat in self.lawyers:
            numbers = {int(n) for n in ALERT_RE.findall(text)}
            if method in SEEN_METHODS:
                for n in numbers:
                    _earliest(self.seen, (chat, n), call.time)
                    if method == "sendmessage":
                        self.card_sends[(chat, n)] += 1
                        _earliest(self.first_card, n, call.time)
                for n, name in CARD_RE.findall(text):
                    self.reporter_of.setdefault(int(n), name)
            elif method in PIN_METHODS:
                self.pins.update((chat, n) for n in numbers)
        elif chat in self.reporters:
            match = RECEIVED_RE.search(text)
            if match:
                self.confirmed.setdefault(chat, int(match.group(1)))
                _earliest(self.confirmed_at, int(match.group(1)), call.time)

    def limit_429_kinds(self, limits: Limits) -> dict[str, int]:
        """Which limit each refused call most likely hit: its chat's window was already full
        when it arrived, or else the overall one (approximated from arrival times)."""
        kinds = {"per_chat": 0, "per_group": 0, "overall": 0}
        for at, chat in self.refused_429:
            group = chat is not None and chat < 0
            window = limits.per_group_window if group else limits.per_chat_window
            allowed = limits.per_group if group else limits.per_chat
            recent = sum(1 for t, c in self.counted_ok if c == chat and at - window < t <= at)
            if chat is not None and recent >= allowed:
                kinds["per_group" if group else "per_chat"] += 1
            else:
                kinds["overall"] += 1
        return kinds

    def duplicates(self) -> int:
        """(lawyer, alert) pairs whose card arrived in more than one successful send."""
        return sum(1 for count in self.card_sends.values() if count > 1)


def _earliest(table: dict[_K, float], key: _K, at: float) -> None:
    old = table.get(key)
    if old is None or at < old:
        table[key] = at
