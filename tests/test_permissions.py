"""Every command and button checks who is asking and their relation to the alert. Callback
data can be forged by a modified client: forged or stale presses are refused politely and
change nothing."""

from __future__ import annotations

import pytest

from emulator import SimUser
from tests.harness import ALMATY, ASTANA, World, card_for, claim, rows

REFUSAL = "Sorry, this button is not for you."


def snapshot(world: World) -> list[tuple[object, ...]]:
    alerts = rows(world.db, "SELECT * FROM alerts ORDER BY id")
    people = rows(world.db, "SELECT user_id, role, step, on_call FROM people ORDER BY user_id")
    events = rows(world.db, "SELECT COUNT(*) FROM alert_events")
    return [*alerts, *people, *events]


async def scene(world: World) -> tuple[SimUser, SimUser, SimUser, int, int]:
    """A coordinator, an Almaty lawyer, an Astana lawyer, and one alert in each city."""
    await world.start()
    await world.register_coordinator()
    almaty = await world.register_lawyer("Marat", ("Almaty",))
    astana = await world.register_lawyer("Ali", ("Astana",))
    aida = await world.register_reporter("Aida")
    await aida.tap("📍 SOS: send my location", location=ALMATY)
    await aida.wait_for("Alert #1 received")
    bek = await world.register_reporter("Bek")
    await bek.tap("📍 SOS: send my location", location=ASTANA)
    await bek.wait_for("Alert #2 received")
    await world.drain()
    return aida, almaty, astana, 1, 2


async def press_forged(world: World, user: SimUser, data: str) -> str:
    message = user.inbox[-1]
    answer = await user.press_data(message, data)
    await world.drain()
    return answer.text or ""


@pytest.mark.parametrize("data", ["claim:1", "ack:1", "out:1:rel", "close:1", "asg:1:1",
                                  "assign:1", "serve:almaty", "speak:ru", "claim:999",
                                  "nonsense", "claim:1;DROP TABLE alerts", "ack:-1"])
async def test_reporter_forged_buttons_are_refused_and_change_nothing(
        world: World, data: str) -> None:
    aida, *_ = await scene(world)
    before = snapshot(world)
    answer = await press_forged(world, aida, data)
    assert answer, "a press always gets an answer"
    polite = ("not for you", "no longer", "only a case", "only coordinators")
    assert any(w in answer.lower() for w in polite)
    assert snapshot(world) == before


async def test_lawyer_cannot_claim_an_alert_they_were_not_paged_for(world: World) -> None:
    _, _almaty, astana, a1, _ = await scene(world)
    before = snapshot(world)
    assert await press_forged(world, astana, f"claim:{a1}") == REFUSAL
    assert await press_forged(world, astana, f"ack:{a1}") == REFUSAL
    assert snapshot(world) == before


async def test_lawyer_sees_alerts_they_were_paged_for_and_no_others(world: World) -> None:
    _, almaty, _astana, a1, a2 = await scene(world)
    mark = almaty.mark()
    await almaty.send_command("/case", str(a1))
    await almaty.wait_for("raised", after=mark)
    mark = almaty.mark()
    await almaty.send_command("/case", str(a2))
    await almaty.wait_for(f"No alert #{a2} that you can see", after=mark)


async def test_contact_only_reaches_the_lawyer_who_holds_the_case(world: World) -> None:
    aida, almaty, astana, a1, _ = await scene(world)
    second = await world.register_lawyer("Aigul", ("Almaty",))
    # Aigul was not on call when alert 1 was raised: she was never paged for it.
    assert await press_forged(world, second, f"claim:{a1}") == REFUSAL
    card = await card_for(almaty, a1)
    await almaty.press(f"Acknowledge #{a1}", message=card)
    await world.drain()
    assert not any("tg://user" in str(m.raw) for m in almaty.inbox)
    await almaty.press(f"Claim the case #{a1}", message=card)
    contact = await almaty.wait_for(f"You hold case #{a1}")
    assert f"tg://user?id={aida.id}" in str(contact.raw)
    assert not any("tg://user" in str(m.raw) for m in astana.inbox + second.inbox)


async def test_reporter_cannot_read_alerts_or_use_staff_commands(world: World) -> None:
    aida, *_ = await scene(world)
    before = snapshot(world)
    expectations = {
        ("/case", "2"): "No alert #2 that you can see",
        ("/case", "1"): "No alert #1 that you can see",
        ("/open", None): "Only coordinators",
        ("/stats", None): "Only coordinators",
        ("/people", None): "Only coordinators",
        ("/invite", "lawyer"): "Only coordinators can invite",
        ("/revoke", "1"): "Only coordinators",
        ("/assign", "1"): "Only coordinators",
        ("/note", "1 hello"): "only to a case you hold",
        ("/close", "1"): "only a case you hold",
        ("/oncall", None): "Only registered lawyers",
    }
    for (command, args), expected in expectations.items():
        mark = aida.mark()
        await aida.send_command(command, args)
        await aida.wait_for(expected, after=mark)
    assert snapshot(world) == before


async def test_lawyer_cannot_note_close_or_assign_a_case_held_by_another(
        world: World) -> None:
    _, almaty, _, a1, _ = await scene(world)
    other = await world.register_lawyer("Aigul", ("Almaty",))
    await claim(almaty, a1)
    before = snapshot(world)
    for command, args, expected in [("/note", f"{a1} hi", "only to a case you hold"),
                                    ("/close", str(a1), "only a case you hold"),
                                    ("/assign", str(a1), "Only coordinators")]:
        mark = other.mark()
        await other.send_command(command, args)
        await other.wait_for(expected, after=mark)
    assert await press_forged(world, other, f"out:{a1}:rel") == REFUSAL
    assert snapshot(world) == before


async def test_stale_button_on_a_closed_case_is_answered_and_changes_nothing(
        world: World) -> None:
    _, almaty, _, a1, _ = await scene(world)
    card = await card_for(almaty, a1)
    await almaty.press(f"Claim the case #{a1}", message=card)
    await almaty.send_command("/close", str(a1))
    choice = await almaty.wait_for(f"How did case #{a1} end?")
    await almaty.press("fined", message=choice)
    await world.drain()
    before = snapshot(world)
    answer = await almaty.press_data(choice, f"out:{a1}:rel")
    assert answer.text == f"Alert #{a1} is already closed."
    answer = await almaty.press_data(card, f"claim:{a1}")
    assert answer.text == f"Alert #{a1} is already closed."
    assert snapshot(world) == before


async def test_coordinator_sees_everything(world: World) -> None:
    await scene(world)
    c = world.coordinator
    mark = c.mark()
    await c.send_command("/open")
    listing = await c.wait_for("Open alerts: 2", after=mark)
    assert listing.text is not None and "#1" in listing.text and "#2" in listing.text
    mark = c.mark()
    await c.send_command("/case", "2")
    await c.wait_for("raised", after=mark)
