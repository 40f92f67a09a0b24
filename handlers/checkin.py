"""/checkin: a reporter's check-in timer. Parsing only; the domain decides the rest."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot.i18n import N_, t
from handlers.common import NEW_MESSAGES, Context, domain, is_private, say, speaker
from handlers.staff import parse_until

USAGE = N_("Use /checkin 2h, /checkin 90m, /checkin 18:30, /checkin off, or /checkin alone.")


async def checkin(update: Update, context: Context) -> None:
    """/checkin shows the timer (or durations to start one), /checkin 2h|90m|18:30 starts
    one, /checkin off stops it."""
    if not is_private(update):
        return
    user_id, lang = await speaker(update, context)
    q = domain(context)
    args = context.args or []
    if not args:
        answer = await q.checkins.show(user_id)
    elif len(args) == 1 and args[0].lower() == "off":
        answer = await q.checkins.stop(user_id)
    else:
        due = parse_until(args[0], q.svc.now()) if len(args) == 1 else None
        answer = t(lang, USAGE) if due is None else await q.checkins.start(user_id, due)
    await say(context, user_id, answer)


def handlers() -> list[object]:
    return [CommandHandler("checkin", checkin, filters=NEW_MESSAGES)]
