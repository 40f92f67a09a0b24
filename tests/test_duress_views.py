"""After a duress cancel, the reporter's chat must read exactly as after a real cancel,
whatever is done next (found by an attack on the first version: /checkin, /forget and
"I'm safe" gave the open alert away). Each test runs the same steps after a real cancel
and after a duress cancel, in discreet mode, and compares the two chats."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable

from bot.clock import ManualClock
from emulator import SimUser
from tests.harness import ALMATY, World, claim, rows
from tests.test_cancelling import DURESS, PIN, answer_to, chat_view, set_pins

Steps = Callable[[SimUser], Awaitable[None]]


async def after_cancel(world: World, marat: SimUser, pin: str, steps: Steps) -> list[str]:
    """A discreet reporter raises an alert, Marat claims it, the reporter cancels with
    ``pin``; then ``steps``. What the chat shows at the end."""
    reporter = await world.register_reporter("Aida", discreet=True)
    await set_pins(reporter)
    mark = reporter.mark()
    await reporter.tap("📍 Send my location", location=ALMATY)
    await reporter.wait_for("Received", after=mark)
    await claim(marat, max(r[0] for r in rows(world.db, "SELECT id FROM alerts")))
    await world.drain()
    await answer_to(reporter, "✅ I'm safe")
    assert await answer_to(reporter, pin) == "Cancelled."
    await world.drain()
    await steps(reporter)
    await world.drain()
    return chat_view(reporter)


def unstamped(view: list[str]) -> list[str]:
    """A chat as a person would compare two: clock times, button ids and file ids differ
    between two runs anyway."""
    return [re.sub(r"\d{1,2}:\d{2}|chk:(ok|ext):\d+|user-\d+-\d+|u[sb]\d+", "…", line)
            for line in view]


async def same_after_both(world: World, marat: SimUser, steps: Steps) -> None:
    real = unstamped(await after_cancel(world, marat, PIN, steps))
    duress = unstamped(await after_cancel(world, marat, DURESS, steps))
    assert real == duress, "\n".join(f"{a}\n   vs {b}" for a, b in zip(real, duress, strict=False)
                                     if a != b) + f"\n{len(real)} vs {len(duress)} lines"


async def test_commands_and_time_after_a_duress_cancel_look_the_same(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))

    async def steps(reporter: SimUser) -> None:
        for command in (("/start",), ("/checkin", "2h"), ("/checkin",), ("/discreet",),
                        ("/forget",), ("/help",)):
            mark = reporter.mark()
            await reporter.send_command(*command)
            await reporter.wait_for(after=mark)
            await world.drain()
        mark = reporter.mark()
        await reporter.send_photo(caption="bruises")
        await reporter.wait_for(after=mark)
        await world.drain()
        clock.advance(90 * 60)  # escalation waves pass (the check-in is not due yet)
        await world.drain()
        await asyncio.sleep(1)  # the timer loop's turn
        await world.drain()

    await same_after_both(world, marat, steps)


async def test_im_safe_pin_and_live_location_after_a_duress_cancel(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))

    async def steps(reporter: SimUser) -> None:
        await answer_to(reporter, "✅ I'm safe")
        await world.drain()
        await answer_to(reporter, "/pin")
        await world.drain()
        mark = reporter.mark()
        await reporter.send_location(43.2601, 76.9301, live_period=900)
        await reporter.wait_for(after=mark)

    await same_after_both(world, marat, steps)


async def test_a_note_on_a_cancelled_case_stays_with_the_lawyer(world: World) -> None:
    """A real cancel closes the case: a later /note is kept on its timeline but never
    lands in the reporter's (cleared) chat; after a duress cancel, the same."""
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    answers = []

    async def steps(reporter: SimUser) -> None:
        alert_id = max(r[0] for r in rows(world.db, "SELECT id FROM alerts"))
        mark = marat.mark()
        await marat.send_command("/note", f"{alert_id} we are at the station")
        answers.append((await marat.wait_for("Note added", after=mark)).text or "")

    await same_after_both(world, marat, steps)
    assert "closed case" in answers[0] and "not sent to the reporter" in answers[1]
    notes = rows(world.db, "SELECT COUNT(*) FROM alert_events WHERE kind = 'lawyer_note'")
    assert notes == [(2,)]  # kept for the record in both
