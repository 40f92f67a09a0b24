"""The coordinators' live board, end to end over the emulator on an injected clock: its text
for a given state, edits throttled and coalesced under a burst, paging, the same message
after a restart, a deleted board posted again, and buttons refused to non-coordinators."""

from __future__ import annotations

import asyncio
import time

from bot.clock import ManualClock
from emulator import BotMessage, SimGroup
from tests.harness import ALMATY, ASTANA, World, card_for, claim, raise_alert, rows


def board_sends(group: SimGroup) -> list[BotMessage]:
    return [m for m in group.inbox if (m.text or "").startswith("📋 Live board")]


def edits(world: World, group: SimGroup) -> int:
    return len(world.emu.sent(chat_id=group.id, method="editMessageText"))


async def set_board(world: World, group: SimGroup) -> BotMessage:
    mark = group.mark()
    await group.send_command(world.coordinator, "/board")
    board = await group.wait_for("📋 Live board", after=mark)
    await world.drain()
    assert group.chat.pinned == [board.message_id]
    return board


async def with_board(world: World) -> tuple[ManualClock, SimGroup, BotMessage]:
    """The bot on a manual clock, a registered coordinator and a group with a board."""
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    await world.register_coordinator()
    group = world.emu.group("Coordinators", bot_admin=True)
    return clock, group, await set_board(world, group)


async def settle(world: World, clock: ManualClock, seconds: float) -> None:
    """Let the clock move on and every due redraw happen and be delivered."""
    await world.drain()
    clock.advance(seconds)
    await world.q.timers.run_due()
    await world.drain()


