"""Logging that cannot leak the bot token: a filter on every handler replaces it.

Plain text by default; with ``QORGAU_LOG_FORMAT=json`` one JSON object a line, for a log
collector. A record about an alert carries its number and the event's kind as fields
(``extra={"alert": 12, "event": "claimed"}``); nothing else is added, so what is kept out of
the text (names, places, message texts) stays out of the JSON too.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

_secrets: set[str] = set()


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            message = record.getMessage()
            if any(s in message for s in _secrets):
                for s in _secrets:
                    message = message.replace(s, "<token>")
                record.msg, record.args = message, None
            if record.exc_info and record.exc_info[1] is not None:
                text = logging.Formatter().formatException(record.exc_info)
                if any(s in text for s in _secrets):
                    for s in _secrets:
                        text = text.replace(s, "<token>")
                    record.exc_info = None
                    record.exc_text = text
        return True


class DropUnparsableAnswers(logging.Filter):
    """python-telegram-bot logs a Bot API answer that is not JSON (a proxy's or a block
    page) whole, with a traceback, on every retry; the caller logs one short line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Can not load invalid JSON data")


def redact_secret(secret: str) -> None:
    """From now on, ``secret`` never appears in a log line, tracebacks included."""
    if secret:
        _secrets.add(secret)


TAGS = ("alert", "event")  # the fields a record may carry besides its message


class JsonLines(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the tags the
    record carries, and the traceback (already redacted) if there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for tag in TAGS:
            value = getattr(record, tag, None)
            if value is not None:
                entry[tag] = value
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = type(record.exc_info[1]).__name__
            entry["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["traceback"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str = "INFO", form: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactSecrets())
    handler.setFormatter(JsonLines() if form == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("telegram.request.BaseRequest").addFilter(DropUnparsableAnswers())
    # Even at DEBUG these never log below WARNING/INFO: httpx logs every request URL (a Bot
    # API URL contains the token), python-telegram-bot logs request parameters and update
    # bodies at DEBUG, aiosqlite logs SQL with its values. All would leak names, texts and
    # locations.
    for name, floor in (("httpx", logging.WARNING), ("httpcore", logging.WARNING),
                        ("aiohttp.access", logging.WARNING), ("aiosqlite", logging.WARNING),
                        ("telegram", logging.INFO), ("apscheduler", logging.WARNING),
                        ("uvicorn.access", logging.WARNING), ("uvicorn.error", logging.INFO)):
        logging.getLogger(name).setLevel(max(floor, root.level))
