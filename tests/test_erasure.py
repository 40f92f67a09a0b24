"""Erasure (issue 8, point 5): a reporter's /forget after a confirmation button, a
coordinator's /erase <user id>; an open alert is kept until it closes, then erased. Forged
buttons, a second press and people without the right get a clear answer and change nothing."""

from __future__ import annotations

import time

from bot.clock import ManualClock
from emulator import SimUser
from tests.harness import ALMATY, ASTANA, World, card_for, claim, raise_alert, rows
from tests.test_retention import CLOSING, NAME, NOTE, TEXT, closed_case, raw_bytes, traces

CONFIRM = "Yes, erase everything"
NOTHING = "Nothing is stored about you here."
# Someone may read a reporter's phone over their shoulder (discreet mode).
GIVEAWAYS = ("alert", "detained", "lawyer", "police", "arrest", "case")


def discreet(text: str) -> bool:
    return not any(word in text.lower() for word in GIVEAWAYS)


def everything(world: World) -> list[tuple[object, ...]]:
    return [*rows(world.db, "SELECT * FROM people ORDER BY user_id"),
            *rows(world.db, "SELECT * FROM alerts ORDER BY id"),
            *rows(world.db, "SELECT id, detail, actor_id FROM alert_events ORDER BY id"),
            *rows(world.db, "SELECT * FROM timers WHERE kind IN ('forget', 'erase')"
                  " ORDER BY kind, subject_id")]


async def command(world: World, user: SimUser, text: str, *args: str) -> str:
    """Send a command and return the bot's next message (after what was still queued)."""
    await world.drain()
    mark = user.mark()
    await user.send_command(text, *args)
    msg = await user.wait_for(predicate=lambda m: True, after=mark)
    return msg.text or ""