async def test_board_shows_the_state_and_follows_it(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    aigul = await world.register_lawyer("Aigul", ("Astana",))
    await world.register_lawyer("Erlan", ("Astana",), on_call=False)
    _, waiting = await raise_alert(world, "Aida", ALMATY)
    _, seen = await raise_alert(world, "Bek", ALMATY)
    card = await card_for(marat, seen)
    await marat.press(f"Acknowledge #{seen}", message=card)
    _, held = await raise_alert(world, "Dina", ASTANA)
    await claim(aigul, held)
    await world.drain()
    clock.advance(300)
    group = world.emu.group("Coordinators", bot_admin=True)
    board = await set_board(world, group)
    assert board.text == "\n".join([
        "📋 Live board",
        "🔴 Waiting: 1 · 🟡 Acknowledged: 1 · 🟢 Held: 1",
        "",
        f"🔴 #{waiting} · Almaty · waiting 5 min",
        f"🟡 #{seen} · Almaty · seen by “Marat”, not yet claimed",
        f"🟢 #{held} · Astana · held by “Aigul”",
        "On call now: 2",
        "• “Marat”: 0 open cases",
        "• “Aigul”: 1 open case",
    ])
    assert board.buttons == [f"🔎 #{waiting}", f"Assign #{waiting}", f"🔎 #{seen}",
                             f"Assign #{seen}", f"🔎 #{held}"]

    # Marat claims the waiting alert: the same message changes, within the interval.
    card = await card_for(marat, waiting)
    await marat.press(f"Claim the case #{waiting}", message=card)
    await settle(world, clock, 6)
    assert board.text is not None
    assert "🔴 Waiting: 0 · 🟡 Acknowledged: 1 · 🟢 Held: 2" in board.text
    assert f"🟢 #{waiting} · Almaty · held by “Marat”" in board.text
    assert len(board_sends(group)) == 1 and group.chat.pinned == [board.message_id]
    # Nothing changed: no edit at all.
    before = edits(world, group)
    await settle(world, clock, 120)
    assert edits(world, group) == before

    # The 🔎 button sends the case to the coordinator's private chat, not the group.
    coordinator = world.coordinator
    mark, group_mark = coordinator.mark(), group.mark()
    answer = await group.press(coordinator, f"🔎 #{held}", message=board)
    assert answer.text == "Sent to our private chat."
    await coordinator.wait_for(f"#{held}", after=mark)
    await world.drain()
    assert group.mark() == group_mark


async def test_a_burst_of_50_alerts_gives_few_edits_and_a_paged_board(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock, board_edit_seconds=6)
    await world.register_coordinator()
    group = world.emu.group("Coordinators", bot_admin=True)
    board = await set_board(world, group)
    start = edits(world, group)
    people = [world.emu.user(first_name=f"P{i}") for i in range(50)]
    for burst in range(5):  # 50 alerts over 10 s of the bot's clock
        for person in people[burst * 10:(burst + 1) * 10]:
            await person.send_location(*ALMATY)
        for person in people[burst * 10:(burst + 1) * 10]:
            await person.wait_for("#")
        await world.q.timers.run_due()
        await world.drain()  # whatever the bot wanted to show by now has been sent
        clock.advance(2)
    await settle(world, clock, 6)
    assert rows(world.db, "SELECT COUNT(*) FROM alerts") == [(50,)]
    made = edits(world, group) - start
    # 16 s of the bot's clock at one drawing per 6 s: two edits (at 6 s and at 16 s); a
    # drawing per change would have edited the board after every batch at least.
    assert made == 2, made
    assert board.text is not None and "🔴 Waiting: 50 · 🟡 Acknowledged: 0" in board.text
    assert "Page 1 of 3" in board.text and board.buttons[-1] == "Next ▶"
    assert len(board_sends(group)) == 1

    # Paging: the page buttons turn the same message.
    await group.press(world.coordinator, "Next ▶", message=board)
    await settle(world, clock, 6)
    assert "Page 2 of 3" in (board.text or "")
    assert board.buttons[-2:] == ["◀ Previous", "Next ▶"]
    lines = (board.text or "").split("\n")
    assert len([x for x in lines if x.startswith("🔴 #")]) == 20


async def test_restart_edits_the_same_board_and_a_deleted_one_is_posted_again(
        world: World) -> None:
    clock, group, board = await with_board(world)
    await world.restart(clock)
    _, first = await raise_alert(world, "Aida", ALMATY)
    await settle(world, clock, 6)
    assert f"#{first} · Almaty" in (board.text or "")
    assert len(world.emu.sent(chat_id=group.id, method="sendMessage")) == 1

    # Someone deletes the board in the group: the next edit is refused, a new one posted.
    del group.chat.messages[board.message_id]
    board.deleted = True
    _, second = await raise_alert(world, "Bek", ALMATY)
    await settle(world, clock, 6)
    await world.drain()
    fresh = await group.wait_for("📋 Live board")
    await world.drain()
    assert fresh.message_id != board.message_id and f"#{second}" in (fresh.text or "")
    assert group.chat.pinned[-1] == fresh.message_id
    assert rows(world.db, "SELECT COUNT(*) FROM boards") == [(1,)]


async def test_board_refuses_bad_input_and_forged_buttons(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    mark = coordinator.mark()
    await coordinator.send_command("/board")
    await coordinator.wait_for("Send /board inside the coordinators' group", after=mark)
    group = world.emu.group("Coordinators", bot_admin=True)
    mark = group.mark()
    await group.send_command(marat, "/board")
    await group.wait_for("Only coordinators can set up the live board", after=mark)
    assert rows(world.db, "SELECT COUNT(*) FROM boards") == [(0,)]

    _, alert_id = await raise_alert(world, "Aida", ALMATY)
    board = await set_board(world, group)
    private = marat.mark()
    for data in (f"bd:case:{alert_id}", f"bd:pg:{group.id}:1"):
        answer = await group._press(marat.chat, board, data, 10.0)
        assert answer.text == "Sorry, this button is not for you."
    answer = await group._press(marat.chat, board, f"assign:{alert_id}", 10.0)
    assert answer.text == "Only coordinators can assign cases."
    await world.drain()
    assert not any(f"#{alert_id}" in (m.text or "") for m in marat.inbox[private:])
    assert rows(world.db, "SELECT page FROM boards") == [(0,)]
    # A coordinator's forged presses: a page past the end stays on the last page, and an
    # alert that does not exist is not "sent".
    dana = world.coordinator
    answer = await group._press(dana.chat, board, f"bd:pg:{group.id}:9999", 10.0)
    assert answer.text == "Page 1"
    assert rows(world.db, "SELECT page FROM boards") == [(0,)]
    answer = await group._press(dana.chat, board, "bd:case:99999999999", 10.0)
    assert answer.text == "No alert #99999999999 that you can see."

    # A press-freedom group gets notices, never the board (it names lawyers).
    press = await world.connect_group()
    mark = press.mark()
    await press.send_command(dana, "/board")
    await press.wait_for("This group gets alert notices", after=mark)
    assert rows(world.db, "SELECT COUNT(*) FROM boards WHERE chat_id = ?", press.id) == [(0,)]

    # /board again: a fresh board, and the old one says it is no longer kept current.
    mark = group.mark()
    await group.send_command(world.coordinator, "/board")
    fresh = await group.wait_for("📋 Live board", after=mark)
    await world.drain()
    assert board.text == "📋 This board is no longer kept current: see the newest pinned board."
    assert not board.buttons and group.chat.pinned[-1] == fresh.message_id


async def test_a_board_unpinned_while_the_bot_was_down_is_posted_and_pinned_again(
        world: World) -> None:
    clock, group, board = await with_board(world)
    await world.restart(clock)  # still pinned: nothing new
    await world.drain()
    assert board_sends(group) == [board]

    await world.stop()
    group.chat.pinned.clear()  # someone unpinned it meanwhile
    mark = group.mark()
    await world.start(clock=clock)
    fresh = await group.wait_for("📋 Live board", after=mark)
    await world.drain()
    assert fresh.message_id != board.message_id
    assert group.chat.pinned == [fresh.message_id]
    assert rows(world.db, "SELECT message_row IS NOT NULL FROM boards") == [(1,)]


async def test_a_board_without_the_right_to_pin_says_so_in_the_group(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    await world.register_coordinator()
    group = world.emu.group("Coordinators", bot_admin=False)
    mark = group.mark()
    await group.send_command(world.coordinator, "/board")
    await group.wait_for("📋 Live board", after=mark)
    await group.wait_for("I could not pin the board: make me an administrator", after=mark)
    await world.drain()
    assert group.chat.pinned == []
    assert len(world.emu.sent(chat_id=group.id, method="pinChatMessage")) == 0


async def test_a_group_that_removed_the_bot_loses_its_board(world: World) -> None:
    clock, group, _ = await with_board(world)
    bot = {"id": world.emu.bot_id, "is_bot": True, "first_name": "Qorgau"}
    group.chat.bot_member = False
    world.emu.world.push_update("my_chat_member", {
        "chat": group.chat.short(), "from": world.coordinator.chat.user_dict(),
        "date": int(time.time()),
        "old_chat_member": {"status": "administrator", "user": bot, "can_be_edited": False,
                            "is_anonymous": False, "can_manage_chat": True,
                            "can_delete_messages": True, "can_manage_video_chats": True,
                            "can_restrict_members": True, "can_promote_members": False,
                            "can_change_info": True, "can_invite_users": True,
                            "can_post_stories": False, "can_edit_stories": False,
                            "can_delete_stories": False},
        "new_chat_member": {"status": "kicked", "user": bot, "until_date": 0}})
    for _ in range(100):
        if rows(world.db, "SELECT COUNT(*) FROM boards") == [(0,)]:
            break
        await asyncio.sleep(0.05)
    assert rows(world.db, "SELECT COUNT(*) FROM boards") == [(0,)]
    await raise_alert(world, "Aida", ALMATY)
    await settle(world, clock, 6)
    assert edits(world, group) == 0
