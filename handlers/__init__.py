"""Telegram update handlers: they translate updates into domain calls and nothing more.

``register`` is the one place that wires them into the Application.
"""

from __future__ import annotations

from typing import Any

from telegram.ext import Application, BaseHandler

from handlers import buttons, checkin, help, phone, reporter, staff
from handlers.errors import on_error


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    # help last: it takes unknown commands
    for module in (reporter, checkin, phone, staff, buttons, help):
        for handler in module.handlers():
            assert isinstance(handler, BaseHandler)
            app.add_handler(handler)
    app.add_error_handler(on_error)
