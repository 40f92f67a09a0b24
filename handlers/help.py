"""/help by role, and an answer to every command the bot does not know (registered last,
so that only commands no other handler took reach it)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler, MessageHandler, filters

from handlers.common import NEW_MESSAGES, Context, domain, is_private, say, sender


async def help_command(update: Update, context: Context) -> None:
    user_id, lang = sender(update)
    await say(context, user_id, await domain(context).private_text.help(user_id, lang))


async def unknown_command(update: Update, context: Context) -> None:
    """In a group, other bots' commands are none of ours: private chats only."""
    if not is_private(update):
        return
    user_id, lang = sender(update)
    await say(context, user_id, await domain(context).private_text.unknown_command(user_id, lang))


def handlers() -> list[object]:
    return [
        CommandHandler("help", help_command, filters=NEW_MESSAGES),
        MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND & NEW_MESSAGES,
                       unknown_command),
    ]
