"""Every inline button press. Callback data can be forged by a modified client, so it is
parsed strictly here and authorised by the domain; anything else gets a polite refusal."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler

from bot.domain.erasure import FORGET_DATA
from bot.domain.messages import utf16_len
from bot.domain.notify import MAP_DATA, RAISE_NOW_DATA
from bot.i18n import t
from handlers.common import Context, domain, say, sender

if TYPE_CHECKING:
    from bot.domain.facade import Domain

Action = Callable[["Domain", int, list[str]], Awaitable[str | None]]
NUM = r"(\d{1,11})"
ROUTES: list[tuple[re.Pattern[str], Action]] = []
GROUP_LANGUAGE = re.compile(r"glang:([a-z]{2})\Z")


def route(pattern: str) -> Callable[[Action], Action]:
    def add(fn: Action) -> Action:
        ROUTES.append((re.compile(pattern + r"\Z"), fn))
        return fn
    return add


@route("agree")
async def _agree(q: Domain, uid: int, _: list[str]) -> str | None:
    await q.reporting.agree(uid)
    return None


@route(r"region:([a-z_]{2,20})")
async def _region(q: Domain, uid: int, a: list[str]) -> str | None:
    await q.reporting.set_region(uid, a[0])
    return None


@route(r"share:([01])")
async def _share(q: Domain, uid: int, a: list[str]) -> str | None:
    await q.reporting.set_share(uid, a[0] == "1")
    return None


@route(r"discreet:([01])")
async def _discreet(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.reporting.set_discreet(uid, "on" if a[0] == "1" else "off")


@route(r"serve:([a-z_]{2,20})")
async def _serve(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.team.toggle_region(uid, a[0])


@route(r"speak:([a-z]{2,4})")
async def _speak(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.team.toggle_language(uid, a[0])


@route("leave")
async def _leave(q: Domain, uid: int, _: list[str]) -> str | None:
    return await q.team.leave(uid)


@route("ack:" + NUM)
async def _ack(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.casework.acknowledge(uid, int(a[0]))


@route(MAP_DATA + ":" + NUM)
async def _show_map(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.casework.show_map(uid, int(a[0]))


@route("claim:" + NUM)
async def _claim(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.casework.claim(uid, int(a[0]))


@route("close:" + NUM)
async def _close(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.casework.close_choices(uid, int(a[0]), None)


@route("out:" + NUM + ":([a-z]{2,5})")
async def _outcome(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.casework.close(uid, int(a[0]), a[1])


@route("assign:" + NUM)
async def _assign(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.casework.assign_choices(uid, int(a[0]))


@route("asg:" + NUM + ":" + NUM)
async def _assign_to(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.casework.assign(uid, int(a[0]), int(a[1]))


@route(RAISE_NOW_DATA)
async def _raise_now(q: Domain, uid: int, _: list[str]) -> str | None:
    return await q.reporting.raise_now(uid)


@route("mv:" + NUM + ":" + NUM + ":" + NUM)
async def _move(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.casework.move(uid, int(a[0]), int(a[1]), int(a[2]))


@route("decl:" + NUM)
async def _decline_choices(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.casework.decline_choices(uid, int(a[0]))


@route("decl:" + NUM + ":([a-z]{2,5})")
async def _decline(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.casework.decline(uid, int(a[0]), a[1])


@route("undo:" + NUM)
async def _undo(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.cancelling.undo(uid, int(a[0]))


@route("pin:set")
async def _pin_set(q: Domain, uid: int, _: list[str]) -> str | None:
    return await q.pins.start_change(uid)


@route("pin:skip")
async def _pin_skip(q: Domain, uid: int, _: list[str]) -> str | None:
    return await q.pins.skip(uid)


@route("chk:ok:" + NUM)
async def _checkin_ok(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.checkins.ok(uid, int(a[0]))


@route("chk:ext:" + NUM)
async def _checkin_extend(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.checkins.extend(uid, int(a[0]))


@route(r"chk:set:(\d{1,4})")
async def _checkin_start(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.checkins.start_in(uid, int(a[0]))


@route(r"op:([a-z_]{2,20}):(\d{1,4})")
async def _open_page(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.coordination.open_alerts(uid, a[0], int(a[1]))


@route("bd:case:" + NUM)
async def _board_case(q: Domain, uid: int, a: list[str]) -> str | None:
    case = await q.coordination.case(uid, int(a[0]))
    return await q.boards.detail(uid, int(a[0]), case)


@route(r"bd:pg:(-\d{1,16}):(\d{1,4})")
async def _board_page(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.boards.page(uid, int(a[0]), int(a[1]))


@route(r"lang:([a-z]{2})")
async def _language(q: Domain, uid: int, a: list[str]) -> str | None:
    return await q.languages.choose(uid, a[0], None)


@route(FORGET_DATA)
async def _forget(q: Domain, uid: int, _: list[str]) -> str | None:
    return await q.erasure.forget(uid, "en", confirmed=True)


async def on_button(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None:
        return
    user_id, lang = sender(update)
    data = query.data if isinstance(query.data, str) else ""
    lang = await domain(context).languages.language_of(user_id, lang)
    answer: str | None = t(lang, "Sorry, this button is not for you.")
    for pattern, action in ROUTES:
        match = pattern.match(data)
        if match:
            answer = await action(domain(context), user_id, list(match.groups()))
            break
    group = GROUP_LANGUAGE.match(data)
    if group and query.message is not None:  # the group is the chat the button is in
        answer = await domain(context).languages.choose_for_group(
            user_id, query.message.chat.id, group.group(1))
    # A callback answer holds 200 UTF-16 units; a longer answer goes as a message, and so
    # does one Telegram no longer takes (a press processed after an outage is too old).
    fits = answer is not None and utf16_len(answer) <= 200
    await domain(context).svc.settle_update()
    try:
        await query.answer(answer if fits else None)
        if answer and not fits:
            await say(context, user_id, answer)
    except TelegramError:
        await say(context, user_id, answer)


def handlers() -> list[object]:
    return [CallbackQueryHandler(on_button)]
