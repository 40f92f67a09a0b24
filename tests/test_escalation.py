"""Escalation end to end, on an injected clock: waves until someone acknowledges, due times
kept in the database across a restart, claim timeout, stale reminders, on-call "until"."""

from __future__ import annotations

import time

from bot.clock import ManualClock
from emulator import SimUser
from tests.harness import ALMATY, ASTANA, World, card_for, claim, raise_alert, rows


def waves_seen(user: SimUser, alert_id: int) -> list[str]:
    return [m.text or "" for m in user.inbox
            if f"Alert #{alert_id}" in (m.text or "") and "wave" in (m.text or "")]


async def test_waves_repeat_until_acknowledged_and_survive_a_restart(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock, ack_timeout_seconds=180, repeat_seconds=300)
    coordinator = await world.register_coordinator()
    ali = await world.register_lawyer("Ali", ("Astana",))
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Bek", ASTANA)
    await card_for(ali, alert_id)
    await world.drain()
    assert waves_seen(marat, alert_id) == [] and waves_seen(coordinator, alert_id) == []

    clock.advance(181)  # nobody acknowledged within ACK_TIMEOUT: wave 2 to everyone
    await marat.wait_for("wave 2")
    await coordinator.wait_for("wave 2")
    await ali.wait_for("wave 2")
    await reporter.wait_for("still looking for a lawyer")

    # Killed in the middle of the escalation; the next wave falls due while it is down.
    await world.stop()
    clock.advance(301)
    await world.start(clock=clock)
    await marat.wait_for("wave 3")  # fired at once after the restart
    assert rows(world.db, "SELECT wave FROM alerts") == [(3,)]

    card = await card_for(marat, alert_id, after=0)
    await marat.press(f"Acknowledge #{alert_id}", message=card)
    await reporter.wait_for("has seen your alert")
    clock.advance(301)
    await world.drain()
    await world.q.timers.run_due()
    await world.drain()
    assert rows(world.db, "SELECT wave, state FROM alerts") == [(3, "acknowledged")]
    assert not any("wave 4" in (m.text or "") for m in marat.inbox)


async def test_unclaimed_acknowledged_alert_asks_coordinators_to_assign(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock, claim_timeout_seconds=600)
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    aigul = await world.register_lawyer("Aigul", ("Almaty",), on_call=False)
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    card = await card_for(marat, alert_id)
    await marat.press(f"Acknowledge #{alert_id}", message=card)
    clock.advance(601)
    ask = await coordinator.wait_for("Please assign it")
    await coordinator.press(f"Assign #{alert_id}", message=ask)
    choice = await coordinator.wait_for(f"Assign alert #{alert_id} to:")
    await coordinator.press("Aigul", message=choice)
    await aigul.wait_for("A coordinator assigned alert")
    await aigul.wait_for(f"You hold case #{alert_id}")
    await reporter.wait_for("Lawyer Aigul has taken your case")
    assert rows(world.db, "SELECT claimed_by FROM alerts") == [(aigul.id,)]


async def test_claimed_case_without_updates_reminds_its_lawyer(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock, stale_hours=2)
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    _, alert_id = await raise_alert(world, "Aida", ALMATY)
    await claim(marat, alert_id)
    clock.advance(2 * 3600 + 1)
    await marat.wait_for("has had no update for a while")


async def test_on_call_until_a_time_ends_by_itself_and_says_so(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",), on_call=False)
    await marat.send_command("/oncall", "2h")
    await marat.wait_for("You are on call until")
    assert rows(world.db, "SELECT on_call FROM people WHERE user_id = ?", marat.id) == [(1,)]
    clock.advance(2 * 3600 + 1)
    await marat.wait_for("on-call time has ended")
    assert rows(world.db, "SELECT on_call FROM people WHERE user_id = ?", marat.id) == [(0,)]


async def test_im_safe_closes_after_the_lawyer_confirms(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    card = await card_for(marat, alert_id)
    await marat.press(f"Claim the case #{alert_id}", message=card)
    await reporter.wait_for("has taken your case")
    mark = reporter.mark()
    await reporter.tap("✅ I'm safe")
    await reporter.wait_for("Received.", after=mark)
    assert rows(world.db, "SELECT state FROM alerts") == [("claimed",)]  # not by itself
    ask = await marat.wait_for("says they are safe")
    await marat.press(f"Confirm: close #{alert_id}", message=ask)
    await reporter.wait_for("is closed (safe)")
    assert rows(world.db, "SELECT state, outcome FROM alerts") == [("closed", "safe")]


async def test_im_safe_on_an_acknowledged_alert_closes_by_itself_after_the_set_time(
        world: World) -> None:
    """A lawyer is in the loop (they acknowledged it): their silence lets it close."""
    clock = ManualClock(time.time())
    await world.start(clock=clock, safe_autoclose_seconds=600)
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    card = await card_for(marat, alert_id)
    await marat.press(f"Acknowledge #{alert_id}", message=card)
    mark = reporter.mark()
    await reporter.tap("✅ I'm safe")
    await reporter.wait_for("Received.", after=mark)
    clock.advance(601)
    await reporter.wait_for("is closed (safe)")


async def test_im_safe_never_closes_an_unacknowledged_alert_by_itself(world: World) -> None:
    """Issue 15: this alert used to close by itself after SAFE_AUTOCLOSE_SECONDS, with no
    person in the loop, and the reporter (or whoever holds their phone) was told exactly
    when. Now it stays open and escalating, the cards and the coordinators show the "I'm
    safe", the reporter's chat says only "Received.", and a coordinator confirms it."""
    clock = ManualClock(time.time())
    await world.start(clock=clock, safe_autoclose_seconds=600)
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    mark = reporter.mark()
    await reporter.tap("✅ I'm safe")
    said = await reporter.wait_for("Received.", after=mark)
    assert said.text == "Received."
    ask = await coordinator.wait_for("says they are safe")
    await marat.wait_for(predicate=lambda m: "said \"I'm safe\"" in (m.text or "")
                         and f"Claim the case #{alert_id}" in m.buttons)
    clock.advance(3600)
    await coordinator.wait_for("wave 2")  # the alarm goes on
    await world.drain()
    await world.q.timers.run_due()
    assert rows(world.db, "SELECT state FROM alerts") == [("open",)]
    await coordinator.press(f"Confirm: close #{alert_id}", message=ask)
    await reporter.wait_for("is closed (safe)")
    assert rows(world.db, "SELECT state, outcome FROM alerts") == [("closed", "safe")]
