"""/phone: a phone number for SMS, its confirmation code, a lawyer's SMS pages. Parsing
only; the domain (bot/domain/sms.py) decides the rest."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from handlers.common import NEW_MESSAGES, Context, domain, is_private, say, sender


async def phone(update: Update, context: Context) -> None:
    if not is_private(update):
        return  # a number is never typed where a group reads it
    user_id, _ = sender(update)
    message = update.effective_message
    answer = await domain(context).sms.phone_command(
        user_id, list(context.args or []), message.message_id if message else None)
    await say(context, user_id, answer)


def handlers() -> list[object]:
    return [CommandHandler("phone", phone, filters=NEW_MESSAGES)]
