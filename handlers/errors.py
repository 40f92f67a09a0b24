"""The global error handler: a failing handler is logged without the update's content and its
update marked for another try, so the poller re-runs it before confirming the batch."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ContextTypes

from bot.delivery.updates import FAILED_KEY

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure without the update's content (locations, names, texts stay out of
    logs) and mark the update for another try (see bot.delivery.updates)."""
    uid = update.update_id if isinstance(update, Update) else None
    log.error("handler failed for update %s: %s", uid, type(context.error).__name__,
              exc_info=context.error)
    if uid is not None:
        context.bot_data.setdefault(FAILED_KEY, set()).add(uid)
