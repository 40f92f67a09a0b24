"""Webhook mode over the emulator: Telegram (the emulator) posts each update with the secret
header to the bot's own HTTP server, through a stand-in for the TLS-terminating reverse
proxy of a real deployment (``emu.webhook_forward``). Nothing of ours is mocked."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sqlite3
from collections.abc import Callable

import httpx
import pytest

from bot.delivery.updates import MAX_TRIES
from tests.harness import ALMATY, BotProcess, World, rows

PUBLIC = "https://bot.example.org"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(predicate: Callable[[], bool], what: str, within: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def start_webhook(world: World, **overrides: object) -> int:
    port = free_port()
    world.emu.webhook_forward[PUBLIC] = f"http://127.0.0.1:{port}"
    await world.start(webhook_url=f"{PUBLIC}/telegram", http_port=port, **overrides)
    return port


def forged_start(user_id: int) -> dict[str, object]:
    return {"update_id": 990001, "message": {
        "message_id": 1, "date": 1_800_000_000, "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        "chat": {"id": user_id, "type": "private", "first_name": "Mallory"},
        "from": {"id": user_id, "is_bot": False, "first_name": "Mallory"}}}


async def test_webhook_takes_updates_with_the_secret_and_refuses_others(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    port = await start_webhook(world, webhook_secret="right-Secret_123")
    assert world.emu.webhook_url == f"{PUBLIC}/telegram"
    assert world.emu.webhook_secret == "right-Secret_123"
    await world.register_coordinator()  # every update of it came by POST
    assert world.emu.webhook_answers and all(s == 200 for _, s in world.emu.webhook_answers)

    url = f"http://127.0.0.1:{port}/telegram"
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient() as client:
        missing = await client.post(url, json=forged_start(424242))
        wrong = await client.post(url, json=forged_start(424242),
                                  headers={"X-Telegram-Bot-Api-Secret-Token": "guess"})
        right = await client.post(url, json=forged_start(434343),
                                  headers={"X-Telegram-Bot-Api-Secret-Token": "right-Secret_123"})
        secret = {"X-Telegram-Bot-Api-Secret-Token": "right-Secret_123"}
        junk = [await client.post(url, content=body, headers=secret)
                for body in (b"not json", b"null", b"[1, 2]")]
        flood = [await client.post(url, json=forged_start(424242),
                                   headers={"X-Telegram-Bot-Api-Secret-Token": f"g{i}"})
                 for i in range(30)]
    assert (missing.status_code, wrong.status_code, right.status_code) == (403, 403, 200)
    assert {r.status_code for r in flood} == {403}
    assert [r.status_code for r in junk] == [200, 200, 200]  # no retry makes junk an update
    assert rows(world.db, "SELECT user_id FROM people WHERE user_id = 424242") == []
    assert rows(world.db, "SELECT user_id FROM people WHERE user_id = 434343") != []
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    # Logged without the body, and a flood of forged requests is one line, not thirty.
    assert len(refusals) == 1 and "no secret token" in refusals[0]
    assert not any("Mallory" in m or "/start" in m for m in refusals)


async def test_generated_secret_is_kept_across_restarts(world: World) -> None:
    await start_webhook(world)
    first = world.emu.webhook_secret
    assert first is not None and len(first) >= 32
    assert rows(world.db, "SELECT value FROM kv WHERE key = 'webhook_secret'") == [(first,)]
    await world.stop()
    await start_webhook(world)
    assert world.emu.webhook_secret == first
    await world.register_coordinator()


@pytest.mark.sqlite_only("injects the failure with a SQLite trigger")
async def test_crashed_update_is_not_acknowledged_and_telegram_sends_it_again(
        world: World) -> None:
    await start_webhook(world)
    await world.register_coordinator()
    # The database refuses new people (as a full disk would): /start's step fails.
    with sqlite3.connect(world.db) as conn:
        conn.execute("CREATE TRIGGER boom BEFORE INSERT ON people "
                     "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    newcomer = world.emu.user(first_name="Aida")
    mark = newcomer.mark()
    await newcomer.send_command("/start")
    update_id = max(u for u, _ in world.emu.webhook_answers) + 1

    def answers() -> list[int]:
        return [s for u, s in world.emu.webhook_answers if u == update_id]

    await until(lambda: 200 in answers(), "the update to be given up")
    # Answered 500 (not acknowledged) until the tries ran out, so the emulator, like
    # Telegram, posted it again; then given up with a calm word to the sender.
    assert answers() == [500] * (MAX_TRIES - 1) + [200]
    await newcomer.wait_for("Sorry, something went wrong", after=mark)
    assert rows(world.db, "SELECT 1 FROM people WHERE user_id = ?", newcomer.id) == []

    with sqlite3.connect(world.db) as conn:
        conn.execute("DROP TRIGGER boom")
    mark = newcomer.mark()
    await newcomer.send_command("/start")
    await newcomer.wait_for("What we store", after=mark)


async def test_polling_after_a_webhook_run_removes_the_webhook(world: World) -> None:
    await start_webhook(world)
    await world.stop()
    world.overrides.clear()
    await world.start()
    assert world.emu.webhook_url is None
    await world.register_coordinator()


async def team_then_webhook_process(world: World, **settings: str) -> BotProcess:
    """A coordinator and a lawyer registered by the in-process bot, which then stops; the
    bot started again as its own process in webhook mode (killed or stopped by the test)."""
    await world.start()
    await world.register_coordinator()
    await world.register_lawyer("Marat", ("Almaty",))
    await world.drain()
    await world.stop()
    port = free_port()
    world.emu.webhook_forward[PUBLIC] = f"http://127.0.0.1:{port}"
    proc = BotProcess(world, QORGAU_WEBHOOK_URL=f"{PUBLIC}/telegram",
                      QORGAU_HTTP_PORT=str(port), **settings)
    proc.start()
    return proc


async def test_sigterm_in_webhook_mode_during_a_burst_loses_nothing(world: World) -> None:
    proc = await team_then_webhook_process(world, QORGAU_LOG_FORMAT="json")
    try:
        await until(lambda: world.emu.webhook_url is not None, "the webhook", within=60)
        reporters = [world.emu.user(first_name=f"R{i}") for i in range(8)]
        for reporter in reporters:  # a burst of alerts, and SIGTERM in the middle of it
            await reporter.send_location(*ALMATY)
        await until(lambda: rows(world.db, "SELECT id FROM alerts") != [], "a first alert")
    finally:
        await proc.stop()
    assert proc.proc is not None and proc.proc.returncode == 0
    log = proc.log.read_text(encoding="utf-8").splitlines()
    assert all(json.loads(line) for line in log if line.strip())
    assert any("(webhook)" in line for line in log) and not any("Traceback" in x for x in log)

    await start_webhook(world)  # what was not answered 200 is posted again
    for reporter in reporters:
        await reporter.wait_for("received and saved", timeout=30)
    await world.drain()
    assert len(rows(world.db, "SELECT id FROM alerts")) == len(reporters)
    assert world.emu.updates_pending() == 0
    for reporter in reporters:
        saved = [m for m in world.emu.sent(chat_id=reporter.id, method="sendMessage")
                 if "received and saved" in str(m.params.get("text"))]
        assert len(saved) == 1


async def test_kill_in_webhook_mode_repeats_no_effect_and_loses_no_alert(world: World) -> None:
    proc = await team_then_webhook_process(world)
    try:
        await until(lambda: world.emu.webhook_url is not None, "the webhook", within=60)
        reporters = [world.emu.user(first_name=f"R{i}") for i in range(8)]
        for reporter in reporters:
            await reporter.send_location(*ALMATY)
        await until(lambda: rows(world.db, "SELECT id FROM alerts") != [], "a first alert")
    finally:
        proc.kill()  # SIGKILL: whatever was not answered 200 is posted again
    await start_webhook(world)
    for reporter in reporters:
        await reporter.wait_for("received and saved", timeout=30)
    await world.drain()
    assert world.emu.updates_pending() == 0
    raised = rows(world.db, "SELECT alert_id, COUNT(*) FROM alert_events WHERE kind = 'raised'"
                            " GROUP BY alert_id")
    assert len(raised) == len(reporters) and all(n == 1 for _, n in raised)
