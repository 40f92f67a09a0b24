"""Nothing a person in trouble types falls into silence: free text without an alert offers
a one-tap alert, unknown commands and /help answer by role, and a lawyer's on-call switch
is kept apart from their own SOS."""

from __future__ import annotations

from emulator import SimUser
from tests.harness import World, rows

SOS = "📍 SOS: send my location"
SOS_NO_LOCATION = "🆘 Alert without location"
RAISE_NOW = "🆘 Raise an alert now"


async def test_free_text_without_an_alert_offers_a_one_tap_alert(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    await world.register_lawyer("Marat", ("Almaty",))
    aida = await world.register_reporter("Aida")
    mark = aida.mark()
    await aida.send_text("HELP they are arresting me")
    offer = await aida.wait_for(predicate=lambda m: RAISE_NOW in m.buttons, after=mark)
    assert aida.keyboard is not None and [SOS] in aida.keyboard
    assert rows(world.db, "SELECT COUNT(*) FROM alerts") == [(0,)]  # nothing raised unasked

    mark = aida.mark()
    await aida.press(RAISE_NOW, message=offer)
    confirm = await aida.wait_for("received and saved", after=mark)
    assert confirm.text is not None and "Alert #1" in confirm.text
    assert rows(world.db, "SELECT reporter_id, region, plain(lat) FROM alerts") == [
        (aida.id, "almaty", None)]

    # Pressed again (the alert is open): no second alert.
    mark = aida.mark()
    await aida.press(RAISE_NOW, message=offer)
    await aida.wait_for("already open", after=mark)
    assert rows(world.db, "SELECT COUNT(*) FROM alerts") == [(1,)]


async def test_media_without_an_alert_gets_the_same_offer(world: World) -> None:
    await world.start()
    aida = await world.register_reporter("Aida")
    mark = aida.mark()
    await aida.send_photo(caption="they are here")
    await aida.wait_for(predicate=lambda m: RAISE_NOW in m.buttons, after=mark)


async def test_forged_raise_button_is_refused(world: World) -> None:
    await world.start()
    aida = await world.register_reporter("Aida")
    stranger = world.emu.user(first_name="Stranger")
    await stranger.send_command("/start")
    consent = await stranger.wait_for("What we store")
    answer = await stranger.press_data(consent, "sos")
    assert answer.text == "Sorry, this button is not for you."
    bad = await aida.press_data(consent, "sos:1")  # anything but the exact data
    assert bad.text == "Sorry, this button is not for you."
    assert rows(world.db, "SELECT COUNT(*) FROM alerts") == [(0,)]


async def _answer(user: SimUser, command: str) -> str:
    mark = user.mark()
    await user.send_command(command)
    msg = await user.wait_for(after=mark)
    assert msg.text is not None
    return msg.text


async def test_unknown_command_lists_the_commands_of_the_role(world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    aida = await world.register_reporter("Aida")
    newcomer = world.emu.user(first_name="New")

    for_reporter = await _answer(aida, "/arrested")
    assert "I do not know that command" in for_reporter and "/start" in for_reporter
    assert "/oncall" not in for_reporter and "/invite" not in for_reporter
    for_lawyer = await _answer(marat, "/claim")
    assert "/oncall" in for_lawyer and "/note N text" in for_lawyer
    assert "/invite" not in for_lawyer
    for_coordinator = await _answer(coordinator, "/whatever")
    assert "/invite" in for_coordinator and "/open" in for_coordinator
    assert "/start" in await _answer(newcomer, "/sos")


async def test_help_is_per_role(world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    aida = await world.register_reporter("Aida")
    for_reporter = await _answer(aida, "/help")
    assert SOS in for_reporter and "/language" in for_reporter and "/oncall" not in for_reporter
    for_lawyer = await _answer(marat, "/help")
    assert "/offcall" in for_lawyer and "/close N" in for_lawyer and "/revoke" not in for_lawyer
    for_coordinator = await _answer(coordinator, "/help")
    assert "/revoke" in for_coordinator and "/assign N" in for_coordinator
    assert len({for_reporter, for_lawyer, for_coordinator}) == 3


async def test_staff_keyboard_keeps_the_on_call_switch_apart_from_their_sos(
        world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",), on_call=False)
    for user in (marat, coordinator):
        assert user.keyboard is not None
        assert user.keyboard[0] == [SOS, SOS_NO_LOCATION]  # their own SOS, first and together
    assert marat.keyboard is not None and marat.keyboard[-1] == ["🟢 Go on call"]
    assert len(marat.keyboard) == 2
    mark = marat.mark()
    await marat.tap("🟢 Go on call")
    await marat.wait_for("You are on call", after=mark)
    assert marat.keyboard is not None
    for row in marat.keyboard:  # no row mixes the switch with an SOS
        assert not ({"🟢 Go on call", "⚪ Go off call"} & set(row) and {SOS, SOS_NO_LOCATION}
                    & set(row))
    assert rows(world.db, "SELECT COUNT(*) FROM alerts") == [(0,)]
