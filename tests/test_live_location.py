"""Live location over the emulator, on an injected clock: the holder gets one location
message the bot moves with editMessageLiveLocation (throttled), a silent share marks the
card stale and is told to the holder, the end of the live period is noted and the message
stopped, an old first fix states its age, and /case shows the latest position."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bot.clock import ManualClock
from bot.delivery.outbox import residues
from bot.domain.messages import EDITED_IN_PLACE, Outgoing
from emulator import SimUser
from storage import Storage
from tests.harness import (
    ALMATY,
    ASTANA,
    SHYMKENT,
    World,
    card_for,
    claim,
    data_codec,
    rows,
    start_with_lawyer,
)


def live_pins(lawyer: SimUser) -> list[Any]:
    return [m for m in lawyer.inbox if m.method == "sendLocation"]


def near(message: Any, where: tuple[float, float]) -> bool:
    loc = message.raw.get("location") or {}
    return abs(loc.get("latitude", 0) - where[0]) < 1e-4 and abs(
        loc.get("longitude", 0) - where[1]) < 1e-4


async def settled(reporter: SimUser) -> None:
    """Every update the reporter sent so far has been handled: a text sent after them is
    answered (updates are handled in order)."""
    mark = reporter.mark()
    await reporter.send_text("still here")
    await reporter.wait_for(predicate=lambda m: m.text is not None, after=mark)


async def sharing_and_claimed(world: World, clock: ManualClock, live_period: int = 3600
                              ) -> tuple[SimUser, SimUser, dict[str, Any]]:
    marat = await start_with_lawyer(world, clock)
    aida = await world.register_reporter("Aida")
    live = await aida.send_location(*ALMATY, live_period=live_period, date=clock.now())
    await aida.wait_for("received and saved")
    await claim(marat, 1)
    await marat.wait_for("live location, kept current below")
    await marat.wait_for(predicate=lambda m: m.method == "sendLocation")
    return aida, marat, live


async def test_updates_move_one_message_and_are_throttled(world: World) -> None:
    clock = ManualClock(time.time())
    aida, marat, live = await sharing_and_claimed(world, clock)
    [pin] = live_pins(marat)
    assert near(pin, ALMATY) and pin.raw["location"].get("live_period")

    await aida.edit_live_location(live, *ASTANA)  # within 10 s of the last: dropped
    await settled(aida)
    await world.drain()
    assert rows(world.db, "SELECT round(plain(lat), 2) FROM alerts") == [(43.26,)]
    assert world.emu.sent(chat_id=marat.id, method="editMessageLiveLocation") == []

    clock.advance(11)
    await aida.edit_live_location(live, *SHYMKENT, date=clock.now())
    await marat.wait_for(predicate=lambda m: m.method == "sendLocation" and near(m, SHYMKENT))
    clock.advance(11)
    await aida.edit_live_location(live, *ASTANA, date=clock.now())
    await marat.wait_for(predicate=lambda m: m.method == "sendLocation" and near(m, ASTANA))
    await world.drain()
    assert len(live_pins(marat)) == 1  # the same message, moved
    assert len(world.emu.sent(chat_id=marat.id, method="editMessageLiveLocation")) == 2
    assert rows(world.db, "SELECT round(plain(lat), 2) FROM alerts") == [(51.13,)]
    # No answer to the reporter per update, and no timeline line per update either.
    assert not any("position was added" in (m.text or "") for m in aida.inbox)


async def test_silent_share_marks_the_card_stale_and_tells_the_holder(world: World) -> None:
    clock = ManualClock(time.time())
    aida, marat, live = await sharing_and_claimed(world, clock)
    card = await marat.wait_for("🚨 Alert #1")
    assert "stale" not in (card.text or "")

    clock.advance(301)  # LIVE_STALE_SECONDS without an update
    await marat.wait_for("no live location update for a while")
    await marat.wait_for(predicate=lambda m: m.message_id == card.message_id
                         and "⚠️ stale" in (m.text or ""))
    assert ("live_silent",) in rows(world.db, "SELECT kind FROM alert_events")

    await aida.edit_live_location(live, *ASTANA, date=clock.now())  # back: the mark goes
    await marat.wait_for(predicate=lambda m: m.message_id == card.message_id
                         and "stale" not in (m.text or ""))
    assert ("live_resumed",) in rows(world.db, "SELECT kind FROM alert_events")


async def test_end_of_the_live_period_is_noted_and_the_message_stopped(world: World) -> None:
    clock = ManualClock(time.time())
    _, marat, _ = await sharing_and_claimed(world, clock, live_period=60)
    clock.advance(61)
    ended = await marat.wait_for("live location has ended")
    assert "last position was taken" in (ended.text or "")
    await world.drain()
    assert len(world.emu.sent(chat_id=marat.id, method="stopMessageLiveLocation")) == 1
    assert ("live_ended",) in rows(world.db, "SELECT kind FROM alert_events")
    # Closing the case forgets the share; nothing is stopped twice.
    mark = marat.mark()
    await marat.send_command("/close", "1")
    choice = await marat.wait_for("How did case #1 end?", after=mark)
    await marat.press("released", message=choice)
    await world.drain()
    assert rows(world.db, "SELECT COUNT(*) FROM live_shares") == [(0,)]
    assert len(world.emu.sent(chat_id=marat.id, method="stopMessageLiveLocation")) == 1
    assert rows(world.db, "SELECT COUNT(*) FROM outbox WHERE state = 'failed'") == [(0,)]


async def test_closing_the_case_stops_the_live_message(world: World) -> None:
    clock = ManualClock(time.time())
    _, marat, _ = await sharing_and_claimed(world, clock)
    await marat.send_command("/close", "1")
    choice = await marat.wait_for("How did case #1 end?")
    await marat.press("released", message=choice)
    await world.drain()
    assert len(world.emu.sent(chat_id=marat.id, method="stopMessageLiveLocation")) == 1
    assert rows(world.db, "SELECT COUNT(*) FROM live_shares") == [(0,)]


async def test_an_old_first_fix_states_its_age(world: World) -> None:
    clock = ManualClock(time.time())
    marat = await start_with_lawyer(world, clock)
    aida = await world.register_reporter("Aida")
    await aida.send_location(*ALMATY, date=clock.now() - 20 * 60)  # handed over late
    await aida.wait_for("received and saved")
    card = await card_for(marat, 1)
    assert "taken 20 min ago ⚠️ stale" in (card.text or "")


async def test_case_shows_the_latest_position_and_its_age(world: World) -> None:
    clock = ManualClock(time.time())
    aida, marat, live = await sharing_and_claimed(world, clock)
    clock.advance(11)
    await aida.edit_live_location(live, *ASTANA, date=clock.now())
    await marat.wait_for(predicate=lambda m: m.method == "sendLocation" and near(m, ASTANA))
    clock.advance(120)
    mark = marat.mark()
    await marat.send_command("/case", "1")
    answer = await marat.wait_for("Position:", after=mark)
    assert "Position: 51.12820, 71.43070, taken 2 min ago" in (answer.text or "")
    assert "stale" not in (answer.text or "")
    clock.advance(600)
    c = world.coordinator
    mark = c.mark()
    await c.send_command("/case", "1")
    answer = await c.wait_for("Position:", after=mark)
    assert "taken 12 min ago ⚠️ stale" in (answer.text or "")


async def test_a_new_holder_gets_their_own_live_message(world: World) -> None:
    clock = ManualClock(time.time())
    aida, marat, live = await sharing_and_claimed(world, clock)
    aigul = await world.register_lawyer("Aigul", ("Almaty",))
    await marat.press("Hand over #1", message=await marat.wait_for("You hold case #1"))
    reasons = await marat.wait_for("Why can't you take alert #1?")
    await marat.press("busy with another case", message=reasons)
    await claim(aigul, 1)
    await aigul.wait_for(predicate=lambda m: m.method == "sendLocation")
    await world.drain()
    assert len(world.emu.sent(chat_id=marat.id, method="stopMessageLiveLocation")) == 1
    clock.advance(11)
    await aida.edit_live_location(live, *ASTANA, date=clock.now())
    await aigul.wait_for(predicate=lambda m: m.method == "sendLocation" and near(m, ASTANA))
    await world.drain()
    assert world.emu.sent(chat_id=marat.id, method="editMessageLiveLocation") == []


async def test_a_move_to_where_the_pin_already_is_changes_nothing(world: World) -> None:
    """Telegram refuses an editMessageLiveLocation to the position the message already
    shows ("message is not modified"), so the bot must know what its live message shows
    from the moment it is sent: a move back to that spot sends nothing, and a move to
    (0, 0) is not mistaken for one (the fuzzer found both)."""
    clock = ManualClock(time.time())
    aida, marat, live = await sharing_and_claimed(world, clock)
    [pin] = live_pins(marat)
    clock.advance(11)
    await aida.edit_live_location(live, *ALMATY, date=clock.now())  # moved, to the same spot
    await settled(aida)
    await world.drain()
    assert [(c.status, c.error) for c in world.emu.calls
            if c.method == "editMessageLiveLocation"] == []
    clock.advance(11)
    await aida.edit_live_location(live, 0.0, 0.0, date=clock.now())
    moved = await marat.wait_for(predicate=lambda m: m.message_id == pin.message_id
                                 and m.raw["location"]["latitude"] == 0.0)
    assert moved.raw["location"]["longitude"] == 0.0
    await world.drain()
    assert [c.status for c in world.emu.calls if c.method == "editMessageLiveLocation"] == [200]


async def test_a_live_pin_keeps_its_position_only_until_the_alert_is_anonymised(
        database: Path | str) -> None:
    """A delivered live location keeps its position (sealed), so a move back to where it
    stands is seen as no move; anonymising the alert (retention, /forget) removes it."""
    storage = Storage(database, data_codec())
    async with storage, storage.transaction() as tx:
        await tx.ensure_person(5, 0.0, "en", "reporter")
        alert = await tx.create_alert(5, 0.0, state="closed", closed_at=1.0)
        live = Outgoing(location=(43.25671, 76.92861), live=True).to_json()
        row = await tx.enqueue(7, "live", 1, live, 0.0, alert_id=alert)
        await tx.mark_sent([row], 99, 1.0)
        await tx.keep_after_delivery(residues(await tx.outbox_rows([row]),
                                              kept=EDITED_IN_PLACE))
        kept = await tx.outbox_row(row)
        assert kept is not None and "43.25671" in kept.payload
        await tx.anonymise_alert(alert, 2.0)
        gone = await tx.outbox_row(row)
        assert gone is not None and "43.2" not in gone.payload and "76.9" not in gone.payload