async def test_forget_erases_after_confirmation_and_twice_is_answered(world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter, _ = await closed_case(world, marat)
    ask = await command(world, reporter, "/forget")
    assert "cannot be undone" in ask and discreet(ask)
    assert rows(world.db, "SELECT COUNT(*) FROM people WHERE user_id = ?", reporter.id) == [(1,)]

    confirm = reporter.inbox[-1]
    mark = reporter.mark()
    await reporter.press(CONFIRM, message=confirm)
    done = await reporter.wait_for("erased", after=mark)
    assert discreet(done.text or "")
    assert rows(world.db, "SELECT COUNT(*) FROM people WHERE user_id = ?", reporter.id) == [(0,)]
    assert rows(world.db, "SELECT reporter_id, lat, outcome FROM alerts") == [
        (0, None, "released")]
    assert rows(world.db, "SELECT actor_id, plain(detail) FROM alert_events WHERE kind = 'erased'"
                ) == [(None, '{"by": "request"}')]  # that it happened, not what or by whom
    assert traces(raw_bytes(world.db), NAME, TEXT, NOTE, CLOSING) == []

    again = await reporter.press(CONFIRM, message=confirm)  # the old button, pressed twice
    assert again.text == NOTHING
    assert await command(world, reporter, "/forget") == NOTHING
    stats = await command(world, coordinator, "/stats", "7")
    assert "1 alert raised, 0 still open" in stats
    # Their SOS button still raises an alert, as for anyone unregistered.
    mark = reporter.mark()
    await reporter.tap("📍 SOS: send my location", location=ALMATY)
    await reporter.wait_for("received and saved", after=mark)
    await card_for(marat, 2)


async def test_forget_with_an_open_alert_waits_until_it_closes(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, NAME, ALMATY)
    await claim(marat, alert_id)
    ask = await command(world, reporter, "/forget")
    assert "still open" in ask and discreet(ask)
    mark = reporter.mark()
    await reporter.press(CONFIRM, message=reporter.inbox[-1])
    noted = await reporter.wait_for("once your request for help is closed", after=mark)
    assert discreet(noted.text or "")
    again = await command(world, reporter, "/forget")
    assert again.startswith("You already asked") and discreet(again)

    clock.advance(600)  # still open: nothing is erased, the alert keeps working
    await world.q.timers.run_due()
    await reporter.send_text(TEXT)
    await marat.wait_for(TEXT)
    assert rows(world.db, "SELECT reporter_id, CAST(plain(lat) AS REAL) FROM alerts") == [
        (reporter.id, ALMATY[0])]

    await marat.send_command("/close", str(alert_id))
    choice = await marat.wait_for(f"How did case #{alert_id} end?")
    await marat.press("released", message=choice)
    await reporter.wait_for("closed")
    mark = reporter.mark()
    clock.advance(301)
    await world.q.timers.run_due()
    done = await reporter.wait_for("erased", after=mark)
    assert discreet(done.text or "")
    assert rows(world.db, "SELECT reporter_id, lat FROM alerts") == [(0, None)]
    assert rows(world.db, "SELECT COUNT(*) FROM people WHERE user_id = ?", reporter.id) == [(0,)]
    assert rows(world.db, "SELECT COUNT(*) FROM timers WHERE kind = 'forget'") == [(0,)]


async def test_forged_forget_buttons_and_staff_change_nothing(world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter = await world.register_reporter(NAME)
    stranger = world.emu.user(first_name="Stranger")
    await command(world, stranger, "/help")
    before = everything(world)
    for user in (marat, coordinator):
        assert (await command(world, user, "/forget")).startswith("You are on the team")
        assert (await user.press_data(user.inbox[-1], "forget")).text \
            .startswith("You are on the team")
    forged = await reporter.press_data(reporter.inbox[-1], f"forget:{marat.id}")
    assert forged.text == "Sorry, this button is not for you."
    assert (await stranger.press_data(stranger.inbox[-1], "forget")).text == NOTHING
    assert await command(world, stranger, "/forget") == NOTHING
    await world.drain()
    assert everything(world) == before


async def test_coordinator_erases_a_person_and_others_cannot(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty", "Astana"))
    reporter, _ = await closed_case(world, marat)
    other, open_id = await raise_alert(world, "Saule", ASTANA)
    before = everything(world)
    assert await command(world, marat, "/erase", str(reporter.id)) == \
        "Only coordinators can erase a person's data."
    assert await command(world, reporter, "/erase", str(other.id)) == \
        "Only coordinators can erase a person's data."
    assert await command(world, coordinator, "/erase", "abc") == \
        "Use /erase <user id> (see /people)."
    assert await command(world, coordinator, "/erase", "123456") == \
        "Nothing is stored about 123456."
    assert await command(world, coordinator, "/erase", str(marat.id)) == \
        f"{marat.id} is on the team; /revoke them first."
    await world.drain()
    assert everything(world) == before

    answer = await command(world, coordinator, "/erase", str(reporter.id))
    assert answer == (f"Erased everything stored about {reporter.id}: their profile and "
                      "1 alert.")
    assert rows(world.db, "SELECT COUNT(*) FROM people WHERE user_id = ?", reporter.id) == [(0,)]
    assert rows(world.db, "SELECT actor_id FROM alert_events WHERE kind = 'erased'") == [
        (coordinator.id,)]
    assert traces(raw_bytes(world.db), NAME, TEXT, NOTE, CLOSING) == []
    assert await command(world, coordinator, "/erase", "0") == \
        "Nothing is stored about 0."  # the placeholder of anonymised alerts
    audit = await command(world, coordinator, "/audit")
    assert "a person's data erased" in audit and str(reporter.id) not in audit

    # An open alert is kept until it closes; the person is not told (a coordinator acted).
    answer = await command(world, coordinator, "/erase", str(other.id))
    assert answer.startswith(f"{other.id} has open alert #{open_id}")
    await claim(marat, open_id)
    await marat.send_command("/close", str(open_id))
    await marat.press("released", message=await marat.wait_for(f"How did case #{open_id}"))
    await other.wait_for("closed")
    mark = other.mark()
    clock.advance(301)
    await world.q.timers.run_due()
    await world.drain()
    assert rows(world.db, "SELECT COUNT(*) FROM people WHERE user_id = ?", other.id) == [(0,)]
    assert rows(world.db, "SELECT reporter_id FROM alerts ORDER BY id") == [(0,), (0,)]
    assert other.inbox[mark:] == []

    # A former lawyer: revoked, then erased; the alerts keep their staff id, the row is
    # emptied, and a second /erase finds nothing.
    await command(world, coordinator, "/revoke", str(marat.id))
    assert await command(world, coordinator, "/erase", str(marat.id)) == (
        f"Erased everything stored about {marat.id}: their profile and 0 alerts.")
    assert rows(world.db, "SELECT role, display_name, region, serves_regions, step FROM people"
                " WHERE user_id = ?", marat.id) == [("reporter", None, None, "", "erased")]
    assert rows(world.db, "SELECT claimed_by FROM alerts ORDER BY id") == [
        (marat.id,), (marat.id,)]
    assert await command(world, coordinator, "/erase", str(marat.id)) == \
        f"Nothing is stored about {marat.id}."
