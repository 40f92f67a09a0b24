"""Who may answer an alert (issue 17, points 3, 4 and 12): a person in danger is never their
own responder, closing belongs to holding the case, and a lawyer who cannot take a case
says so and the next people are paged at once. Forged buttons change nothing."""

from __future__ import annotations

import time

from bot.clock import ManualClock
from emulator import SimUser
from tests.harness import ALMATY, World, card_for, claim, raise_alert, rows

REFUSALS = ("Sorry, this button is not for you.", "You can close only a case you hold.")


def snapshot(world: World) -> list[tuple[object, ...]]:
    alerts = rows(world.db, "SELECT * FROM alerts ORDER BY id")
    events = rows(world.db, "SELECT id, kind, actor_id FROM alert_events ORDER BY id")
    recipients = rows(world.db, "SELECT * FROM alert_recipients ORDER BY 1, 2")
    timers = rows(world.db, "SELECT * FROM timers ORDER BY 1, 2")
    return [*alerts, *events, *recipients, *timers]


def alert_texts(user: SimUser, alert_id: int) -> list[str]:
    """The alert cards (first wave or later) this person received."""
    return [m.text or "" for m in user.inbox if f"🚨 Alert #{alert_id}" in (m.text or "")]


async def sos(user: SimUser) -> int:
    mark = user.mark()
    await user.tap("📍 SOS: send my location", location=ALMATY)
    msg = await user.wait_for("received and saved", after=mark)
    assert msg.text is not None
    return int(msg.text.split("#")[1].split()[0])


async def forged(world: World, user: SimUser, data: str) -> str:
    answer = await user.press_data(user.inbox[-1], data)
    await world.drain()
    return answer.text or ""


# --- point 3: a person in danger is never their own responder ----------------------------

async def test_lawyer_in_danger_is_in_no_wave_and_cannot_act_on_their_own_alert(
        world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock, ack_timeout_seconds=180, repeat_seconds=300)
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    ali = await world.register_lawyer("Ali", ("Astana",))
    alert_id = await sos(marat)
    await card_for(ali, alert_id)
    clock.advance(181)
    await ali.wait_for("wave 2")
    await coordinator.wait_for("wave 2")
    clock.advance(301)
    await ali.wait_for("wave 3")
    await world.drain()
    assert alert_texts(marat, alert_id) == [], "paged for their own alert"
    assert rows(world.db, "SELECT COUNT(*) FROM alert_recipients WHERE user_id = ?",
                marat.id) == [(0,)]

    before = snapshot(world)
    for data in (f"ack:{alert_id}", f"claim:{alert_id}", f"out:{alert_id}:safe",
                 f"out:{alert_id}:rel", f"close:{alert_id}", f"decl:{alert_id}",
                 f"decl:{alert_id}:busy"):
        assert await forged(world, marat, data) in REFUSALS, data
    mark = marat.mark()
    await marat.send_command("/close", str(alert_id))
    await marat.wait_for("only a case you hold", after=mark)
    assert snapshot(world) == before


async def test_coordinator_in_danger_cannot_acknowledge_assign_or_close_their_own_alert(
        world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock, ack_timeout_seconds=180)
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    alert_id = await sos(coordinator)
    await card_for(marat, alert_id)
    clock.advance(181)
    await marat.wait_for("wave 2")
    await world.drain()
    assert not any("wave" in t for t in alert_texts(coordinator, alert_id))

    before = snapshot(world)
    for data in (f"ack:{alert_id}", f"claim:{alert_id}", f"asg:{alert_id}:{marat.id}",
                 f"out:{alert_id}:rel", f"out:{alert_id}:safe"):
        answer = await forged(world, coordinator, data)
        assert answer in (*REFUSALS, "That lawyer or alert no longer exists."), data
    mark = coordinator.mark()
    await coordinator.send_command("/assign", str(alert_id))
    await coordinator.wait_for("is your own", after=mark)
    await world.drain()
    assert snapshot(world) == before


