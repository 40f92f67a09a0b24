"""Issue 16: a mass detention over the emulator with Telegram's real limits (1 message a
second per chat, 30 a second overall). Every reporter's "received" is among the first
messages out, before any location pin or edit, even with more lawyers waiting for a card
than the overall limit can reach in a second; and nobody gets a pin per alert."""

from __future__ import annotations

import re
from dataclasses import replace

from bench.world import make_cast, seed
from bot.domain import notify
from bot.domain.messages import Outgoing
from emulator import Limits
from emulator.limits import is_counted
from tests.harness import World, card_for, data_codec, rows

REPORTERS = 20
LAWYERS = 40  # one region: each alert pages all 40, more than 29 places a second


async def test_reporters_are_told_first_in_a_burst_under_the_real_limits(
        world: World) -> None:
    world.emu.limits = Limits()  # Telegram's own figures, from here on
    cast = make_cast(world.emu, LAWYERS, REPORTERS, 1, ("almaty",))
    await seed(world.db, cast, with_codec=data_codec())
    await world.start(rate_private_per_second=1.0, rate_group_per_minute=20.0,
                      rate_global_per_second=30.0, undo_seconds=0)
    start = len(world.emu.calls)
    for i, reporter in enumerate(cast.reporters):  # all detained at once
        await reporter.send_location(43.2567 + i * 1e-4, 76.9286, horizontal_accuracy=25.0)
    first = cast.lawyers[0]
    await first.press("Acknowledge #1", message=await card_for(first, 1))
    for reporter in cast.reporters:
        await reporter.wait_for("received and saved", timeout=60)
    await first.wait_for(predicate=lambda m: m.venue is not None, timeout=60)
    await world.drain()

    sent = [c for c in world.emu.calls[start:]
            if c.status == 200 and is_counted(c.method) and c.chat_id is not None]
    told = {c.chat_id for c in sent if "received and saved" in str(c.params.get("text"))}
    assert told == {r.id for r in cast.reporters}
    last_told = max(i for i, c in enumerate(sent)
                    if "received and saved" in str(c.params.get("text")))
    extras = [i for i, c in enumerate(sent)
              if c.method in ("sendVenue", "sendLocation") or c.method.startswith("edit")]
    assert extras and last_told < min(extras), (last_told, extras[:3])
    # the pages did not starve the reporters, nor the reporters the pages
    cards_before = {c.chat_id for c in sent[:last_told] if "Alert #" in
                    str(c.params.get("text")) and c.chat_id in cast.lawyer_regions}
    assert last_told < REPORTERS + LAWYERS and cards_before
    # one pin, to the lawyer who acknowledged; the others have the position as text
    pins = [c.chat_id for c in sent if c.method in ("sendVenue", "sendLocation")]
    assert pins == [first.id]
    assert world.emu.stats["rate_limited"] == 0


BURST = 50  # more notices than one message holds, and than 3 messages of 14 or 15 did


async def test_a_group_waits_for_a_short_burst_and_gets_full_bundles(world: World) -> None:
    """In a burst shorter than the groups' patience, a connected group's notices wait for
    the reporters' "received" (and the lawyers' pages: they act; the group only shows),
    then go as few messages as its bundle allows: a group may get one message every 3 s.
    (A longer burst gives the groups their share once a notice has waited
    GROUP_PATIENCE: ``test_groups_wait_out_their_patience_in_a_burst_then_take_their_share``.)"""
    world.emu.limits = Limits()
    cast = make_cast(world.emu, 5, BURST, 1, ("almaty",))
    await seed(world.db, cast, with_codec=data_codec())
    await world.start(rate_private_per_second=1.0, rate_group_per_minute=20.0,
                      rate_global_per_second=30.0, undo_seconds=0)
    start = len(world.emu.calls)
    for i, reporter in enumerate(cast.reporters):
        await reporter.send_location(43.2567 + i * 1e-4, 76.9286, horizontal_accuracy=25.0)
    for reporter in cast.reporters:
        await reporter.wait_for("received and saved", timeout=60)
    await world.drain()

    sent = [c for c in world.emu.calls[start:]
            if c.status == 200 and is_counted(c.method) and c.chat_id is not None]
    group = cast.groups[0].id
    to_group = [i for i, c in enumerate(sent) if c.chat_id == group]
    shown = [set(map(int, re.findall(r"Alert #(\d+)", str(sent[i].params.get("text")))))
             for i in to_group]
    assert set().union(*shown) == set(range(1, BURST + 1))
    last_told = max(i for i, c in enumerate(sent)
                    if "received and saved" in str(c.params.get("text")))
    # the burst's urgent sends first (the group's first send may be dispatched in the same
    # pass as the last "received" and arrive a moment before it)
    assert sent[to_group[0]].time >= sent[last_told].time - 0.05
    # then full bundles: 2 messages (sized by the JSON payload, a bundle held 14 or 15
    # and the group needed 4 or more; sent from the first second, it needed 3)
    assert len(to_group) <= 2, [len(s) for s in shown]
    assert world.emu.stats["rate_limited"] == 0


