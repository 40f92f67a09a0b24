"""What the review of the core loop found, kept from coming back: a forced "I'm safe", a
live share after a close, a revoked lawyer's cases, long messages, unregistered senders,
odd input, and what the logs may say."""

from __future__ import annotations

import time

from bot.clock import ManualClock
from tests.harness import ALMATY, ASTANA, BotProcess, World, card_for, claim, raise_alert, rows


async def test_sos_after_im_safe_withdraws_the_safe_and_keeps_the_alert(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock, safe_autoclose_seconds=600)
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    card = await card_for(marat, alert_id)
    await marat.press(f"Claim the case #{alert_id}", message=card)
    mark = reporter.mark()
    await reporter.tap("✅ I'm safe")  # perhaps forced
    await reporter.wait_for("Received.", after=mark)
    await reporter.tap("📍 SOS: send my location", location=ASTANA)
    await marat.wait_for("pressed SOS again after saying they were safe")
    clock.advance(601)
    await world.drain()
    await world.q.timers.run_due()
    assert rows(world.db, "SELECT state, safe_at FROM alerts") == [("claimed", None)]


async def test_acknowledging_lawyer_can_confirm_safe(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    card = await card_for(marat, alert_id)
    await marat.press(f"Acknowledge #{alert_id}", message=card)
    await reporter.tap("✅ I'm safe")
    ask = await marat.wait_for("says they are safe")
    answer = await marat.press(f"Confirm: close #{alert_id}", message=ask)
    assert answer.text == f"Case #{alert_id} closed: safe."


async def test_live_location_after_the_alert_closed_raises_nothing(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter = await world.register_reporter("Aida")
    live = await reporter.send_location(*ALMATY, live_period=3600)
    card = await card_for(marat, 1)
    await marat.press("Claim the case #1", message=card)
    await marat.send_command("/close", "1")
    choice = await marat.wait_for("How did case #1 end?")
    await marat.press("released", message=choice)
    await reporter.wait_for("is closed")
    await reporter.edit_live_location(live, *ASTANA)
    await world.drain()
    assert rows(world.db, "SELECT COUNT(*) FROM alerts") == [(1,)]


async def test_revoked_lawyer_loses_the_case_and_it_is_paged_again(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    aigul = await world.register_lawyer("Aigul", ("Astana",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    await claim(marat, alert_id)
    c = world.coordinator
    mark = c.mark()
    await c.send_command("/revoke", str(marat.id))
    await c.wait_for(f"paged again: #{alert_id}", after=mark)
    await reporter.wait_for("being passed to another lawyer")
    await aigul.wait_for("wave 2")  # everyone on call is paged at once
    assert rows(world.db, "SELECT state, claimed_by FROM alerts") == [("open", None)]
    mark = marat.mark()
    await marat.send_command("/note", f"{alert_id} still here")
    await marat.wait_for("only to a case you hold", after=mark)
    await reporter.send_text("Where is my lawyer?")
    await world.drain()
    assert not any("Where is my lawyer" in (m.text or "") for m in marat.inbox)


async def test_long_reporter_messages_never_stop_the_pages(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    for i in range(3):
        await reporter.send_text(f"{i} " + "word " * 420)
    await world.drain()
    clock.advance(181)
    await coordinator.wait_for("wave 2")
    await marat.wait_for("wave 2")
    card = await card_for(marat, alert_id, after=0)
    await marat.press(f"Claim the case #{alert_id}", message=card)
    await marat.wait_for(f"You hold case #{alert_id}")
    assert rows(world.db, "SELECT COUNT(*) FROM outbox WHERE state = 'failed'") == [(0,)]
    assert rows(world.db, "SELECT on_call FROM people WHERE user_id = ?", marat.id) == [(1,)]


async def test_unregistered_sender_is_never_shown_by_telegram_id(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    stranger = world.emu.user(first_name="Stranger")
    await stranger.send_location(*ALMATY)
    card = await card_for(marat, 1)
    assert card.text is not None and "an unregistered reporter" in card.text
    assert str(stranger.id) not in card.text


async def test_unicode_digits_get_a_usage_answer(world: World) -> None:
    await world.start()
    c = await world.register_coordinator()
    for command, args, usage in [("/case", "²", "Use /case N."), ("/stats", "²", "Use /stats"),
                                 ("/oncall", "²h", "Use /oncall")]:
        mark = c.mark()
        await c.send_command(command, args)
        await c.wait_for(usage, after=mark)


async def test_debug_logs_carry_no_location_name_text_or_token(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    await world.register_lawyer("Marat", ("Almaty",))
    await world.drain()
    await world.stop()
    proc = BotProcess(world, QORGAU_LOG_LEVEL="DEBUG")
    proc.start()
    try:
        reporter = world.emu.user(first_name="Zhanar")
        await reporter.send_location(43.2567, 76.9286)
        await reporter.wait_for("received and saved", timeout=30)
        await reporter.send_text("Detained near the akimat by six officers")
        await reporter.wait_for("Added to alert", timeout=30)
    finally:
        await proc.stop()
    log = proc.log.read_text(encoding="utf-8", errors="replace")
    assert "DEBUG" in log  # it did log at DEBUG
    for secret in ("43.256", "76.928", "Zhanar", "akimat", "Marat", world.emu.token):
        assert secret not in log, secret
