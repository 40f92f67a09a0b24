"""Logging that cannot leak the bot token: a filter on every handler replaces it."""

from __future__ import annotations

import logging

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


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactSecrets())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
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
                        ("telegram", logging.INFO), ("apscheduler", logging.WARNING)):
        logging.getLogger(name).setLevel(max(floor, root.level))
