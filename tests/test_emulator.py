"""The Telegram Bot API emulator, driven the real way: python-telegram-bot and raw HTTP."""

from __future__ import annotations

import os

os.environ["PTB_TIMEDELTA"] = "1"

import asyncio
import datetime as dt
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, ContextTypes

from emulator import Emulator, Faults, Limits
from emulator.spec import load_spec

INLINE = InlineKeyboardMarkup(
    [
        [InlineKeyboardButton("Yes", callback_data="ans:yes")],
        [
            InlineKeyboardButton("No", callback_data="ans:no"),
            InlineKeyboardButton("Site", url="https://example.org"),
        ],
    ]
)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """An emulator without flood limits, so functional tests need no pauses."""
    async with Emulator(limits=None) as emulator:
        yield emulator


@pytest.fixture
async def bot(emu: Emulator) -> AsyncIterator[Bot]:
    async with Bot(emu.token, base_url=emu.base_url) as b:
        yield b


async def raw_call(
    emu: Emulator, method: str, token: str | None = None, **params: Any
) -> tuple[int, dict[str, Any]]:
    url = f"{emu.base_url}{token or emu.token}/{method}"
    async with aiohttp.ClientSession() as session, session.post(url, json=params) as resp:
        return resp.status, await resp.json()


# ----- spec and protocol -----------------------------------------------------------------


def test_spec_is_bundled_and_loaded() -> None:
    spec = load_spec()
    assert spec.version.startswith("Bot API")
    method = spec.method("SENDMESSAGE")
    assert method is not None and method.name == "sendMessage"
    assert method.fields["chat_id"].required


async def test_get_me_parsed_by_ptb(emu: Emulator, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == emu.bot_id and me.is_bot and me.username == "qorgau_bot"
    assert emu.token.startswith(f"{emu.bot_id}:") and len(emu.token.split(":")[1]) == 35
    status, body = await raw_call(emu, "GETME")  # method names are case-insensitive
    assert status == 200 and body["result"]["first_name"] == "Qorgau"
    assert emu.calls[-1].method == "getMe"


async def test_protocol_errors(emu: Emulator) -> None:
    user = emu.user()
    status, body = await raw_call(emu, "sendMessagez", chat_id=user.id, text="x")
    assert (status, body) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
    )
    status, body = await raw_call(emu, "sendMessage", chat_id=user.id)
    assert status == 400 and body["ok"] is False and body["error_code"] == 400
    assert body["description"] == 'Bad Request: parameter "text" is required'
    status, body = await raw_call(emu, "sendMessage", chat_id=user.id, text="x", colour="red")
    assert status == 400 and body["description"] == 'Bad Request: unknown parameter "colour"'
    status, body = await raw_call(emu, "getMe", token="123:wrong")
    assert (status, body) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    status, body = await raw_call(emu, "deleteMessage", chat_id=user.id, message_id="abc")
    assert status == 400 and "Integer" in body["description"]
    status, body = await raw_call(emu, "sendMessage", chat_id=424242, text="x")
    assert status == 400 and body["description"] == "Bad Request: chat not found"
    # any other spec method validates, then answers True
    status, body = await raw_call(emu, "setMyDescription", description="d")
    assert (status, body) == (200, {"ok": True, "result": True})
    assert user.inbox == []