MANY = 40  # more alerts than a lawyer's chat can be sent in separate messages at once


async def test_a_lawyer_behind_in_a_burst_gets_25_alerts_a_message_and_can_claim_any(
        world: World) -> None:
    """One message a second to a chat: in a burst a lawyer gets bundles, and how many
    alerts one holds decides how soon every lawyer has seen every alert. Past 8 a bundle
    shows each alert's essentials (position included) with Acknowledge and Claim, up to
    25 a message (6 or 7 whole cards fit). A Claim pressed in such a bundle takes the
    case, and the bundle is re-rendered with the new state."""
    world.emu.limits = Limits()
    cast = make_cast(world.emu, 1, MANY, 0, ("almaty",))
    await seed(world.db, cast, with_codec=data_codec())
    await world.start(rate_private_per_second=1.0, rate_group_per_minute=20.0,
                      rate_global_per_second=30.0, undo_seconds=0)
    for i, reporter in enumerate(cast.reporters):
        await reporter.send_location(43.2567 + i * 1e-4, 76.9286, horizontal_accuracy=25.0)
    lawyer = cast.lawyers[0]
    for alert_id in range(1, MANY + 1):
        await card_for(lawyer, alert_id)
    await world.drain()

    def alerts_in(text: str | None) -> list[int]:
        return [int(n) for n in re.findall(r"Alert #(\d+) ·", text or "")]

    held = [(m, alerts_in(m.text)) for m in lawyer.inbox if alerts_in(m.text)]
    assert sorted(n for _, ns in held for n in ns) == list(range(1, MANY + 1))  # each once
    message, numbers = max(held, key=lambda h: len(h[1]))
    assert 8 < len(numbers) <= 25, [len(ns) for _, ns in held]
    assert message.text is not None and message.text.count("Position: ") == len(numbers)
    assert "in short (/case N shows one whole; /decline N if you can't take it)" in (
        message.text)
    labels = [label for row in message.inline_rows for label, _ in row]
    assert len(labels) == 2 * len(numbers)  # Acknowledge and Claim, for each alert
    assert all(label.startswith(("Acknowledge #", "Claim the case #")) for label in labels)
    # an edit of one of them that changes nothing the bundle shows is not sent (Telegram
    # would refuse it as "not modified", and it would spend a place of the limit)
    told = numbers[0]

    def edits() -> int:
        return sum(1 for c in world.emu.calls if c.method == "editMessageText"
                   and c.chat_id == lawyer.id
                   and str(c.params.get("message_id")) == str(message.message_id))

    before = edits()
    async with world.q.svc.storage.transaction() as tx:
        [card] = [r for r in await tx.sent_rows(told, kind="alert") if r.chat_id == lawyer.id]
        shown = Outgoing.from_json(card.payload)
        await notify.edit(tx, card.id, replace(shown, text=shown.text + "\n• a new detail"),
                          world.q.svc.now())
    world.q.worker.wake()
    await world.drain()
    assert rows(world.db, "SELECT COUNT(*) FROM outbox WHERE target_id = ? AND state = 'sent'",
                card.id) == [(1,)]  # the edit, done
    assert edits() == before
    chosen = numbers[-1]
    await lawyer.press(f"Claim the case #{chosen}", message=message)
    await lawyer.wait_for(f"You hold case #{chosen}", timeout=30)
    assert rows(world.db, "SELECT state FROM alerts WHERE id = ?", chosen) == [("claimed",)]
    await lawyer.wait_for(predicate=lambda m: m.message_id == message.message_id
                          and "a lawyer has taken the case" in (m.text or ""), timeout=30)
    # "Can't take it", which a bundle of many does not show, as a command
    other = numbers[1]
    await lawyer.send_text(f"/decline {other}")
    why = await lawyer.wait_for(f"Why can't you take alert #{other}?", timeout=30)
    answer = await lawyer.press("busy with another case", message=why)
    assert answer.text is not None and answer.text.startswith("Noted")
    assert ("declined", lawyer.id) in rows(
        world.db, "SELECT kind, actor_id FROM alert_events WHERE alert_id = ?", other)
    mark = lawyer.mark()
    await lawyer.send_text("/decline 999")  # no such alert, or not one paged to them
    await lawyer.wait_for("No alert #999 that you can see.", after=mark, timeout=30)
