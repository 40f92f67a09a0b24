"""Every Bot API request goes through ``MeteredRequest``: python-telegram-bot's own
HTTPXRequest (so a proxy, HTTP or SOCKS5, applies to every call), plus a record of how the
calls went. /healthz asks it whether Telegram answers, /metrics counts its errors, and the
outage watch learns from it since when Telegram has been out of reach."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram.error import TimedOut
from telegram.request import HTTPXRequest, RequestData

# Answers that mean the bot cannot work although Telegram answered: the token was revoked
# (401, 404), or another instance is polling with it (409).
BROKEN = frozenset({401, 404, 409})
NETWORK = "network"
TIMEOUT = "timeout"


@dataclass
class ApiHealth:
    """How the Bot API has been answering. Times are the injected clock's seconds.

    A call counts as answered when Telegram answered below 500: a refusal of one message
    (400, 403) is still Telegram talking. A timeout, a dropped connection, a 5xx (often a
    proxy's 502), or an answer in ``BROKEN`` is a failure."""

    now: Callable[[], float]
    calls: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # "network", "timeout", "429", ...
    last_ok_at: float | None = None
    last_failed_at: float | None = None
    down_since: float | None = None  # first failure since the last answer

    @property
    def reachable(self) -> bool:
        """The most recent call reached Telegram (none yet: not known to be down)."""
        return self.down_since is None

    def answered(self, status: int) -> None:
        self.calls += 1
        if status >= 500 or status in BROKEN:
            self.errors[str(status)] += 1
            self._failed()
            return
        if status >= 300:
            self.errors[str(status)] += 1
        self.last_ok_at = self.now()
        self.down_since = None

    def unanswered(self, kind: str) -> None:
        self.calls += 1
        self.errors[kind] += 1
        self._failed()

    def _failed(self) -> None:
        self.last_failed_at = self.now()
        if self.down_since is None:
            self.down_since = self.last_failed_at


class MeteredRequest(HTTPXRequest):
    """HTTPXRequest that tells ``health`` the outcome of each call (never its URL, which
    holds the token, nor its body)."""

    def __init__(self, health: ApiHealth, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.health = health

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        try:
            status, body = await super().do_request(url, method, request_data, *args, **kwargs)
        except TimedOut:
            self.health.unanswered(TIMEOUT)
            raise
        except Exception:  # NetworkError: refused, reset, a proxy that refuses, DNS
            self.health.unanswered(NETWORK)
            raise
        self.health.answered(status)
        return status, body