async def test_assign_dialog_never_offers_the_lawyer_who_raised_the_alert(
        world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    await world.register_lawyer("Aigul", ("Almaty",))
    alert_id = await sos(marat)
    mark = coordinator.mark()
    await coordinator.send_command("/assign", str(alert_id))
    choice = await coordinator.wait_for(f"Assign alert #{alert_id} to:", after=mark)
    assert choice.buttons == ["🟢 Aigul"]


async def test_rerouting_after_an_undeliverable_page_skips_the_reporter(world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    aigul = await world.register_lawyer("Aigul", ("Astana",))
    await world.drain()
    world.emu.block(marat)
    alert_id = await sos(aigul)  # at Almaty: Marat is paged first, and cannot be reached
    await coordinator.wait_for("Marat cannot be reached")
    await card_for(coordinator, alert_id)
    await world.drain()
    assert alert_texts(aigul, alert_id) == []
    assert rows(world.db, "SELECT COUNT(*) FROM alert_recipients WHERE user_id = ?",
                aigul.id) == [(0,)]


# --- point 4: closing is tied to holding the case ----------------------------------------

async def test_acknowledging_lawyer_cannot_close_with_a_forged_outcome(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    _, alert_id = await raise_alert(world, "Aida", ALMATY)
    card = await card_for(marat, alert_id)
    await marat.press(f"Acknowledge #{alert_id}", message=card)
    await world.drain()
    before = snapshot(world)
    for outcome in ("safe", "rel", "crim"):
        assert await forged(world, marat, f"out:{alert_id}:{outcome}") in REFUSALS
    mark = marat.mark()
    await marat.send_command("/close", str(alert_id))
    await marat.wait_for("only a case you hold", after=mark)
    assert snapshot(world) == before
    assert rows(world.db, "SELECT state FROM alerts") == [("acknowledged",)]


async def test_holder_closes_as_safe_only_after_the_reporter_said_so(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    await claim(marat, alert_id)
    await world.drain()
    before = snapshot(world)
    assert await forged(world, marat, f"out:{alert_id}:safe") in REFUSALS
    assert snapshot(world) == before
    await reporter.tap("✅ I'm safe")
    ask = await marat.wait_for("says they are safe")
    answer = await marat.press(f"Confirm: close #{alert_id}", message=ask)
    assert answer.text == f"Case #{alert_id} closed: safe."


async def test_coordinator_may_close_as_safe_at_any_time(world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    await world.drain()
    assert await forged(world, coordinator, f"out:{alert_id}:safe") == (
        f"Case #{alert_id} closed: safe.")
    await reporter.wait_for("is closed (safe)")


# --- point 12: "Can't take it", "Hand over", and moving a held case ----------------------

async def test_cant_take_it_pages_the_next_people_at_once_and_never_again_the_decliner(
        world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock, ack_timeout_seconds=180, repeat_seconds=300)
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    ali = await world.register_lawyer("Ali", ("Astana",))
    _, alert_id = await raise_alert(world, "Aida", ALMATY)
    card = await card_for(marat, alert_id)
    await world.drain()
    assert alert_texts(ali, alert_id) == []
    await marat.press(f"Can't take it #{alert_id}", message=card)
    why = await marat.wait_for(f"Why can't you take alert #{alert_id}?")
    answer = await marat.press("busy with another case", message=why)
    assert answer.text is not None and answer.text.startswith("Noted")
    # No clock advance: the next wave goes out now, not after the timeout.
    await ali.wait_for("wave 2")
    await coordinator.wait_for("Marat cannot take alert")
    assert ("declined", marat.id, '{"reason": "busy"}') in rows(
        world.db, "SELECT kind, actor_id, plain(detail) FROM alert_events")
    clock.advance(301)
    await ali.wait_for("wave 3")
    await world.drain()
    assert not any("wave" in t for t in alert_texts(marat, alert_id))
    assert rows(world.db, "SELECT wave FROM alert_recipients WHERE user_id = ?",
                marat.id) == [(1,)]
    # Forged again: nothing more happens.
    before = snapshot(world)
    assert (await forged(world, marat, f"decl:{alert_id}:oth")).startswith("You already said")
    assert snapshot(world) == before


async def test_holder_hands_over_and_stops_receiving_the_reporters_messages(
        world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    ali = await world.register_lawyer("Ali", ("Astana",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    card = await card_for(marat, alert_id)
    await marat.press(f"Claim the case #{alert_id}", message=card)
    contact = await marat.wait_for(f"You hold case #{alert_id}")
    await marat.press(f"Hand over #{alert_id}", message=contact)
    why = await marat.wait_for(f"Why can't you take alert #{alert_id}?")
    await marat.press("conflict of interest", message=why)
    await reporter.wait_for("being passed to another lawyer")
    await coordinator.wait_for("Marat cannot take alert")
    second = await card_for(ali, alert_id)
    assert rows(world.db, "SELECT state, claimed_by FROM alerts") == [("open", None)]
    kinds = [k for (k,) in rows(world.db, "SELECT kind FROM alert_events")]
    assert "handed_over" in kinds
    mark = marat.mark()
    await reporter.send_text("they moved me to the district station")
    await reporter.wait_for("the lawyer who answers will see it")
    await ali.press(f"Claim the case #{alert_id}", message=second)
    await ali.wait_for("they moved me to the district station")
    await world.drain()
    assert not any("district station" in (m.text or "") for m in marat.inbox[mark:])


async def test_coordinator_moves_a_held_case_after_confirming(world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    aigul = await world.register_lawyer("Aigul", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    await claim(marat, alert_id)
    mark = coordinator.mark()
    await coordinator.send_command("/assign", str(alert_id))
    choice = await coordinator.wait_for(f"Case #{alert_id} is held by Marat", after=mark)
    assert choice.buttons == ["🟢 Aigul"]
    await coordinator.press("🟢 Aigul", message=choice)
    confirm = await coordinator.wait_for(f"Move case #{alert_id} from Marat to Aigul?")
    assert rows(world.db, "SELECT claimed_by FROM alerts") == [(marat.id,)]  # not yet
    answer = await coordinator.press(f"Yes, move #{alert_id}", message=confirm)
    assert answer.text == f"Case #{alert_id} moved to Aigul."
    await marat.wait_for(f"A coordinator moved case #{alert_id} to Aigul")
    await aigul.wait_for(f"You hold case #{alert_id}")
    await reporter.wait_for("Lawyer Aigul has taken your case")
    assert rows(world.db, "SELECT claimed_by FROM alerts") == [(aigul.id,)]

    mark = marat.mark()
    await reporter.send_text("police van 777")
    await aigul.wait_for("police van 777")
    note = marat.mark()
    await marat.send_command("/note", f"{alert_id} still there?")
    await marat.wait_for("only to a case you hold", after=note)
    await world.drain()
    assert not any("police van" in (m.text or "") for m in marat.inbox[mark:])
    # The same confirmation again is stale: the case is no longer Marat's to give.
    before = snapshot(world)
    answer = await coordinator.press(f"Yes, move #{alert_id}", message=confirm)
    assert answer.text == f"Case #{alert_id} changed meanwhile; nothing was moved."
    assert snapshot(world) == before


async def test_button_data_stays_within_64_bytes() -> None:
    from bot.domain.casework import DECLINE_REASONS

    big = 10 ** 11 - 1
    for data in (f"mv:{big}:{big}:{big}", f"decl:{big}", f"asg:{big}:{big}",
                 *(f"decl:{big}:{k}" for k in DECLINE_REASONS)):
        assert len(data.encode()) <= 64, data



def test_escalation_wave_leaves_out_the_excluded() -> None:
    from bot.domain.routing import escalation_wave
    from tests.test_policy import T0, person

    people = [person(1), person(2), person(3, on_call=False), person(9, role="coordinator")]
    assert [p.user_id for p in escalation_wave(people, T0, {1, 9})] == [2]
    # Every on-call lawyer excluded: the off-call lawyers are the next people.
    assert [p.user_id for p in escalation_wave(people, T0, {1, 2})] == [3, 9]
