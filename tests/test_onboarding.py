"""Roles and onboarding: invites, lawyer registration, people and roles, groups, stats."""

from __future__ import annotations

import time

from bot.clock import ManualClock
from tests.harness import ALMATY, World, card_for, rows


async def test_invite_is_a_single_use_deep_link_stored_only_as_a_hash(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    code = await world.invite_link("lawyer")
    assert len(code) >= 22  # at least 128 random bits in url-safe base64
    assert f"https://t.me/{world.emu.bot_username}?start={code}" in (
        world.coordinator.inbox[-1].text or "")
    stored = rows(world.db, "SELECT code_hash, role FROM invites")
    assert len(stored) == 1 and stored[0][1] == "lawyer" and code not in str(stored)
    first = world.emu.user(first_name="Marat")
    await first.send_command("/start", code)
    await first.wait_for("invited as a lawyer")
    second = world.emu.user(first_name="Mallory")
    await second.send_command("/start", code)
    await second.wait_for("wrong, used or expired")
    assert rows(world.db, "SELECT role FROM people WHERE user_id = ?", second.id) == [("reporter",)]


async def test_wrong_and_expired_invites_grant_nothing(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    await world.register_coordinator()
    code = await world.invite_link("coordinator")
    stranger = world.emu.user(first_name="Eve")
    await stranger.send_command("/start", "A" * 32)
    await stranger.wait_for("wrong, used or expired")
    clock.advance(48 * 3600 + 1)
    late = world.emu.user(first_name="Late")
    await late.send_command("/start", code)
    await late.wait_for("wrong, used or expired")
    roles = rows(world.db, "SELECT role FROM people WHERE user_id IN (?, ?)", stranger.id, late.id)
    assert roles == [("reporter",), ("reporter",)]


async def test_lawyer_registers_regions_and_languages(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    lawyer = await world.register_lawyer("Marat", ("Almaty", "Astana"), on_call=False)
    assert rows(world.db, "SELECT role, plain(display_name), serves_regions, speaks, step"
                          " FROM people WHERE user_id = ?", lawyer.id) == [
        ("lawyer", "Marat", "almaty,astana", "ru", "done")]
    assert lawyer.keyboard is not None and lawyer.keyboard[-1] == ["🟢 Go on call"]
    assert "📍 SOS: send my location" in lawyer.keyboard[0]  # a lawyer can be detained too
    await lawyer.tap("🟢 Go on call")
    await lawyer.wait_for("You are on call.")
    assert lawyer.keyboard[-1] == ["⚪ Go off call"]
    await lawyer.send_command("/offcall")
    await lawyer.wait_for("You are off call.")


async def test_invited_coordinator_can_invite_and_list_people(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    code = await world.invite_link("coordinator")
    dana = world.emu.user(first_name="Second")
    await dana.send_command("/start", code)
    await dana.wait_for("You are now a coordinator")
    await dana.send_text("Saule")
    await dana.wait_for("Registered as coordinator Saule")
    await world.register_lawyer("Marat", ("Almaty",))
    mark = dana.mark()
    await dana.send_command("/people", "lawyer")
    listing = await dana.wait_for("Marat", after=mark)
    assert listing.text is not None and "on call" in listing.text
    mark = dana.mark()
    await dana.send_command("/invite", "lawyer")
    await dana.wait_for("https://t.me/", after=mark)


async def test_revoked_lawyer_is_no_longer_paged(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    c = world.coordinator
    mark = c.mark()
    await c.send_command("/revoke", str(marat.id))
    await c.wait_for("Marat is now a reporter only", after=mark)
    mark = c.mark()
    await c.send_command("/revoke", str(c.id))
    await c.wait_for("administrator from the settings", after=mark)
    reporter = await world.register_reporter("Aida")
    await reporter.tap("📍 SOS: send my location", location=ALMATY)
    await reporter.wait_for("received and saved")
    await card_for(c, 1)  # nobody on call: the coordinator is paged, urgent
    await world.drain()
    assert not any("Alert #1" in (m.text or "") for m in marat.inbox)


async def test_group_connects_sees_exact_spot_only_with_consent_and_disconnects(
        world: World) -> None:
    await world.start()
    await world.register_coordinator()
    outsider = world.emu.user(first_name="Outsider")
    group = world.emu.group(title="Press")
    mark = group.mark()
    await group.send_command(outsider, "/connect")
    await group.wait_for("Only a Qorgau coordinator", after=mark)
    assert rows(world.db, "SELECT COUNT(*) FROM groups") == [(0,)]
    mark = group.mark()
    await group.send_command(world.coordinator, "/connect", "en")
    await group.wait_for("now receives", after=mark)
    consenting = await world.register_reporter("Aida", share=True)
    await consenting.tap("📍 SOS: send my location", location=ALMATY)
    notice = await group.wait_for("Alert #1")
    assert notice.text is not None and "43.25670, 76.92860" in notice.text
    mark = group.mark()
    await group.send_command(world.coordinator, "/disconnect")
    await group.wait_for("no longer receives", after=mark)
    bek = await world.register_reporter("Bek")
    await bek.tap("📍 SOS: send my location", location=ALMATY)
    await bek.wait_for("received and saved")
    await world.drain()
    assert not any("Alert #2" in (m.text or "") for m in group.inbox)


async def test_stats_report_times_to_acknowledge_and_claim_and_outcomes(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter = await world.register_reporter("Aida")
    await reporter.tap("📍 SOS: send my location", location=ALMATY)
    card = await card_for(marat, 1)
    await marat.press("Claim the case #1", message=card)
    await marat.send_command("/close", "1")
    choice = await marat.wait_for("How did case #1 end?")
    await marat.press("fined", message=choice)
    c = world.coordinator
    mark = c.mark()
    await c.send_command("/stats", "7")
    stats = await c.wait_for("still open", after=mark)
    assert stats.text is not None
    assert "1 alert raised, 0 still open" in stats.text
    assert "Time to acknowledge: median" in stats.text and "Outcomes: fined 1" in stats.text
    mark = c.mark()
    await c.send_command("/stats", "abc")
    await c.wait_for("Use /stats", after=mark)
