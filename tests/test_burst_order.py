"""Issue 16: a mass detention over the emulator with Telegram's real limits (1 message a
second per chat, 30 a second overall). Every reporter's "received" is among the first
messages out, before any location pin or edit, even with more lawyers waiting for a card
than the overall limit can reach in a second; and nobody gets a pin per alert."""

from __future__ import annotations

import re

from bench.world import make_cast, seed
from emulator import Limits
from emulator.limits import is_counted
from tests.harness import World, card_for, data_codec

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


async def test_a_group_hears_early_in_a_burst_and_gets_full_bundles(world: World) -> None:
    """A connected group's first notice goes while the reporters are still being told (the
    groups' own share of the overall limit), and its notices go as few messages as its
    bundle allows: a group may get one message every 3 s."""
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
    assert to_group[0] < last_told  # not after the burst of confirmations
    # bundles of up to 35 notices: at most 3 messages (sized by the JSON payload,
    # a bundle held 14 or 15 and the group needed 4 or more)
    assert len(to_group) <= 3, [len(s) for s in shown]
    assert world.emu.stats["rate_limited"] == 0
