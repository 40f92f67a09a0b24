"""Lawyers' and coordinators' commands. Each only parses arguments and calls the domain;
the domain checks the sender's role and relation to the alert every time."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from telegram import Update
from telegram.ext import ChatMemberHandler, CommandHandler

from bot.domain.figures import MAX_DAYS
from bot.domain.notify import local_time
from bot.i18n import N_, t
from handlers.common import NEW_MESSAGES, Context, domain, int_arg, is_private, say, sender, speaker

if TYPE_CHECKING:
    from bot.domain.facade import Domain


def parse_until(raw: str, now: float) -> float | None:
    """"18:30" (QORGAU_TIMEZONE's time, today or tomorrow), "4h" or "90m" -> a time; None if
    unreadable. Whether the time is acceptable the domain decides."""
    raw = raw.strip().lower()
    if not raw.isascii():
        return None
    unit = {"h": 3600, "m": 60}.get(raw[-1:])
    if unit and raw[:-1].replace(".", "", 1).isdigit():
        return now + float(raw[:-1]) * unit
    if not re.fullmatch(r"\d{1,2}:\d{2}", raw):  # no sign, no spaces: "-0:30" is no time
        return None
    hh, mm = (int(x) for x in raw.split(":"))
    if not (0 <= hh < 24 and 0 <= mm < 60):
        return None
    local = local_time(now)
    at = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if at.timestamp() <= now:
        at += timedelta(days=1)
    return at.timestamp()


async def oncall(update: Update, context: Context) -> None:
    user_id, lang = await speaker(update, context)
    q = domain(context)
    until = None
    if context.args:
        until = parse_until(context.args[-1], q.svc.now())
        if until is None:
            await say(context, user_id, t(lang, "Use /oncall, /oncall 18:30 or /oncall 4h."))
            return
    await q.team.set_on_call(user_id, True, until)


async def offcall(update: Update, context: Context) -> None:
    user_id, _ = sender(update)
    await domain(context).team.set_on_call(user_id, False)


async def note(update: Update, context: Context) -> None:
    user_id, lang = await speaker(update, context)
    alert_id = int_arg(context.args)
    if alert_id is None or len(context.args or []) < 2:
        await say(context, user_id, t(lang, "Use /note N text, for example /note 12 At the "
                                            "police station on Abai St."))
        return
    message = update.effective_message
    body = (message.text or "").split(maxsplit=2)[2] if message else ""
    await say(context, user_id, await domain(context).casework.note(user_id, alert_id, body))


async def close(update: Update, context: Context) -> None:
    user_id, lang = await speaker(update, context)
    alert_id = int_arg(context.args)
    if alert_id is None:
        await say(context, user_id, t(lang, "Use /close N, optionally with a note."))
        return
    message = update.effective_message
    parts = (message.text or "").split(maxsplit=2) if message else []
    text = parts[2] if len(parts) > 2 else None
    await say(context, user_id,
              await domain(context).casework.close_choices(user_id, alert_id, text))


async def invite(update: Update, context: Context) -> None:
    user_id, _ = sender(update)
    role = (context.args or [""])[0].lower()
    await say(context, user_id, await domain(context).team.invite(user_id, role))


async def people(update: Update, context: Context) -> None:
    user_id, _ = sender(update)
    role = context.args[0].lower() if context.args else None
    await say(context, user_id, await domain(context).team.list_people(user_id, role))


async def _numbered(update: Update, context: Context, usage: str,
                    action: Callable[[Domain, int, int], Awaitable[str | None]]) -> None:
    """A command whose one argument is a number: a usage hint if it is missing or malformed,
    else the domain's answer."""
    user_id, lang = await speaker(update, context)
    number = int_arg(context.args)
    if number is None:
        await say(context, user_id, t(lang, usage))
        return
    await say(context, user_id, await action(domain(context), user_id, number))


async def decline(update: Update, context: Context) -> None:
    """/decline N: "Can't take it" for an alert shown in short in a bundle of many."""
    await _numbered(update, context, N_("Use /decline N."),
                    lambda q, uid, n: q.casework.decline_choices(uid, n, typed=True))


async def revoke(update: Update, context: Context) -> None:
    await _numbered(update, context, N_("Use /revoke <user id> (see /people)."),
                    lambda q, uid, n: q.team.revoke(uid, n))


async def erase(update: Update, context: Context) -> None:
    await _numbered(update, context, N_("Use /erase <user id> (see /people)."),
                    lambda q, uid, n: q.erasure.erase(uid, n))


async def leave(update: Update, context: Context) -> None:
    user_id, _ = sender(update)
    await say(context, user_id, await domain(context).team.leave_choice(user_id))


async def open_alerts(update: Update, context: Context) -> None:
    user_id, _ = sender(update)
    word = " ".join(context.args) if context.args else None
    await say(context, user_id, await domain(context).coordination.open_alerts(user_id, word))


async def lawyers(update: Update, context: Context) -> None:
    user_id, _ = sender(update)
    await say(context, user_id, await domain(context).coordination.lawyers(user_id))


async def map_command(update: Update, context: Context) -> None:
    user_id, _ = sender(update)
    answer = await domain(context).coordination.map(user_id, is_private(update))
    await say(context, user_id, answer)


async def case(update: Update, context: Context) -> None:
    await _numbered(update, context, N_("Use /case N."),
                    lambda q, uid, n: q.coordination.case(uid, n))


async def stats(update: Update, context: Context) -> None:
    user_id, lang = await speaker(update, context)
    days = 7.0
    if context.args:
        raw = context.args[0]
        if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= 3650:
            await say(context, user_id, t(lang, "Use /stats or /stats 30 (days)."))
            return
        days = float(raw)
    await say(context, user_id, await domain(context).coordination.stats(user_id, days))


async def report(update: Update, context: Context) -> None:
    user_id, lang = sender(update)
    days = 30
    if context.args:
        raw = context.args[0]
        if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= MAX_DAYS:
            await say(context, user_id, t(lang, "Use /report or /report 30 (days, 1 to {max}).",
                                          max=MAX_DAYS))
            return
        days = int(raw)
    await say(context, user_id, await domain(context).reports.report(user_id, days))


async def audit(update: Update, context: Context) -> None:
    user_id, lang = await speaker(update, context)
    days = 7.0
    if context.args:
        raw = context.args[0]
        if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= 3650:
            await say(context, user_id, t(lang, "Use /audit or /audit 30 (days, 1 to 3650)."))
            return
        days = float(raw)
    await say(context, user_id, await domain(context).team.audit(user_id, days))


async def assign(update: Update, context: Context) -> None:
    await _numbered(update, context, N_("Use /assign N."),
                    lambda q, uid, n: q.casework.assign_choices(uid, n))


async def connect(update: Update, context: Context, on: bool = True) -> None:
    """/connect and /disconnect, sent inside a press-freedom group."""
    chat = update.effective_chat
    if chat is None:
        return
    user_id, lang = await speaker(update, context)
    if is_private(update):
        await say(context, user_id, t(lang, "Send /connect inside the group to connect it."))
        return
    language = context.args[0].lower() if on and context.args else None
    await say(context, chat.id, await domain(context).team.connect_group(
        user_id, chat.id, on, language, lang))


async def disconnect(update: Update, context: Context) -> None:
    await connect(update, context, on=False)


async def board(update: Update, context: Context) -> None:
    """/board, sent by a coordinator inside the coordinators' group."""
    chat = update.effective_chat
    if chat is None:
        return
    user_id, _ = sender(update)
    answer = await domain(context).boards.set_board(user_id, chat.id, not is_private(update))
    await say(context, chat.id if not is_private(update) else user_id, answer)


async def membership(update: Update, context: Context) -> None:
    """The bot was removed from a group: stop posting there."""
    change = update.my_chat_member
    if change is None or change.chat.type == "private":
        return
    if change.new_chat_member.status in ("left", "kicked"):
        await domain(context).team.group_gone(change.chat.id)
        await domain(context).boards.gone(change.chat.id)



def handlers() -> list[object]:
    return [
        CommandHandler("oncall", oncall, filters=NEW_MESSAGES),
        CommandHandler("offcall", offcall, filters=NEW_MESSAGES),
        CommandHandler("note", note, filters=NEW_MESSAGES),
        CommandHandler("close", close, filters=NEW_MESSAGES),
        CommandHandler("decline", decline, filters=NEW_MESSAGES),
        CommandHandler("invite", invite, filters=NEW_MESSAGES),
        CommandHandler("people", people, filters=NEW_MESSAGES),
        CommandHandler("revoke", revoke, filters=NEW_MESSAGES),
        CommandHandler("erase", erase, filters=NEW_MESSAGES),
        CommandHandler("leave", leave, filters=NEW_MESSAGES),
        CommandHandler("open", open_alerts, filters=NEW_MESSAGES),
        CommandHandler("case", case, filters=NEW_MESSAGES),
        CommandHandler("stats", stats, filters=NEW_MESSAGES),
        CommandHandler("audit", audit, filters=NEW_MESSAGES),
        CommandHandler("assign", assign, filters=NEW_MESSAGES),
        CommandHandler("connect", connect, filters=NEW_MESSAGES),
        CommandHandler("disconnect", disconnect, filters=NEW_MESSAGES),
        CommandHandler("board", board, filters=NEW_MESSAGES),
        CommandHandler("report", report, filters=NEW_MESSAGES),
        CommandHandler("lawyers", lawyers, filters=NEW_MESSAGES),
        CommandHandler("map", map_command, filters=NEW_MESSAGES),
        ChatMemberHandler(membership, ChatMemberHandler.MY_CHAT_MEMBER),
    ]
