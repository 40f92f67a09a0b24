"""Invites and on-call times (issue 17, points 8 and 9): a second invite never restarts a
registered lawyer's registration nor moves a reporter with an open alert into another step,
and an on-call time under a minute or over 7 days is refused and changes nothing."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.clock import ManualClock
from tests.harness import ALMATY, World, card_for, raise_alert, rows

LOCAL_TZ = ZoneInfo("Asia/Almaty")  # QORGAU_TIMEZONE's default

PERSON = "SELECT role, step, plain(display_name), serves_regions, on_call, on_call_until" \
         " FROM people WHERE user_id = ?"


@pytest.mark.parametrize("role", ["lawyer", "coordinator"])
async def test_on_call_lawyer_who_opens_another_invite_stays_on_call_and_registered(
        world: World, role: str) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    before = rows(world.db, PERSON, marat.id)
    code = await world.invite_link(role)
    mark = marat.mark()
    await marat.send_command("/start", code)
    await marat.wait_for("You are already registered as a lawyer", after=mark)
    assert rows(world.db, PERSON, marat.id) == before
    assert rows(world.db, "SELECT COUNT(*) FROM invites WHERE used_by IS NOT NULL") == [(1,)]
    # Still paged as before.
    _, alert_id = await raise_alert(world, "Aida", ALMATY)
    await card_for(marat, alert_id)


async def test_reporter_with_an_open_alert_is_not_moved_by_an_invite(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    card = await card_for(marat, alert_id)
    await marat.press(f"Claim the case #{alert_id}", message=card)
    await reporter.wait_for("has taken your case")
    before = rows(world.db, PERSON, reporter.id)
    code = await world.invite_link("lawyer")
    mark = reporter.mark()
    await reporter.send_command("/start", code)
    await reporter.wait_for(f"Your alert #{alert_id} is open", after=mark)
    assert rows(world.db, PERSON, reporter.id) == before
    await reporter.send_text("police van 777 on Abai street")
    await marat.wait_for("police van 777 on Abai street")
    # The link was not spent: once the alert is closed it still works.
    await marat.send_command("/close", str(alert_id))
    choice = await marat.wait_for(f"How did case #{alert_id} end?")
    await marat.press("released", message=choice)
    await reporter.wait_for("is closed")
    mark = reporter.mark()
    await reporter.send_command("/start", code)
    await reporter.wait_for("invited as a lawyer", after=mark)


@pytest.mark.parametrize("arg", ["0.0000001h", "0.001h", "0h", "9999h", "169h",
                                 "999999999999999999999999999999h"])
async def test_on_call_durations_out_of_range_are_refused_and_change_nothing(
        world: World, arg: str) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",), on_call=False)
    before = rows(world.db, PERSON, marat.id)
    mark = marat.mark()
    await marat.send_command("/oncall", arg)
    await marat.wait_for("between 1 minute and 7 days", after=mark)
    await world.drain()
    assert rows(world.db, PERSON, marat.id) == before
    assert rows(world.db, "SELECT COUNT(*) FROM timers WHERE kind = 'oncall_until'") == [(0,)]


async def test_on_call_until_a_time_less_than_a_minute_away_is_refused(world: World) -> None:
    start = datetime(2026, 11, 27, 18, 29, 30, tzinfo=LOCAL_TZ).timestamp()
    clock = ManualClock(start)
    await world.start(clock=clock)
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    await marat.send_command("/oncall", "4h")
    await marat.wait_for("You are on call until")
    before = rows(world.db, PERSON, marat.id)
    mark = marat.mark()
    await marat.send_command("/oncall", "18:30")
    await marat.wait_for("between 1 minute and 7 days", after=mark)
    assert rows(world.db, PERSON, marat.id) == before
    mark = marat.mark()
    await marat.send_command("/oncall", "167h")
    await marat.wait_for("You are on call until", after=mark)
    until = rows(world.db, "SELECT on_call_until FROM people WHERE user_id = ?", marat.id)
    assert until == [(start + 167 * 3600,)]
