"""The reporter's first flow, end to end: the bot and the emulator talking HTTP."""

from __future__ import annotations

import time

from bot.clock import ManualClock
from tests.harness import ALMATY, ASTANA, World, rows


async def test_register_and_one_tap_alert_is_stored_then_confirmed(world: World) -> None:
    await world.start()
    aida = await world.register_reporter("Aida", region="Astana")
    assert aida.keyboard is not None and any("SOS" in label for row in aida.keyboard
                                              for label in row)
    mark = aida.mark()
    await aida.tap("📍 SOS: send my location", location=ALMATY)
    confirm = await aida.wait_for("received and saved", after=mark)
    assert confirm.text is not None and "Alert #1" in confirm.text
    # The confirmation was sent only after the alert was committed.
    (alert,) = rows(world.db, "SELECT id, state, region, plain(lat), plain(lon) FROM alerts")
    assert alert[:3] == (1, "open", "almaty")  # region from the location, not the profile
    sent = world.emu.sent(chat_id=aida.id, method="sendMessage")
    assert any("received and saved" in (c.params.get("text") or "") for c in sent)
    events = rows(world.db, "SELECT kind FROM alert_events WHERE alert_id = 1")
    assert ("raised",) in events


async def test_second_tap_adds_position_instead_of_a_duplicate(world: World) -> None:
    await world.start()
    aida = await world.register_reporter("Aida")
    await aida.tap("📍 SOS: send my location", location=ALMATY)
    await aida.wait_for("received and saved")
    mark = aida.mark()
    await aida.tap("📍 SOS: send my location", location=ASTANA)
    await aida.wait_for("new position was added", after=mark)
    assert rows(world.db, "SELECT COUNT(*) FROM alerts") == [(1,)]
    assert rows(world.db, "SELECT round(plain(lat), 2) FROM alerts") == [(51.13,)]
    kinds = [k for (k,) in rows(world.db, "SELECT kind FROM alert_events ORDER BY id")]
    assert kinds == ["raised", "position"]


async def test_alert_without_location_uses_registered_region(world: World) -> None:
    await world.start()
    bek = await world.register_reporter("Bek", region="Shymkent")
    await bek.tap("🆘 Alert without location")
    await bek.wait_for("received and saved")
    assert rows(world.db, "SELECT region, plain(lat) FROM alerts") == [("shymkent", None)]


async def test_live_location_update_moves_the_open_alert(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    aida = await world.register_reporter("Aida")
    msg = await aida.send_location(*ALMATY, live_period=900)
    await aida.wait_for("received and saved")
    clock.advance(11)  # past the throttle (one stored position per 10 s)
    await aida.edit_live_location(msg, *ASTANA)
    await world.drain()
    assert rows(world.db, "SELECT COUNT(*), round(plain(lat), 2) FROM alerts GROUP BY lat")\
        == [(1, 51.13)]


async def test_name_that_is_empty_or_a_command_is_refused_politely(world: World) -> None:
    await world.start()
    u = world.emu.user(first_name="X")
    await u.send_command("/start")
    await u.wait_for("What we store")
    await u.press("I agree")
    await u.wait_for("What name should lawyers see?")
    mark = u.mark()
    await u.send_text("   ")
    await u.send_text("\u200b")
    await u.wait_for("Please send a name", after=mark)
    assert rows(world.db, "SELECT plain(display_name), step FROM people") == [(None, "name")]


async def test_forged_region_button_changes_nothing(world: World) -> None:
    await world.start()
    u = world.emu.user(first_name="Y")
    await u.send_command("/start")
    await u.wait_for("What we store")
    await u.press("I agree")
    await u.wait_for("What name should lawyers see?")
    await u.send_text("Yerlan")
    picker = await u.wait_for("Where are you based?")
    answer = await u.press_data(picker, "region:narnia")
    assert answer is not None
    await u.wait_for("no longer valid")
    assert rows(world.db, "SELECT region, step FROM people") == [(None, "region")]
