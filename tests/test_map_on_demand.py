"""Issue 16, point 1: a lawyer's card carries the position as text and a "Show on map"
button; the location pin goes by itself only to whoever acknowledges or claims the alert,
and to anyone else only when they ask. A forged press by someone who may not see the alert
is refused and sends nothing."""

from __future__ import annotations

from emulator import SimUser
from tests.harness import ALMATY, World, card_for, claim, raise_alert, rows
from tests.test_permissions import REFUSAL, press_forged, snapshot


def pins(user: SimUser) -> list[object]:
    return [m for m in user.inbox if m.venue is not None or m.location is not None]


async def test_a_card_shows_the_position_and_the_pin_goes_only_on_request(
        world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    aigul = await world.register_lawyer("Aigul", ("Almaty",))
    bolat = await world.register_lawyer("Bolat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    cards = {u.id: await card_for(u, alert_id) for u in (marat, aigul, bolat)}
    await world.drain()
    position = f"Position: {ALMATY[0]:.5f}, {ALMATY[1]:.5f}"
    for user in (marat, aigul, bolat):
        assert position in (cards[user.id].text or "")
        assert f"Show on map #{alert_id}" in cards[user.id].buttons
        assert pins(user) == []  # one card per lawyer, no pin per lawyer
    assert rows(world.db, "SELECT COUNT(*) FROM outbox WHERE kind = 'pin'") == [(0,)]

    answer = await marat.press(f"Show on map #{alert_id}", message=cards[marat.id])
    assert answer.text == f"The map of alert #{alert_id} is on its way."
    pin = await marat.wait_for(predicate=lambda m: m.venue is not None)
    assert pin.venue is not None and pin.venue["location"]["latitude"] == ALMATY[0]

    await aigul.press(f"Acknowledge #{alert_id}", message=cards[aigul.id])
    await aigul.wait_for(predicate=lambda m: m.venue is not None)  # by itself
    await world.drain()
    assert pins(bolat) == []  # nobody else got one
    assert len(pins(marat)) == 1 and not pins(reporter)
    # Aigul, who acknowledged it, claims it: the reporter has not moved, so no second pin.
    await aigul.press(f"Claim the case #{alert_id}", message=cards[aigul.id])
    await aigul.wait_for(f"You hold case #{alert_id}")
    await world.drain()
    assert len(pins(aigul)) == 1


async def test_forged_map_presses_are_refused_and_send_nothing(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    almaty = await world.register_lawyer("Marat", ("Almaty",))
    astana = await world.register_lawyer("Ali", ("Astana",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    stranger = world.emu.user(first_name="Stranger", language_code="en")
    await card_for(almaty, alert_id)
    await world.drain()
    await stranger.send_command("/start")
    await stranger.wait_for("")
    before = snapshot(world)
    for user in (astana, reporter, stranger):  # not paged, the alert's own reporter, nobody
        for data in (f"map:{alert_id}", "map:999"):
            assert await press_forged(world, user, data) == REFUSAL, (user.first_name, data)
    assert snapshot(world) == before
    assert rows(world.db, "SELECT COUNT(*) FROM outbox WHERE kind = 'pin'") == [(0,)]
    for user in (astana, reporter, stranger):
        assert pins(user) == []


async def test_a_lawyer_who_lost_or_declined_the_case_gets_no_map(world: World) -> None:
    """Once another lawyer holds the case, or once a lawyer said they cannot take it, the
    exact place is no longer theirs: an old (or forged) "Show on map" sends nothing."""
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    saule = await world.register_lawyer("Saule", ("Almaty",))
    _, first = await raise_alert(world, "Aida", ALMATY)
    await card_for(saule, first)
    await claim(marat, first)
    await world.drain()
    assert await press_forged(world, saule, f"map:{first}") == REFUSAL
    _, second = await raise_alert(world, "Bek", ALMATY)
    await card_for(saule, second)
    await press_forged(world, saule, f"decl:{second}:busy")
    await world.drain()
    assert await press_forged(world, saule, f"map:{second}") == REFUSAL
    await world.drain()
    assert pins(saule) == []
    assert await press_forged(world, world.coordinator, f"map:{first}") != REFUSAL


async def test_a_map_asked_for_a_closed_alert_or_one_without_a_place_says_so(
        world: World) -> None:
    await world.start()
    await world.register_coordinator()
    lawyer = await world.register_lawyer("Marat", ("Almaty",))
    _, alert_id = await raise_alert(world, "Aida", ALMATY)
    await claim(lawyer, alert_id)
    await lawyer.wait_for(predicate=lambda m: m.venue is not None)  # the holder's, by itself
    await lawyer.send_command("/close", f"{alert_id} Released")
    await lawyer.press("released", message=await lawyer.wait_for("How did case"))
    await world.drain()
    assert await press_forged(world, lawyer, f"map:{alert_id}") == (
        f"Alert #{alert_id} is already closed.")

    bek = await world.register_reporter("Bek")
    await bek.send_text("🆘 Alert without location")
    told = await bek.wait_for("received and saved")
    second = int((told.text or "").split("#")[1].split()[0])
    card = await card_for(lawyer, second)
    assert not any("Show on map" in b for b in card.buttons) and "Position" not in card.text
    assert await press_forged(world, lawyer, f"map:{second}") == (
        f"Alert #{second} has no location.")
    assert len(pins(lawyer)) == 1