async def test_form_encoding_is_decoded_by_spec_type(emu: Emulator) -> None:
    """PTB's wire format: every value a string, objects JSON-encoded inside the form."""
    user = emu.user()
    markup = json.dumps({"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]})
    url = f"{emu.base_url}{emu.token}/sendMessage"
    form = {"chat_id": str(user.id), "text": "123", "reply_markup": markup}
    async with aiohttp.ClientSession() as session, session.post(url, data=form) as resp:
        body = await resp.json()
    assert body["ok"] is True
    assert body["result"]["text"] == "123"  # a String field stays a string
    assert user.inbox[0].buttons == ["A"]
    assert emu.calls[-1].params["chat_id"] == user.id
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{emu.base_url}{emu.token}/getChat", params={"chat_id": str(user.id)}) as resp,
    ):
        assert (await resp.json())["result"]["type"] == "private"


# ----- messages, keyboards, edits --------------------------------------------------------


async def test_keyboards_roundtrip(emu: Emulator, bot: Bot) -> None:
    user = emu.user(first_name="Aida")
    msg = await bot.send_message(user.id, "Pick one", reply_markup=INLINE)
    assert isinstance(msg.reply_markup, InlineKeyboardMarkup)
    assert msg.reply_markup.inline_keyboard[0][0].callback_data == "ans:yes"
    assert msg.from_user is not None and msg.from_user.id == emu.bot_id
    assert msg.chat.id == user.id and msg.chat.first_name == "Aida"

    reply_kb = ReplyKeyboardMarkup(
        [[KeyboardButton("Share location", request_location=True)], ["Help"]],
        resize_keyboard=True,
    )
    msg2 = await bot.send_message(user.id, "Or use the keyboard", reply_markup=reply_kb)
    assert msg2.message_id == msg.message_id + 1
    assert msg2.reply_markup is None  # Message.reply_markup only carries inline keyboards

    inbox = user.inbox
    assert [m.text for m in inbox] == ["Pick one", "Or use the keyboard"]
    assert inbox[0].buttons == ["Yes", "No", "Site"]
    assert inbox[0].button_data("No") == "ans:no"
    assert inbox[0].inline_rows[1] == [("No", "ans:no"), ("Site", None)]
    assert inbox[1].reply_markup is not None and "keyboard" in inbox[1].reply_markup
    assert user.keyboard == [["Share location"], ["Help"]]

    await bot.send_message(user.id, "Bye", reply_markup=ReplyKeyboardRemove())
    assert user.keyboard is None
    assert emu.stats["sent_messages"] == 3


async def test_text_and_markup_validation(emu: Emulator, bot: Bot) -> None:
    user = emu.user()
    too_long_data = InlineKeyboardMarkup([[InlineKeyboardButton("X", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(user.id, "hi", reply_markup=too_long_data)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(user.id, "   ")
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(user.id, "a" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(user.id, "<b>unclosed", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(user.id, "<blink>x</blink>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)Character '\.' is reserved"):
        await bot.send_message(user.id, "Done.", parse_mode="MarkdownV2")
    assert user.inbox == []

    ok = await bot.send_message(
        user.id, '<b>Alert</b> &amp; <a href="https://x.org">link</a>', parse_mode="HTML"
    )
    assert ok.text == "Alert & link"
    assert [(e.type, e.offset, e.length) for e in ok.entities] == [
        ("bold", 0, 5),
        ("text_link", 8, 4),
    ]
    md = await bot.send_message(user.id, r"*Bold* and \. done", parse_mode="MarkdownV2")
    assert md.text == "Bold and . done" and md.entities[0].type == "bold"


async def test_edit_and_delete_semantics(emu: Emulator, bot: Bot) -> None:
    user = emu.user()
    msg = await bot.send_message(user.id, "Status: open", reply_markup=INLINE)
    mark = user.mark()
    waiter = asyncio.create_task(user.wait_for("claimed", after=0, timeout=3))
    edited = await bot.edit_message_text(
        "Status: claimed", chat_id=user.id, message_id=msg.message_id
    )
    assert isinstance(edited, Message)
    assert edited.edit_date is not None and edited.reply_markup is None  # omitted markup: removed
    found = await waiter  # wait_for also matches messages edited into a matching state
    assert found.message_id == msg.message_id and found.edit_count == 1
    assert user.mark() == mark  # edits do not add messages

    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("Status: claimed", chat_id=user.id, message_id=msg.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=user.id, message_id=999)
    again = await bot.edit_message_reply_markup(user.id, msg.message_id, reply_markup=INLINE)
    assert isinstance(again, Message) and user.inbox[0].buttons == ["Yes", "No", "Site"]
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(user.id, msg.message_id, reply_markup=INLINE)

    assert await bot.delete_message(user.id, msg.message_id) is True
    assert user.inbox == []
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(user.id, msg.message_id)
    assert emu.stats["edits"] == 2


async def test_delete_only_within_48_hours_like_telegram(emu: Emulator, bot: Bot) -> None:
    user = emu.user()
    fresh = await bot.send_message(user.id, "fresh")
    old = await bot.send_message(user.id, "old")
    stored = user.chat.messages[old.message_id]
    stored["date"] -= 48 * 3600 + 1
    with pytest.raises(BadRequest, match=r"(?i)message can't be deleted"):
        await bot.delete_message(user.id, old.message_id)
    assert await bot.delete_messages(user.id, [fresh.message_id, old.message_id]) is True
    assert [m.text for m in user.inbox] == ["old"]  # the old one is skipped


async def test_live_location_lifecycle(emu: Emulator, bot: Bot) -> None:
    user = emu.user()
    loc = await bot.send_location(user.id, 43.24, 76.89, live_period=600)
    assert loc.location is not None and loc.location.live_period == dt.timedelta(seconds=600)
    moved = await bot.edit_message_live_location(
        chat_id=user.id, message_id=loc.message_id, latitude=43.25, longitude=76.9
    )
    assert (
        isinstance(moved, Message)
        and moved.location is not None
        and moved.location.latitude == pytest.approx(43.25)
    )
    assert user.inbox[0].location == {"latitude": 43.25, "longitude": 76.9, "live_period": 600}
    assert user.inbox[0].text is None
    await bot.stop_message_live_location(chat_id=user.id, message_id=loc.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message can't be edited"):
        await bot.edit_message_live_location(
            chat_id=user.id, message_id=loc.message_id, latitude=43.3, longitude=76.9
        )
    venue = await bot.send_venue(user.id, 43.2, 76.9, title="Court", address="Abai 1")
    assert venue.venue is not None and venue.venue.title == "Court"


async def test_blocked_user_and_chat_calls(emu: Emulator, bot: Bot) -> None:
    user = emu.user(first_name="Dana", username="dana_kz")
    emu.block(user)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(user.id, "hello")
    emu.unblock(user)
    await bot.send_message("@dana_kz", "hello")
    assert user.inbox[0].text == "hello"

    chat = await bot.get_chat(user.id)
    assert chat.first_name == "Dana" and chat.username == "dana_kz"
    member = await bot.get_chat_member(user.id, user.id)
    assert member.status == "member"

    group = emu.group(title="Press Freedom KZ")
    assert group.id < 0
    full = await bot.get_chat(group.id)
    assert full.title == "Press Freedom KZ" and full.type == "supergroup"
    sent = await bot.send_message(group.id, "hello group")
    with pytest.raises(BadRequest, match=r"(?i)not enough rights to manage pinned"):
        await bot.pin_chat_message(group.id, sent.message_id)  # only administrators pin
    group.chat.admins.add(emu.bot_id)
    assert await bot.pin_chat_message(group.id, sent.message_id) is True
    assert await bot.unpin_chat_message(group.id) is True
    assert await bot.send_chat_action(group.id, "typing") is True
    assert await bot.leave_chat(group.id) is True
    with pytest.raises(Forbidden):
        await bot.send_message(group.id, "still here?")


async def test_commands_and_menu(emu: Emulator, bot: Bot) -> None:
    assert await bot.set_my_commands([("start", "Start"), ("help", "Help")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert await bot.get_my_commands(language_code="kk") == ()
    with pytest.raises(BadRequest):
        await bot.set_my_commands([("Bad Command", "x")])
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    assert await bot.set_chat_menu_button()
    assert await bot.log_out() and await bot.close()


async def test_descriptions_like_telegram(emu: Emulator, bot: Bot) -> None:
    assert await bot.set_my_description("Help.") and await bot.set_my_short_description("Hi")
    assert await bot.set_my_description("Көмек.", language_code="kk")
    assert (await bot.get_my_description(language_code="kk")).description == "Көмек."
    assert (await bot.get_my_description(language_code="ru")).description == "Help."
    assert (await bot.get_my_short_description()).short_description == "Hi"
    for call in (bot.set_my_description("x" * 513), bot.set_my_short_description("x" * 121),
                 bot.set_my_description("x", language_code="kaz")):
        with pytest.raises(BadRequest):
            await call
    assert await bot.set_my_description("", language_code="kk")  # removes the Kazakh one
    assert (await bot.get_my_description(language_code="kk")).description == "Help."


# ----- flood limits ----------------------------------------------------------------------


async def test_default_private_rate_limit() -> None:
    async with Emulator() as emu, Bot(emu.token, base_url=emu.base_url) as bot:
        user = emu.user()
        await bot.send_message(user.id, "one")
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(user.id, "two")
        assert info.value.retry_after == dt.timedelta(seconds=1)
        assert [m.text for m in user.inbox] == ["one"]
        assert emu.stats["rate_limited"] == 1
        await bot.send_message(emu.user().id, "other chats are separate")
        status, body = await raw_call(emu, "sendMessage", chat_id=user.id, text="raw")
        assert status == 429 and body["parameters"]["retry_after"] >= 1
        assert body["description"].startswith("Too Many Requests: retry after ")


async def test_default_group_rate_limit() -> None:
    async with Emulator() as emu, Bot(emu.token, base_url=emu.base_url) as bot:
        group = emu.group()
        for i in range(20):
            await bot.send_message(group.id, f"m{i}")  # 20 < 30/s: the global limit is not hit
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(group.id, "m21")
        retry_after = info.value.retry_after
        assert isinstance(retry_after, dt.timedelta) and 50 <= retry_after.total_seconds() <= 60
        assert len(group.inbox) == 20


async def test_global_limit_and_refused_calls_do_not_count() -> None:
    limits = Limits(per_chat=100, overall=3, overall_window=0.5)
    async with Emulator(limits=limits) as emu, Bot(emu.token, base_url=emu.base_url) as bot:
        users = [emu.user() for _ in range(4)]
        with pytest.raises(BadRequest):
            await bot.send_message(users[0].id, "")  # refused: does not use budget
        for u in users[:3]:
            await bot.send_message(u.id, "hi")
        with pytest.raises(RetryAfter):
            await bot.send_message(users[3].id, "hi")
        await asyncio.sleep(0.55)
        await bot.send_message(users[3].id, "hi")


# ----- fault injection -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error"),
    [("429", RetryAfter), ("500", NetworkError), ("drop", (NetworkError, TimedOut))],
)
async def test_faults_fail_before_delivery(
    emu: Emulator, bot: Bot, kind: str, error: type[Exception] | tuple[type[Exception], ...]
) -> None:
    user = emu.user()
    emu.faults = Faults(rate=1.0, kinds=(kind,), seed=1)
    with pytest.raises(error):
        await bot.send_message(user.id, "lost")
    assert user.inbox == []
    assert (await bot.get_me()).id == emu.bot_id  # getMe is never faulted by default
    assert emu.stats["faults_injected"] == 1
    assert [c.fault for c in emu.calls if c.method == "sendMessage"] == [kind]
    emu.faults = None
    await bot.send_message(user.id, "delivered")
    assert [m.text for m in user.inbox] == ["delivered"]


async def test_slow_fault_answers_after_delay(emu: Emulator, bot: Bot) -> None:
    user = emu.user()
    emu.faults = Faults(rate=1.0, kinds=("slow",), slow_seconds=0.3, methods={"sendMessage"})
    started = time.monotonic()
    msg = await bot.send_message(user.id, "eventually")
    assert time.monotonic() - started >= 0.3
    assert msg.text == "eventually" and user.inbox[0].text == "eventually"


def test_faults_rate_is_seeded() -> None:
    a = Faults(rate=0.5, seed=7)
    b = Faults(rate=0.5, seed=7)
    assert [a.pick("sendMessage") for _ in range(50)] == [b.pick("sendMessage") for _ in range(50)]
    assert a.pick("getUpdates") is None and not a.applies_to("getMe")
    with pytest.raises(ValueError):
        Faults(rate=1.0, kinds=("boom",))


# ----- updates: polling, callbacks, webhooks ---------------------------------------------


async def test_get_updates_long_polling_and_offset(emu: Emulator, bot: Bot) -> None:
    user = emu.user()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()
    started = time.monotonic()
    await user.send_command("/start", "tok123")
    updates = await poll
    assert time.monotonic() - started < 2
    assert len(updates) == 1 and updates[0].message is not None
    message = updates[0].message
    assert message.text == "/start tok123" and message.from_user is not None
    assert message.from_user.id == user.id and message.chat.type == "private"
    assert message.entities[0].type == "bot_command" and message.entities[0].length == 6

    await user.send_text("second")
    await user.send_location(43.2, 76.9, horizontal_accuracy=20)
    assert emu.updates_pending() == 3
    later = await bot.get_updates(offset=updates[0].update_id + 1, timeout=0)
    assert [u.update_id for u in later] == [updates[0].update_id + 1, updates[0].update_id + 2]
    assert later[1].message is not None and later[1].message.location is not None
    assert emu.updates_pending() == 2
    assert await bot.get_updates(offset=later[-1].update_id + 1, timeout=0) == ()
    assert emu.updates_pending() == 0


async def test_press_roundtrip_with_ptb_application(emu: Emulator) -> None:
    user = emu.user()

    async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("ok")
        await update.callback_query.edit_message_text(f"chose {update.callback_query.data}")

    app = ApplicationBuilder().token(emu.token).base_url(emu.base_url).build()
    app.add_handler(CallbackQueryHandler(on_press))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        try:
            await app.bot.send_message(user.id, "Pick", reply_markup=INLINE)
            answer = await user.press("No", timeout=5)
            assert answer.text == "ok" and answer.show_alert is False
            edited = await user.wait_for("chose ans:no", timeout=5)
            assert edited.buttons == []
            with pytest.raises(LookupError, match=r"(?i)available"):
                await user.press("Maybe")
        finally:
            await app.updater.stop()
            await app.stop()


async def test_answer_unknown_callback_query(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("123456789")


async def test_press_times_out_when_bot_does_not_answer(emu: Emulator, bot: Bot) -> None:
    user = emu.user()
    msg = await bot.send_message(user.id, "Pick", reply_markup=INLINE)
    with pytest.raises(TimeoutError, match=r"(?i)did not answer"):
        await user.press_data(user.inbox[0], "forged", timeout=0.2)
    updates = await bot.get_updates(timeout=0)
    query = updates[-1].callback_query
    assert query is not None and query.data == "forged"
    assert query.message is not None and query.message.message_id == msg.message_id


async def test_wait_for_times_out_with_inbox_in_message(emu: Emulator, bot: Bot) -> None:
    user = emu.user()
    await bot.send_message(user.id, "Welcome")
    with pytest.raises(TimeoutError, match=r"(?i)Welcome"):
        await user.wait_for("Goodbye", timeout=0.1)


async def test_tap_request_location_button(emu: Emulator, bot: Bot) -> None:
    user = emu.user()
    kb = ReplyKeyboardMarkup([[KeyboardButton("I'm detained", request_location=True), "Help"]])
    await bot.send_message(user.id, "Tap if in trouble", reply_markup=kb)
    with pytest.raises(LookupError):
        await user.tap("Nope")
    await user.tap("I'm detained", location=(43.238, 76.945))
    await user.tap("Help")
    updates = await bot.get_updates(timeout=0)
    first, second = (u.message for u in updates)
    assert first is not None and first.location is not None
    assert first.location.latitude == pytest.approx(43.238)
    assert second is not None and second.text == "Help"


async def test_group_messages(emu: Emulator, bot: Bot) -> None:
    group = emu.group(title="Lawyers")
    user = emu.user(first_name="Lawyer")
    await group.send_command(user, "/connect", args="abc")
    updates = await bot.get_updates(timeout=0)
    message = updates[0].message
    assert message is not None and message.chat.id == group.id and message.chat.title == "Lawyers"
    assert message.text == "/connect abc" and message.from_user is not None
    assert (await bot.get_chat_member(group.id, user.id)).status == "member"
    mark = group.mark()
    await bot.send_message(group.id, "Case #1", reply_markup=INLINE)
    found = await group.wait_for("Case", after=mark)
    assert found.chat_id == group.id


async def test_webhook_delivery_with_secret_and_retry(emu: Emulator, bot: Bot) -> None:
    received: list[dict[str, Any]] = []
    secrets_seen: list[str | None] = []
    attempts = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal attempts
        attempts += 1
        secrets_seen.append(request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        if attempts == 1:
            return web.Response(status=500)  # the emulator must retry
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        url = "https://bot.example.org/hook"
        emu.webhook_forward["https://bot.example.org"] = f"http://127.0.0.1:{port}"
        with pytest.raises(Exception, match=r"(?i)https url must be provided"):
            await bot.set_webhook(f"http://127.0.0.1:{port}/hook")
        with pytest.raises(Exception, match=r"(?i)ports 80, 88, 443 or 8443"):
            await bot.set_webhook("https://bot.example.org:8080/hook")
        assert await bot.set_webhook(url, secret_token="s3cret")
        info = await bot.get_webhook_info()
        assert info.url == url and info.pending_update_count == 0
        with pytest.raises(Exception, match=r"(?i)Conflict"):
            await bot.get_updates(timeout=0)

        user = emu.user()
        await user.send_text("via webhook")
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.02)
        assert received and received[0]["message"]["text"] == "via webhook"
        assert secrets_seen == ["s3cret", "s3cret"]
        assert emu.updates_pending() == 0

        assert await bot.delete_webhook()
        await user.send_text("via polling")
        updates = await bot.get_updates(timeout=0)
        assert updates[0].message is not None and updates[0].message.text == "via polling"
    finally:
        await runner.cleanup()


async def test_drop_pending_updates(emu: Emulator, bot: Bot) -> None:
    user = emu.user()
    await user.send_text("old")
    assert emu.updates_pending() == 1
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert emu.updates_pending() == 0


def test_cli_runs_and_stops() -> None:
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0", "--token", "42:abc", "--no-limits"],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("api_url: http://127.0.0.1:")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


async def test_uploads_and_user_media(emu: Emulator, bot: Bot) -> None:
    user = emu.user()
    photo = await bot.send_photo(
        user.id, photo=b"\x89PNG fake", caption="<i>proof</i>", parse_mode="HTML"
    )
    assert photo.photo and photo.caption == "proof"
    assert emu.calls[-1].params["photo"]["size"] == 9  # multipart upload seen as a file
    doc = await bot.send_document(user.id, document=b"pdf bytes", filename="a.pdf", caption="doc")
    assert doc.caption == "doc" and [m.caption for m in user.inbox] == ["proof", "doc"]
    assert await bot.send_photo(user.id, photo="AgADfileid")

    live = await user.send_location(43.2, 76.9, live_period=900)
    await user.edit_live_location(live, 43.3, 77.0)
    await user.send_photo(caption="evidence")
    await user.send_voice()
    await user.reply_to(user.inbox[0], "about this")
    updates = await bot.get_updates(timeout=0)
    kinds = [("edited" if u.edited_message else "new") for u in updates]
    assert kinds == ["new", "edited", "new", "new", "new"]
    edited = updates[1].edited_message
    assert edited is not None and edited.location is not None
    assert edited.location.latitude == pytest.approx(43.3)
    assert updates[2].message is not None and updates[2].message.caption == "evidence"
    assert updates[3].message is not None and updates[3].message.voice is not None
    reply = updates[4].message
    assert reply is not None and reply.reply_to_message is not None
    assert reply.reply_to_message.message_id == photo.message_id
    ids = [u.update_id for u in updates]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_replies_and_stats(emu: Emulator, bot: Bot) -> None:
    user = emu.user()
    incoming = await user.send_text("help me")
    reply = await bot.send_message(user.id, "on it", reply_to_message_id=incoming["message_id"])
    assert reply.reply_to_message is not None and reply.reply_to_message.text == "help me"
    assert reply.message_id == incoming["message_id"] + 1  # one id sequence per chat
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(user.id, "x", reply_to_message_id=999)
    emu.faults = Faults(rate=1.0, kinds=("429",))
    with pytest.raises(RetryAfter):
        await bot.send_message(user.id, "y")
    stats = emu.stats
    assert stats["http_429"] == 1 and stats["faults_injected"] == 1 and stats["rate_limited"] == 0
    sent = emu.sent(chat_id=user.id, method="sendmessage")
    assert [c.result["text"] for c in sent if c.result] == ["on it"]
    assert all(c.status == 200 for c in emu.sent())
