"""Sends that can never succeed end, and texts fit Telegram's limits as Telegram counts them
(issue 17, points 14 and 15). Over the emulator, which refuses what Telegram refuses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bot.clock import ManualClock
from bot.delivery.outbox import MAX_AGE
from bot.domain.messages import (
    Button,
    Outgoing,
    combine,
    cut_utf16,
    plain_text,
    split,
    split_text,
    utf16_len,
)
from emulator import Emulator, Faults, SimUser
from emulator.text import parse_html
from tests.harness import ALMATY, World, card_for, raise_alert, rows

EMOJI = "🚨"  # two UTF-16 code units, one character


def refusals(emu: Emulator) -> list[str]:
    """What the emulator answered with 400 (a refusal Telegram would give too)."""
    return [f"{c.method}: {c.error}" for c in emu.calls if c.status == 400]


def said(user: SimUser, after: int = 0) -> str:
    """Everything the bot said in this chat after ``after``, as one text."""
    return "\n".join(m.text or "" for m in user.chat.bot_messages[after:] if not m.deleted)


async def until(predicate: Callable[[], bool], what: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


# --- point 15: a send that can never succeed ---------------------------------------------


async def test_pin_at_latitude_zero_is_delivered_and_leaves_nothing_pending(
        world: World) -> None:
    await world.start()
    await world.register_coordinator()
    lawyer = await world.register_lawyer("Marat", ("Almaty",))
    _, alert_id = await raise_alert(world, "Aida", (0.0, 76.9286))
    card = await card_for(lawyer, alert_id)
    assert "Position: 0.00000, 76.92860" in (card.text or "")
    await lawyer.press(f"Show on map #{alert_id}", message=card)
    pin = await lawyer.wait_for(predicate=lambda m: m.venue is not None)
    assert pin.venue is not None and pin.venue["location"]["latitude"] == 0.0
    await world.drain()
    assert rows(world.db, "SELECT state, COUNT(*) FROM outbox WHERE state != 'sent'"
                          " GROUP BY state") == []


async def test_a_refused_edit_fails_once_is_recorded_and_coordinators_are_told(
        world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    ali = await world.register_lawyer("Ali", ("Almaty",))
    _, alert_id = await raise_alert(world, "Aida", ALMATY)
    card = await card_for(marat, alert_id)
    ali_card = await card_for(ali, alert_id)
    await world.drain()
    # Marat deletes the card in his chat: every edit of it is refused from now on.
    del marat.chat.messages[card.message_id]
    card.deleted = True
    mark = coordinator.mark()
    await ali.press(f"Claim the case #{alert_id}", message=ali_card)
    notice = await coordinator.wait_for("could not be delivered", after=mark)
    assert notice.text is not None and f"#{alert_id}" in notice.text and "Marat" in notice.text
    await world.drain()
    failed = rows(world.db, "SELECT chat_id, kind, attempts, error FROM outbox"
                            " WHERE state = 'failed'")
    assert [(c, k, a) for c, k, a, _ in failed] == [(marat.id, "edit", 1)]
    assert "message to edit not found" in failed[0][3].lower()
    events = rows(world.db, "SELECT kind, plain(detail) FROM alert_events WHERE alert_id = ?"
                            " AND kind = 'delivery_failed'", alert_id)
    assert len(events) == 1 and str(marat.id) in events[0][1]
    edits = [c for c in world.emu.calls
             if c.chat_id == marat.id and c.method.lower() == "editmessagetext"]
    assert len(edits) == 1  # refused once, never retried


async def test_transient_failures_end_when_the_row_is_a_day_old(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    coordinator = await world.register_coordinator()
    await world.drain()
    ((last,),) = rows(world.db, "SELECT MAX(id) FROM outbox")
    world.emu.faults = Faults(rate=1.0, kinds=("500",), methods={"sendMessage"})
    await coordinator.send_command("/open")
    query = f"SELECT state, attempts FROM outbox WHERE id > {last} ORDER BY id LIMIT 1"
    await until(lambda: [a for _, a in rows(world.db, query)] >= [1], "a first failed attempt")
    assert rows(world.db, query)[0][0] == "pending"
    clock.advance(MAX_AGE + 1)
    world.q.worker.wake()
    await until(lambda: rows(world.db, query)[0][0] == "failed", "the row to be given up")
    world.emu.faults = None
    assert await world.q.worker.drain(10)


async def test_edits_that_change_nothing_are_not_sent(world: World) -> None:
    clock = ManualClock(time.time())  # a still clock: a card re-rendered is the same card
    await world.start(clock=clock)
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    ali = await world.register_lawyer("Ali", ("Almaty",))
    _, alert_id = await raise_alert(world, "Aida", ALMATY)
    await card_for(marat, alert_id)
    ali_card = await card_for(ali, alert_id)
    await marat.press(f"Claim the case #{alert_id}")
    await ali.wait_for("Taken by “Marat”")
    await world.drain()
    edits_before = len(world.emu.sent(method="editMessageText"))
    # A late (or forged) claim re-renders every card: all of them already say this.
    answer = await ali.press_data(ali_card, f"claim:{alert_id}")
    assert answer.text is not None and "already taken" in answer.text
    await world.drain()
    assert len(world.emu.sent(method="editMessageText")) == edits_before
    assert refusals(world.emu) == []


# --- point 14: Telegram's limits in UTF-16 units -----------------------------------------


async def test_long_case_answer_arrives_whole_in_several_messages(world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    texts = [f"note{i} " + EMOJI * 700 + f" end{i}" for i in range(4)]  # 3,900 chars at most
    for text in texts:
        mark = reporter.mark()
        await reporter.send_text(text)
        await reporter.wait_for("the lawyer who answers will see it", after=mark)
    mark = coordinator.mark()
    await coordinator.send_command("/case", str(alert_id))
    await coordinator.wait_for("end3", after=mark)
    await world.drain()
    answer = said(coordinator, mark)
    assert all(text in answer for text in texts)
    assert len(coordinator.chat.bot_messages) - mark >= 2
    assert refusals(world.emu) == []


async def test_emoji_heavy_text_reaches_the_holder_whole(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    lawyer = await world.register_lawyer("Marat", ("Almaty",))
    name = "🌸" * 44 + "Aida"  # a name may be emoji too: 48 characters, 92 units
    reporter, alert_id = await raise_alert(world, name, ALMATY)
    await lawyer.press(f"Claim the case #{alert_id}", message=await card_for(lawyer, alert_id))
    await lawyer.wait_for(f"You hold case #{alert_id}")
    text = "s " + EMOJI * 1992 + " zzend"  # 2,000 characters (all that is kept), 3,992 units
    mark = lawyer.mark()
    await reporter.send_text(text)
    await reporter.wait_for("Sent to your lawyer")
    await lawyer.wait_for("zzend", after=mark)
    await world.drain()
    got = "".join(said(lawyer, mark).split())  # a cut at a space or line break drops it
    assert name in got and "".join(text.split()) in got
    assert refusals(world.emu) == []


async def test_long_closing_note_and_the_reporter_still_hears_the_case_closed(
        world: World) -> None:
    await world.start()
    await world.register_coordinator()
    lawyer = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    await lawyer.press(f"Claim the case #{alert_id}", message=await card_for(lawyer, alert_id))
    await lawyer.wait_for(f"You hold case #{alert_id}")
    note = EMOJI * 1999 + "🏠"  # 2,000 characters (all that is kept), 4,000 units
    await lawyer.send_command("/close", f"{alert_id} {note}")
    await lawyer.press("released", message=await lawyer.wait_for("How did case"))
    await reporter.wait_for("Take care")
    await world.drain()
    told = said(reporter)
    assert f"Your alert #{alert_id} is closed" in told
    assert note in "".join(told.split())
    assert reporter.keyboard is not None and "📍 SOS: send my location" in reporter.keyboard[0]
    assert refusals(world.emu) == []


async def test_contact_message_with_emoji_heavy_facts_keeps_the_reporter_link(
        world: World) -> None:
    await world.start()
    await world.register_coordinator()
    lawyer = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    for i in range(8):
        mark = reporter.mark()
        await reporter.send_text(f"fact{i} " + EMOJI * 400)
        await reporter.wait_for("the lawyer who answers will see it", after=mark)
    await lawyer.press(f"Claim the case #{alert_id}", message=await card_for(lawyer, alert_id))
    contact = await lawyer.wait_for(f"You hold case #{alert_id}")
    links = [e for e in contact.entities if e.get("type") == "text_link"]
    assert links and links[0]["url"] == f"tg://user?id={reporter.id}"
    await world.drain()
    assert all(f"fact{i}" in said(lawyer) for i in range(8))
    assert refusals(world.emu) == []


# --- the emulator counts as Telegram does -------------------------------------------------


async def test_emulator_counts_utf16_units_after_entity_parsing(world: World) -> None:
    await world.start()
    user = world.emu.user(first_name="Dana")
    bot = world.q.worker.transport
    await bot.send(user.id, Outgoing(EMOJI * 2048))  # exactly 4,096 units
    tagged = "<b>" + "x" * 4000 + "</b>" + "&amp;" * 96  # 4,096 after parsing
    await bot.send(user.id, Outgoing(tagged, html=True))
    assert refusals(world.emu) == []
    from telegram.error import BadRequest

    tg = world.q.worker.transport.bot  # type: ignore[attr-defined]
    for text in (EMOJI * 2049, "x" * 4095 + EMOJI):
        try:
            await tg.send_message(user.id, text)
        except BadRequest as exc:
            assert "too long" in exc.message
        else:
            raise AssertionError("a text over 4,096 UTF-16 units was accepted")
    try:
        await tg.send_photo(user.id, b"\x89PNG\r\n\x1a\n", caption=EMOJI * 513)
    except BadRequest as exc:
        assert "caption is too long" in exc.message
    else:
        raise AssertionError("a caption over 1,024 UTF-16 units was accepted")


# --- pure logic ---------------------------------------------------------------------------


def test_utf16_helpers_never_split_a_surrogate_pair() -> None:
    assert utf16_len(EMOJI * 3) == 6 and utf16_len("абв") == 3
    assert cut_utf16("a" + EMOJI, 2) == "a"
    assert cut_utf16("a" + EMOJI, 3) == "a" + EMOJI
    pieces = split_text("x" + EMOJI * 5000, limit=4096)
    assert all(utf16_len(p) <= 4096 for p in pieces) and "".join(pieces) == "x" + EMOJI * 5000


def test_html_split_keeps_tags_and_entities_whole() -> None:
    text = ('Reporter: <a href="tg://user?id=7">A &amp; B</a>\n'
            + "\n".join("• " + EMOJI * 300 + " &lt;q&gt;" for _ in range(12))
            + "\n<b>" + "é" * 5000 + "</b>")
    pieces = split_text(text, html=True)
    assert len(pieces) > 2
    for piece in pieces:
        plain, _ = parse_html(piece)  # valid markup, or this raises
        assert utf16_len(plain) <= 4096
    assert pieces[0].startswith('Reporter: <a href="tg://user?id=7">A &amp; B</a>')
    whole = "".join(parse_html(p)[0] for p in pieces)
    assert whole.replace("\n", "") == plain_text(text, True).replace("\n", "")


def test_split_puts_the_buttons_after_all_the_text() -> None:
    out = Outgoing("a " * 3000, buttons=((Button("Close", "close:1"),),))
    parts = split(out)
    assert len(parts) == 2 and not parts[0].buttons and parts[1].buttons == out.buttons


def test_combine_measures_in_utf16_units() -> None:
    card = "\n".join(["🚨 Alert #1 · Almaty", "Reporter: A", *([EMOJI * 300] * 3),
                      "State: waiting"])
    combined = combine([Outgoing(card)] * 3, "🚨 3 new alerts:")
    assert utf16_len(combined.text) <= 4096


async def test_outbox_bench_measures_a_pass() -> None:
    from bench.outbox import measure, render_outbox

    cost = await measure(pending=50, chats=5, passes=5)
    assert cost.pending == 50 and cost.p50_ms > 0
    assert "pending rows" in render_outbox([cost])


def test_queue_serves_chats_by_their_most_urgent_row_and_keeps_a_chats_order() -> None:
    from bot.delivery.outbox import Queue
    from storage import Due

    q = Queue()
    for row_id, chat, priority in [(1, 10, 1), (2, 10, 1), (3, 20, 2), (4, 30, 0)]:
        q.add(Due(row_id, chat, "reply", priority, None, 0, 10), now=0.0)
    assert [q.pop_chat(0.0) for _ in range(4)] == [30, 10, 20, None]
    for chat in (10, 20, 30):
        q.push_chat(chat, 0.0)
    q.take(10, [1])
    q.retry([1], not_before=5.0, now=0.0)  # the first part failed: the second waits too
    assert [q.pop_chat(0.0) for _ in range(3)] == [30, 20, None]
    assert q.release(now=1.0) == 5.0 and q.pop_chat(1.0) is None
    assert q.release(now=5.0) is None
    assert q.chat_rows(10, 5)[0].id == 1 and q.pop_chat(5.0) == 10 and q.seen == 4


async def test_a_flooded_timeline_shows_its_newest_events_and_says_what_it_left_out(
        world: World) -> None:
    """/case splits a long timeline over several messages; only one swollen by a flood is
    shortened, to its newest 200 events, with a line saying how many were left out."""
    await world.start(flood_quiet_seconds=0.5)
    coordinator = await world.register_coordinator()
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    for i in range(230):
        await reporter.send_text(f"line-{i}")
    await reporter.wait_for("in a short time", timeout=30)
    events = rows(world.db, "SELECT COUNT(*) FROM alert_events WHERE alert_id = ?", alert_id)
    mark = coordinator.mark()
    await coordinator.send_command("/case", str(alert_id))
    await coordinator.wait_for("line-229", after=mark)
    await world.drain()
    answer = said(coordinator, mark)
    assert f"({events[0][0] - 200} earlier events not shown)" in answer
    assert "line-229" in answer and "line-0\n" not in answer
    assert refusals(world.emu) == []
