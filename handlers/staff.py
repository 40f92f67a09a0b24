"""Lawyers' and coordinators' commands. Each only parses arguments and calls the domain;
the domain checks the sender's role and relation to the alert every time."""

from __future__ import annotations

from datetime import datetime, timedelta

from telegram import Update
from telegram.ext import CommandHandler

from bot.i18n import t
from bot.notify import LOCAL_TZ
from handlers.common import Context, int_arg, is_private, qorgau, say, sender


def parse_until(raw: str, now: float) -> float | None:
    """"18:30" (Kazakhstan time, today or tomorrow) or "4h" -> a time; None if unreadable."""
    raw = raw.strip().lower()
    if raw.endswith("h") and raw[:-1].replace(".", "", 1).isdigit():
        hours = float(raw[:-1])
        return now + hours * 3600 if 0 < hours <= 72 else None
    try:
        hh, mm = (int(x) for x in raw.split(":"))
    except ValueError:
        return None
    if not (0 <= hh < 24 and 0 <= mm < 60):
        return None
    local = datetime.fromtimestamp(now, tz=LOCAL_TZ)
    at = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if at.timestamp() <= now:
        at += timedelta(days=1)
    return at.timestamp()


async def oncall(update: Update, context: Context) -> None:
    user_id, lang = sender(update)
    q = qorgau(context)
    until = None
    if context.args:
        until = parse_until(context.args[-1], q.svc.now())
        if until is None:
            await say(context, user_id, t(lang, "Use /oncall, /oncall 18:30 or /oncall 4h."))
            return
    await q.team.set_on_call(user_id, True, until)


async def offcall(update: Update, context: Context) -> None:
    user_id, _ = sender(update)
    await qorgau(context).team.set_on_call(user_id, False)


async def note(update: Update, context: Context) -> None:
    user_id, lang = sender(update)
    alert_id = int_arg(context.args)
    if alert_id is None or len(context.args or []) < 2:
        await say(context, user_id, t(lang, "Use /note N text, for example /note 12 At the "
                                            "police station on Abai St."))
        return
    message = update.effective_message
    body = (message.text or "").split(maxsplit=2)[2] if message else ""
    await say(context, user_id, await qorgau(context).casework.note(user_id, alert_id, body))


async def close(update: Update, context: Context) -> None:
    user_id, lang = sender(update)
    alert_id = int_arg(context.args)
    if alert_id is None:
        await say(context, user_id, t(lang, "Use /close N, optionally with a note."))
        return
    message = update.effective_message
    parts = (message.text or "").split(maxsplit=2) if message else []
    text = parts[2] if len(parts) > 2 else None
    await say(context, user_id,
              await qorgau(context).casework.close_choices(user_id, alert_id, text))


async def invite(update: Update, context: Context) -> None:
    user_id, _ = sender(update)
    role = (context.args or [""])[0].lower()
    await say(context, user_id, await qorgau(context).team.invite(user_id, role))


async def people(update: Update, context: Context) -> None:
    user_id, _ = sender(update)
    role = context.args[0].lower() if context.args else None
    await say(context, user_id, await qorgau(context).team.list_people(user_id, role))


async def revoke(update: Update, context: Context) -> None:
    user_id, lang = sender(update)
    target = int_arg(context.args)
    if target is None:
        await say(context, user_id, t(lang, "Use /revoke <user id> (see /people)."))
        return
    await say(context, user_id, await qorgau(context).team.revoke(user_id, target))


async def open_alerts(update: Update, context: Context) -> None:
    user_id, _ = sender(update)
    await say(context, user_id, await qorgau(context).coordination.open_alerts(user_id))


async def case(update: Update, context: Context) -> None:
    user_id, lang = sender(update)
    alert_id = int_arg(context.args)
    if alert_id is None:
        await say(context, user_id, t(lang, "Use /case N."))
        return
    await say(context, user_id, await qorgau(context).coordination.case(user_id, alert_id))


async def stats(update: Update, context: Context) -> None:
    user_id, lang = sender(update)
    days = 7.0
    if context.args:
        raw = context.args[0]
        if not raw.isdigit() or not 0 < int(raw) <= 3650:
            await say(context, user_id, t(lang, "Use /stats or /stats 30 (days)."))
            return
        days = float(raw)
    await say(context, user_id, await qorgau(context).coordination.stats(user_id, days))


async def assign(update: Update, context: Context) -> None:
    user_id, lang = sender(update)
    alert_id = int_arg(context.args)
    if alert_id is None:
        await say(context, user_id, t(lang, "Use /assign N."))
        return
    await say(context, user_id,
              await qorgau(context).casework.assign_choices(user_id, alert_id))


async def connect(update: Update, context: Context, on: bool = True) -> None:
    """/connect and /disconnect, sent inside a press-freedom group."""
    chat = update.effective_chat
    if chat is None:
        return
    user_id, lang = sender(update)
    if is_private(update):
        await say(context, user_id, t(lang, "Send /connect inside the group to connect it."))
        return
    await say(context, chat.id, await qorgau(context).team.connect_group(user_id, chat.id, on))


async def disconnect(update: Update, context: Context) -> None:
    await connect(update, context, on=False)


def handlers() -> list[object]:
    return [
        CommandHandler("oncall", oncall),
        CommandHandler("offcall", offcall),
        CommandHandler("note", note),
        CommandHandler("close", close),
        CommandHandler("invite", invite),
        CommandHandler("people", people),
        CommandHandler("revoke", revoke),
        CommandHandler("open", open_alerts),
        CommandHandler("case", case),
        CommandHandler("stats", stats),
        CommandHandler("assign", assign),
        CommandHandler("connect", connect),
        CommandHandler("disconnect", disconnect),
    ]
