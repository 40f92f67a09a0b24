"""Revocation (issue 17, points 2 and 13): it cuts the person off at once (queued messages
are never sent, every message they got about an alert is withdrawn once, texts made neutral,
pins and media copies deleted, and never touched again, no later case news reaches them), it
takes away only what they hold, and invites and revocations are on an audit trail
coordinators can read."""

from __future__ import annotations

import asyncio

import pytest

from emulator import Faults, SimUser
from tests.harness import ALMATY, World, card_for, claim, raise_alert, rows

NEUTRAL = "This message is no longer available."


def seen(user: SimUser) -> list[tuple[int, str | None, int, list[str]]]:
    """Everything in a person's chat: each message, its text, how often edited, buttons."""
    return [(m.message_id, m.text, m.edit_count, m.buttons) for m in user.inbox]


async def until_db(world: World, sql: str, expected: list[tuple[object, ...]], *args: object
                   ) -> None:
    for _ in range(200):
        if rows(world.db, sql, *args) == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{sql} never gave {expected}: {rows(world.db, sql, *args)}")


async def test_revoked_lawyer_gets_nothing_queued_and_their_cards_go_neutral_once(
        world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    aigul = await world.register_lawyer("Aigul", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    card = await card_for(marat, alert_id)
    await marat.press(f"Claim the case #{alert_id}", message=card)
    await marat.wait_for(f"You hold case #{alert_id}")
    await world.drain()
    edits_before = card.edit_count

    # The bot cannot send for a while: what is queued for Marat piles up as pending rows.
    world.emu.faults = Faults(rate=1.0, kinds=("500",), methods={
        "sendMessage", "sendVenue", "sendLocation", "editMessageText"})
    await reporter.send_text("they took my phone, the code is 1234")
    await until_db(world, "SELECT COUNT(*) FROM outbox WHERE chat_id = ? AND state = 'pending'"
                   " AND kind = 'case'", [(1,)], marat.id)
    await coordinator.send_command("/revoke", str(marat.id))
    await until_db(world, "SELECT role FROM people WHERE user_id = ?", [("reporter",)],
                   marat.id)
    world.emu.faults = None
    await coordinator.wait_for("Marat is now a reporter only")
    await world.drain()

    assert not any("1234" in (m.text or "") for m in marat.inbox)
    cards = [m for m in marat.inbox if m.message_id in (card.message_id,)]
    assert [(m.text, m.buttons, m.edit_count) for m in cards] == [
        (NEUTRAL, [], edits_before + 1)]
    assert not any("tg://user" in str(m.raw) for m in marat.inbox)  # the contact, too
    after_revoke = seen(marat)

    # The case goes on: paged again, claimed, updated, closed. Marat hears none of it.
    second = await card_for(aigul, alert_id, after=0)
    await aigul.wait_for(f"Alert #{alert_id}", after=0)
    await aigul.press(f"Claim the case #{alert_id}", message=second)
    await aigul.wait_for(f"You hold case #{alert_id}")
    await reporter.send_text("now at the district station")
    await aigul.wait_for("now at the district station")
    await aigul.send_command("/close", str(alert_id))
    choice = await aigul.wait_for(f"How did case #{alert_id} end?")
    await aigul.press("released", message=choice)
    await reporter.wait_for("is closed")
    await world.drain()
    assert seen(marat) == after_revoke


async def test_revoking_an_acknowledger_leaves_the_case_with_its_holder(world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    aigul = await world.register_lawyer("Aigul", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    card = await card_for(marat, alert_id)
    await marat.press(f"Acknowledge #{alert_id}", message=card)
    await claim(aigul, alert_id)
    mark = coordinator.mark()
    await coordinator.send_command("/revoke", str(marat.id))
    answer = await coordinator.wait_for("Marat is now a reporter only", after=mark)
    assert "paged again" not in (answer.text or "")
    assert rows(world.db, "SELECT state, claimed_by FROM alerts") == [("claimed", aigul.id)]
    mark = aigul.mark()
    await aigul.send_command("/note", f"{alert_id} On my way to the station.")
    await aigul.wait_for("Note added", after=mark)
    await reporter.wait_for("On my way to the station.")
    await world.drain()
    assert not any("being passed to another lawyer" in (m.text or "") for m in reporter.inbox)


async def test_revoking_the_holder_pages_the_case_again(world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    aigul = await world.register_lawyer("Aigul", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    card = await card_for(marat, alert_id)
    await marat.press(f"Claim the case #{alert_id}", message=card)
    await marat.wait_for(f"You hold case #{alert_id}")
    mark = coordinator.mark()
    await coordinator.send_command("/revoke", str(marat.id))
    await coordinator.wait_for(f"paged again: #{alert_id}", after=mark)
    await reporter.wait_for("being passed to another lawyer")
    await aigul.wait_for("wave 2")
    assert rows(world.db, "SELECT state, claimed_by FROM alerts") == [("open", None)]
    await world.drain()
    first = await card_for(aigul, alert_id)  # the first card no longer names Marat
    assert "Taken by" not in (first.text or "") and "waiting for a lawyer" in (first.text or "")


async def test_invites_and_revocations_are_on_an_audit_trail(world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator("Dana")
    marat = await world.register_lawyer("Marat", ("Almaty",))
    await world.invite_link("coordinator")
    mark = coordinator.mark()
    await coordinator.send_command("/revoke", str(marat.id))
    await coordinator.wait_for("Marat is now a reporter only", after=mark)
    mark = coordinator.mark()
    await coordinator.send_command("/audit")
    trail = await coordinator.wait_for("Audit trail, last 7 days:", after=mark)
    lines = (trail.text or "").split("\n")[1:]
    assert [line.split(" · ")[1:3] for line in lines] == [
        ["invite created", "lawyer"], ["joined", "lawyer"],
        ["invite created", "coordinator"], ["role revoked", "lawyer"]]
    assert f"Dana ({coordinator.id}) → Marat ({marat.id})" in lines[3]
    assert f"Marat ({marat.id})" in lines[1]
    assert lines[0].split(" · ")[-1] == lines[1].split(" · ")[-1]  # the same invite

    with pytest.raises(Exception, match="append-only"):  # sqlite3's or asyncpg's error
        rows(world.db, "DELETE FROM staff_audit")


@pytest.mark.parametrize("args", ["abc", "0", "-3", "99999", "1.5", "٣"])
async def test_audit_with_bad_days_gets_a_calm_answer(world: World, args: str) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    mark = coordinator.mark()
    await coordinator.send_command("/audit", args)
    await coordinator.wait_for("Use /audit or /audit 30", after=mark)


async def test_only_coordinators_read_the_audit_trail(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter = await world.register_reporter("Aida")
    for person in (marat, reporter):
        mark = person.mark()
        await person.send_command("/audit", "30")
        await person.wait_for("Only coordinators can read the audit trail", after=mark)


async def test_lawyer_who_leaves_by_themself_is_cut_off_the_same_way(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    aigul = await world.register_lawyer("Aigul", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    card = await card_for(marat, alert_id)
    await marat.press(f"Claim the case #{alert_id}", message=card)
    await marat.wait_for(f"You hold case #{alert_id}")
    mark = marat.mark()
    await marat.send_command("/leave")
    ask = await marat.wait_for("Leave the Qorgau team?", after=mark)
    await marat.press("Yes, leave the team", message=ask)
    await marat.wait_for("You have left the team", after=mark)
    await reporter.wait_for("being passed to another lawyer")
    second = await aigul.wait_for("wave 2")
    await world.drain()
    assert (card.text, card.buttons) == (NEUTRAL, [])
    after = seen(marat)
    await aigul.press(f"Claim the case #{alert_id}", message=second)
    await aigul.wait_for(f"You hold case #{alert_id}")
    await reporter.send_text("still in the van")
    await aigul.wait_for("still in the van")
    await world.drain()
    assert seen(marat) == after
    assert rows(world.db, "SELECT kind, actor_id, subject_id, role FROM staff_audit"
                " WHERE kind = 'left'") == [("left", marat.id, marat.id, "lawyer")]
    mark = reporter.mark()
    await reporter.send_command("/leave")
    await reporter.wait_for("You are not on the team", after=mark)


async def _held_case_with_content(world: World) -> tuple[SimUser, SimUser, SimUser, SimUser,
                                                         SimUser, int]:
    """Marat holds a case with the reporter's text, a captioned photo and a video message
    copied to him, and pins; Aigul and Bolat were only paged (a card, and the pin each
    asked for with "Show on map")."""
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    aigul = await world.register_lawyer("Aigul", ("Almaty",))
    bolat = await world.register_lawyer("Bolat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    card = await card_for(marat, alert_id)
    for other in (aigul, bolat):
        await other.press(f"Show on map #{alert_id}", message=await card_for(other, alert_id))
        await other.wait_for(predicate=lambda m: m.method == "sendVenue")
    await marat.press(f"Claim the case #{alert_id}", message=card)
    await marat.wait_for(f"You hold case #{alert_id}")
    await reporter.send_text("held at precinct 5, call my sister")
    await marat.wait_for("precinct 5")
    await reporter.send_photo(caption="police van 777")
    await marat.wait_for(predicate=lambda m: "police van 777" in (m.caption or ""))
    await reporter.send_video_note()
    await marat.wait_for(predicate=lambda m: "video_note" in m.raw)
    await world.drain()
    for person in (marat, aigul):
        assert any(m.method == "sendVenue" for m in person.inbox)
    return coordinator, reporter, marat, aigul, bolat, alert_id


def case_messages(world: World, user: SimUser) -> list[int]:
    """The Telegram ids of every message the bot delivered to this person about an alert."""
    return [r[0] for r in rows(
        world.db, "SELECT DISTINCT message_id FROM outbox WHERE chat_id = ? AND alert_id"
        " IS NOT NULL AND message_id IS NOT NULL AND target_id IS NULL", user.id)]


def readable(user: SimUser) -> list[tuple[str, str]]:
    """What a person's chat shows that is not the neutral text (method, first words)."""
    return [(m.method, (m.text or m.caption or str(m.venue or m.location or m.raw))[:60])
            for m in user.inbox if m.text != NEUTRAL]


async def test_revocation_withdraws_every_case_message_texts_pins_and_media(
        world: World) -> None:
    coordinator, reporter, marat, aigul, bolat, alert_id = await _held_case_with_content(world)
    kept = {p.id: [(m.message_id, m.method) for m in p.inbox] for p in (bolat, reporter)}
    withdrawn: dict[int, list[int]] = {}
    edits: dict[tuple[int, int], int] = {}
    for person in (marat, aigul):  # the holder, then one only paged (her card changed)
        await world.drain()
        withdrawn[person.id] = case_messages(world, person)
        edits.update({(person.id, m.message_id): m.edit_count for m in person.inbox})
        mark = coordinator.mark()
        await coordinator.send_command("/revoke", str(person.id))
        await coordinator.wait_for("is now a reporter only", after=mark)
    await bolat.wait_for("wave 2")
    await world.drain()

    for person in (marat, aigul):
        assert [m for m in readable(person) if m[0] != "sendMessage"] == []
        for message in person.chat.bot_messages:
            if message.message_id not in withdrawn[person.id]:
                continue
            if message.method == "sendMessage":  # a text: edited once, buttons gone
                assert (message.deleted, message.text, message.buttons) == (False, NEUTRAL, [])
                assert message.edit_count == edits[person.id, message.message_id] + 1
            else:  # a pin, a copied photo or video message: gone
                assert message.deleted, message.method
        assert not any(word in str(m.raw) for m in person.inbox
                       for word in ("precinct", "van 777", "Aida", "video_note"))
    # Nobody else lost anything, and nobody was told of a failure.
    # (A reporter's registration questions are deleted when it ends: discreet mode's default.)
    questions = ("What we store", "What name should", "Where are you based", "May press")
    for person in (bolat, reporter):
        assert not any((m.deleted and not any(q in (m.text or "") for q in questions))
                       or m.text == NEUTRAL for m in person.chat.bot_messages)
        now = [(m.message_id, m.method) for m in person.inbox]
        assert now[:len(kept[person.id])] == kept[person.id]
    assert any(m.method == "sendVenue" for m in bolat.inbox)
    assert not any("could not be delivered" in (m.text or "") for m in coordinator.inbox)
    assert rows(world.db, "SELECT COUNT(*) FROM outbox WHERE state = 'failed'") == [(0,)]

    # The case goes on; a refresh never touches a withdrawn message again.
    after = (seen(marat), seen(aigul))
    await claim(bolat, alert_id)
    await reporter.send_text("now at the district station")
    await bolat.wait_for("now at the district station")
    await world.drain()
    assert (seen(marat), seen(aigul)) == after


def age(user: SimUser, hours: float) -> None:
    """Make every bot message in a chat look ``hours`` old to the emulator (Telegram lets
    a bot delete its messages only within 48 hours)."""
    for message in user.chat.bot_messages:
        message.date -= int(hours * 3600)
        if message.message_id in user.chat.messages:
            user.chat.messages[message.message_id]["date"] = message.date


async def test_case_messages_too_old_to_delete_are_neutralised_or_left_without_a_page(
        world: World) -> None:
    coordinator, _, marat, _, _, _ = await _held_case_with_content(world)
    age(marat, 49)
    mark = coordinator.mark()
    await coordinator.send_command("/revoke", str(marat.id))
    await coordinator.wait_for("is now a reporter only", after=mark)
    await world.drain()

    photo = [m for m in marat.inbox if m.method == "copyMessage" and "photo" in m.raw]
    assert [(m.caption, m.buttons) for m in photo] == [(NEUTRAL, [])]
    assert not any(m.deleted for m in marat.chat.bot_messages)  # Telegram refused each delete
    assert not any(word in str(m.raw) for m in marat.inbox for word in ("precinct", "van 777"))
    assert not any("could not be delivered" in (m.text or "") for m in coordinator.inbox)
    assert rows(world.db, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'") == [(0,)]
