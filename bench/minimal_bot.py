"""``python -m bench.minimal_bot CHAT``: the framework floor's bot, the least a
python-telegram-bot bot must do for an alert, run as its own process like ``python -m bot``.

It is configured by the same QORGAU_* variables (token, Bot API URL, database, data key),
polls the way the bot does (one long getUpdates at a time with the bot's timeout and
allowed updates, each batch processed before the next poll, ``Application.process_update``
dispatching to the handlers) and has one handler: a location commits one small row through
our storage layer, as the floor does, and sends one message to CHAT. What the bot does
beyond this (its screening, its domain, its outbox) is what ``python -m bench latency``
compares against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters
from telegram.request import HTTPXRequest

from bot.delivery.updates import ALLOWED_UPDATES
from bot.settings import Settings, load_settings
from storage import Storage

POLL_TIMEOUT = 10  # seconds, as bot.app.Runner's poll_timeout


def build(settings: Settings, storage: Storage, chat_id: int) -> Application:
    """The Application with the bot's request settings (without its metering) and the one
    handler."""
    app = (
        ApplicationBuilder()
        .token(settings.token())
        .base_url(settings.base_url)
        .updater(None)  # polled below, as the bot polls
        .request(HTTPXRequest(connection_pool_size=64, read_timeout=15.0, write_timeout=15.0))
        .get_updates_request(HTTPXRequest(connection_pool_size=2))
        .build()
    )

    async def on_location(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        async with storage.transaction() as tx:
            await tx.set_value(f"framework.{update.update_id}", "x" * 64)
        await context.bot.send_message(chat_id, f"framework floor {update.update_id}")

    app.add_handler(MessageHandler(filters.LOCATION, on_location))
    return app


async def poll(app: Application) -> None:
    """Long poll, process the batch, poll again (the next poll confirms the batch)."""
    offset = 0
    while True:
        updates = await app.bot.get_updates(
            offset=offset, timeout=POLL_TIMEOUT, read_timeout=POLL_TIMEOUT + 10,
            allowed_updates=ALLOWED_UPDATES)
        for update in updates:
            await app.process_update(update)
            offset = update.update_id + 1


async def run(chat_id: int) -> None:
    """Until cancelled (SIGTERM cancels it)."""
    settings = load_settings()
    async with Storage(settings.database, settings.codec()) as storage:
        app = build(settings, storage, chat_id)
        async with app:
            await app.start()
            try:
                await poll(app)
            finally:
                await app.stop()


def main(argv: list[str]) -> int:
    async def until_terminated() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await run(int(argv[0]))

    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        asyncio.run(until_terminated())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
