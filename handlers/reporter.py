"""Reporters: /start, the one-tap location, what they type or send while an alert is open."""

from __future__ import annotations

from datetime import timedelta

from telegram import Update
from telegram.ext import CommandHandler, MessageHandler, filters

from bot.delivery.updates import media_of
from handlers.common import NEW_MESSAGES, Context, domain, is_private, say, sender


async def start(update: Update, context: Context) -> None:
    if not is_private(update):
        return
    user_id, lang = sender(update)
    q = domain(context)
    if context.args:
        await q.team.redeem(user_id, context.args[0], lang)
    else:
        await q.reporting.start(user_id, lang)


async def location(update: Update, context: Context) -> None:
    """A location message, or a live-location update (an edited message)."""
    message = update.effective_message
    if message is None or message.location is None or not is_private(update):
        return
    user_id, lang = sender(update)
    loc = message.location
    taken = (message.edit_date or message.date).timestamp()
    period = loc.live_period  # a timedelta with PTB_TIMEDELTA=1, else seconds
    await domain(context).reporting.location(
        user_id, lang, loc.latitude, loc.longitude, loc.horizontal_accuracy, taken,
        live=update.edited_message is not None, forwarded=message.forward_origin is not None,
        message_id=message.message_id,
        live_period=period.total_seconds() if isinstance(period, timedelta) else period,
        sent_at=message.date.timestamp(),
    )


async def text(update: Update, context: Context) -> None:
    message = update.message
    if message is None or message.text is None or not is_private(update):
        return
    user_id, lang = sender(update)
    reply_to = message.reply_to_message.message_id if message.reply_to_message else None
    answer = await domain(context).private_text.handle(user_id, message.text, lang, reply_to,
                                                       message.message_id)
    await say(context, user_id, answer)


async def media(update: Update, context: Context) -> None:
    message = update.message
    if message is None or not is_private(update):
        return
    found = media_of(message)
    if found is None:
        return
    user_id, lang = sender(update)
    kind, file_id = found
    await domain(context).reporting.attach_media(user_id, lang, kind, file_id,
                                                 message.caption, message.message_id)


async def language(update: Update, context: Context) -> None:
    """/language en|kk|ru; alone, the three as buttons."""
    user = update.effective_user
    if user is None or not is_private(update):
        return
    if context.args:
        await say(context, user.id, await domain(context).languages.choose(
            user.id, context.args[0], user.language_code))
    else:
        await domain(context).languages.offer(user.id, user.language_code)


async def pin(update: Update, context: Context) -> None:
    """/pin: set or change the cancel PIN and the duress PIN (asked for one at a time)."""
    if not is_private(update):
        return
    user_id, _ = sender(update)
    await say(context, user_id, await domain(context).pins.start_change(user_id))


async def discreet(update: Update, context: Context) -> None:
    """/discreet on|off"""
    message = update.effective_message
    if message is None or not is_private(update):
        return
    user_id, _ = sender(update)
    choice = " ".join(context.args or []).strip().lower()
    await say(context, user_id, await domain(context).reporting.set_discreet(
        user_id, choice, message.message_id))


async def forget(update: Update, context: Context) -> None:
    """/forget: erase what is stored about the sender, after a confirmation button."""
    if not is_private(update):
        return
    user_id, lang = sender(update)
    await say(context, user_id, await domain(context).erasure.forget(user_id, lang))


def handlers() -> list[object]:
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("start", start, filters=NEW_MESSAGES),
        CommandHandler("language", language, filters=NEW_MESSAGES),
        CommandHandler("pin", pin, filters=NEW_MESSAGES),
        CommandHandler("discreet", discreet, filters=NEW_MESSAGES),
        CommandHandler("forget", forget, filters=NEW_MESSAGES),
        MessageHandler(private & filters.LOCATION, location),
        MessageHandler(private & filters.TEXT & ~filters.COMMAND & filters.UpdateType.MESSAGE,
                       text),
        MessageHandler(private & filters.UpdateType.MESSAGE & (
            filters.PHOTO | filters.VOICE | filters.VIDEO | filters.VIDEO_NOTE
            | filters.Document.ALL | filters.AUDIO), media),
    ]
