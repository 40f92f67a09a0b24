"""The core loop end to end: routing, acknowledge, claim, group notices, case work."""

from __future__ import annotations

import asyncio

from tests.harness import ALMATY, ASTANA, World, card_for, claim, raise_alert, rows


async def test_alert_routes_to_on_call_lawyers_of_its_region(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    almaty = await world.register_lawyer("Lawyer Almaty", ("Almaty",))
    astana = await world.register_lawyer("Lawyer Astana", ("Astana",))
    off = await world.register_lawyer("Lawyer Off", ("Almaty",), on_call=False)
    _, alert_id = await raise_alert(world, "Aida", ALMATY)
    card = await almaty.wait_for(f"Alert #{alert_id}")
    assert card.text is not None and "Aida" in card.text and "Almaty" in card.text
    assert card.buttons == [f"Acknowledge #{alert_id}", f"Claim the case #{alert_id}",
                            f"Can't take it #{alert_id}", f"Show on map #{alert_id}"]
    await world.drain()
    assert not any(m.venue or m.location for m in almaty.inbox)  # the pin: on request
    assert not any(f"Alert #{alert_id}" in (m.text or "") for m in astana.inbox)
    assert not any(f"Alert #{alert_id}" in (m.text or "") for m in off.inbox)


async def test_ack_then_concurrent_claims_have_exactly_one_winner(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    lawyers = [await world.register_lawyer(f"L{i}", ("Almaty",)) for i in range(3)]
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    cards = [await card_for(law, alert_id) for law in lawyers]
    ack = await lawyers[0].press(f"Acknowledge #{alert_id}", message=cards[0])
    assert ack.text is not None and "Acknowledged" in ack.text
    await reporter.wait_for("has seen your alert")
    answers = await asyncio.gather(*(
        law.press(f"Claim the case #{alert_id}", message=card)
        for law, card in zip(lawyers, cards, strict=True)))
    texts = [a.text or "" for a in answers]
    assert sum("is yours" in x for x in texts) == 1, texts
    assert sum("already taken by" in x for x in texts) == 2, texts
    winner = lawyers[next(i for i, x in enumerate(texts) if "is yours" in x)]
    (holder,) = rows(world.db, "SELECT claimed_by FROM alerts WHERE id = ?", alert_id)
    assert holder == (winner.id,)
    note = await reporter.wait_for("has taken your case")
    assert note.text is not None and winner.first_name in note.text
    contact = await winner.wait_for(f"You hold case #{alert_id}")
    assert contact.text is not None and "Aida" in contact.text
    for law in lawyers:
        if law is not winner:
            await law.wait_for(f"Taken by “{winner.first_name}”")


async def test_reporter_additions_reach_the_holder_and_notes_reach_the_reporter(
        world: World) -> None:
    await world.start()
    await world.register_coordinator()
    lawyer = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    await reporter.send_text("They took me to the district police station")
    await reporter.wait_for("the lawyer who answers will see it")
    card = await card_for(lawyer, alert_id)
    await lawyer.press(f"Claim the case #{alert_id}", message=card)
    contact = await lawyer.wait_for(f"You hold case #{alert_id}")
    assert contact.text is not None and "district police station" in contact.text
    await reporter.send_photo()
    await lawyer.wait_for("[photo]")
    await lawyer.send_command("/note", f"{alert_id} I am on my way")
    await reporter.wait_for("Update from your lawyer Marat:\n│ I am on my way")
    mark = reporter.mark()
    await lawyer.reply_to(contact, "At the station now")
    await reporter.wait_for("At the station now", after=mark)


async def test_group_notice_is_edited_in_place(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    group = await world.connect_group()
    lawyer = await world.register_lawyer("Marat", ("Almaty",))
    _reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    notice = await group.wait_for(f"Alert #{alert_id}")
    assert notice.text is not None and "43.2" not in notice.text  # no consent: region only
    before = len(group.inbox)
    card = await card_for(lawyer, alert_id)
    await lawyer.press(f"Claim the case #{alert_id}", message=card)
    await group.wait_for("a lawyer has taken the case")
    await world.drain()
    assert len(group.inbox) == before  # edited, never a new post


async def test_close_with_outcome_and_note(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    lawyer = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ASTANA)
    await claim(lawyer, alert_id)
    await lawyer.send_command("/close", f"{alert_id} Released without charges")
    choice = await lawyer.wait_for(f"How did case #{alert_id} end?")
    answer = await lawyer.press("released", message=choice)
    assert answer.text is not None and "closed" in answer.text
    await reporter.wait_for("Released without charges")
    assert rows(world.db, "SELECT state, outcome FROM alerts") == [("closed", "released")]
