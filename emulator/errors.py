"""Telegram's error shape, raised from anywhere in the emulator and rendered by the server.

One exception type keeps the method implementations free of HTTP details: they raise
``ApiError`` and the server turns it into ``{"ok": false, "error_code": N, "description": ...}``.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A refusal exactly as Telegram would send it."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        """The JSON body Telegram sends for this error."""
        out: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            out["parameters"] = self.parameters
        return out


def bad_request(detail: str) -> ApiError:
    """400 with Telegram's "Bad Request: " prefix."""
    return ApiError(400, f"Bad Request: {detail}")


def forbidden(detail: str) -> ApiError:
    """403 with Telegram's "Forbidden: " prefix."""
    return ApiError(403, f"Forbidden: {detail}")


def too_many_requests(retry_after: int) -> ApiError:
    """429 with ``parameters.retry_after``, which python-telegram-bot turns into RetryAfter."""
    return ApiError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


UNAUTHORIZED = ApiError(401, "Unauthorized")
METHOD_NOT_FOUND = ApiError(404, "Not Found: method not found")
INTERNAL = ApiError(500, "Internal Server Error")
