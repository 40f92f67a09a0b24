"""Injected failures, so the bot's retry and error paths run in tests and benchmarks.

Faults are decided before the call takes effect: a send that fails never delivers, exactly
like a real 5xx or lost connection seen by the client (the ambiguous "delivered but the
answer was lost" case is deliberately not modelled).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

FAULT_KINDS = ("429", "500", "drop", "slow")

# Never faulted by default: the bot must be able to start and receive updates.
_NEVER_BY_DEFAULT = frozenset({"getupdates", "getme", "setwebhook"})
_DEFAULT_EXTRA = frozenset({"answercallbackquery", "deletemessage", "pinchatmessage"})


@dataclass
class Faults:
    """Fault injection settings; assign to ``emu.faults`` at any time (None switches off).

    ``methods=None`` means every send*/edit* method plus answerCallbackQuery, deleteMessage
    and pinChatMessage. Methods listed explicitly are faulted even if they are
    getUpdates/getMe/setWebhook (the caller asked for it).
    """

    rate: float = 0.1
    kinds: tuple[str, ...] = FAULT_KINDS
    slow_seconds: float = 2.0
    seed: int | None = None
    methods: Iterable[str] | None = None
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _methods: frozenset[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be within 0..1")
        bad = [k for k in self.kinds if k not in FAULT_KINDS]
        if bad or not self.kinds:
            raise ValueError(f"kinds must be a non-empty subset of {FAULT_KINDS}, got {bad}")
        self._rng = random.Random(self.seed)
        self._methods = None if self.methods is None else frozenset(m.lower() for m in self.methods)

    def applies_to(self, method: str) -> bool:
        """Whether calls of this method may be faulted."""
        low = method.lower()
        if self._methods is not None:
            return low in self._methods
        if low in _NEVER_BY_DEFAULT:
            return False
        return low.startswith(("send", "edit")) or low in _DEFAULT_EXTRA

    def pick(self, method: str) -> str | None:
        """The fault to inject into this call, or None."""
        if not self.applies_to(method) or self.rate <= 0:
            return None
        if self._rng.random() >= self.rate:
            return None
        return self._rng.choice(self.kinds)
