"""Discreet mode (issue 15, point 5): a reporter's phone may be seized and read. Their chat
carries no case words and no lawyer names, is cleared when the alert closes (their own
messages too), while the lawyer still gets everything; staff phones and groups keep less."""

from __future__ import annotations

import json
import re
import time

from bot.clock import ManualClock
from bot.domain import discreet
from bot.i18n import t
from emulator import SimUser
from tests.harness import ALMATY, World, card_for, claim, rows

# The same words in Russian and Kazakh (stems): alert, detention, lawyer, police, arrest, case.
NEUTRAL_BREAKERS = re.compile(r"(тревог|задерж|адвокат|полиц|арест|дабыл|ұста|қамау|заңгер)")
CASE_WORDS = re.compile(r"\b(alert|detain|detention|lawyer|police|arrest|case|qorgau)",
                        re.IGNORECASE)
DONE = "All done here.\nTake care. If you need help again, tap the button."


def case_words(world: World, user: SimUser, after: int = 0) -> list[str]:
    """Every case word in what the bot sent to this chat (texts, captions, buttons,
    keyboards, edits), from call number ``after`` on."""
    found = []
    for call in world.emu.sent(chat_id=user.id)[after:]:
        shown = {k: v for k, v in call.params.items() if k not in ("chat_id", "from_chat_id")}
        found += CASE_WORDS.findall(json.dumps(shown, ensure_ascii=False))
    return found


async def full_run(world: World, reporter: SimUser, marat: SimUser
                   ) -> tuple[int, list[int]]:
    """SOS, a text, a photo, the claim, a note, the close; returns the alert number and the
    ids of the reporter's own messages about it."""
    sos = discreet.LABEL_SOS if "📍 Send my location" in str(reporter.keyboard) \
        else "📍 SOS: send my location"
    mark = reporter.mark()
    sent = [await reporter.tap(sos, location=ALMATY)]
    card = await card_for(marat, 1)
    await reporter.wait_for(after=mark, predicate=lambda m: "eceived" in (m.text or ""))
    await marat.press("Claim the case #1", message=card)
    await marat.wait_for("You hold case #1")
    sent.append(await reporter.send_text("at the station on Abai street, phone low"))
    await marat.wait_for("Abai street")
    sent.append(await reporter.send_photo(caption="the van outside"))
    await marat.wait_for(predicate=lambda m: m.method == "copyMessage")
    mark = reporter.mark()
    await marat.send_command("/note", "1 On my way, twenty minutes")
    await reporter.wait_for("twenty minutes", after=mark)
    await marat.send_command("/close", "1 Released without charges")
    await marat.press("released", message=await marat.wait_for("How did case #1 end?"))
    await world.drain()
    return 1, [m["message_id"] for m in sent]


async def test_discreet_run_has_no_case_words_and_clears_the_chat(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    group = await world.connect_group()
    reporter = await world.register_reporter("Aida", share=True, discreet=True)
    await world.drain()
    # Registration's questions (which say what the bot is for) are gone; what stays is plain.
    assert (reporter.inbox[0].text or "").startswith("You are registered, Aida.")
    assert not CASE_WORDS.findall(json.dumps([(m.text, m.reply_markup) for m in reporter.inbox],
                                             ensure_ascii=False))
    assert reporter.keyboard == [[discreet.LABEL_SOS], [discreet.LABEL_SOS_NO_LOCATION]]
    after = len(world.emu.sent(chat_id=reporter.id))

    alert_id, theirs = await full_run(world, reporter, marat)

    assert case_words(world, reporter, after) == []
    assert "Marat" not in json.dumps([c.params for c in world.emu.sent(chat_id=reporter.id)])
    # After the close: the bot's messages and the reporter's own are deleted; one plain
    # line and the (plain) keyboard stay.
    assert [m.text for m in reporter.inbox] == [DONE]
    assert reporter.keyboard == [[discreet.LABEL_SOS], [discreet.LABEL_SOS_NO_LOCATION]]
    assert not set(theirs) & set(reporter.chat.messages)
    # The lawyer got everything: the name, the text, the photo, the discreet warning; the
    # contact message (the link to the reporter) is deleted now that the case is closed.
    contact = next(m for m in marat.chat.bot_messages if "You hold case" in (m.text or ""))
    assert "Reporter: “Aida”" in (contact.text or "") and "Discreet mode" in (contact.text or "")
    assert contact.deleted
    assert any("Abai street" in (m.text or "") and "“Aida”" in (m.text or "")
               for m in marat.inbox)
    assert any(m.method == "copyMessage" for m in marat.inbox)
    # The group's notice: one edit to a closing line without the place.
    notice = group.inbox[-1]
    assert notice.text == f"Notice #{alert_id}: closed."
    # The message ids kept for the deletions are forgotten afterwards.
    clock.advance(discreet.FORGET_AFTER + 1)
    await world.q.timers.run_due()
    kept = rows(world.db, "SELECT kind FROM outbox WHERE chat_id = ? AND message_id IS NOT NULL",
                reporter.id)
    assert kept == [("reply",)]  # the closing line, still on the phone


async def test_discreet_off_keeps_the_plain_wording(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    group = await world.connect_group()
    reporter = await world.register_reporter("Aida", share=True)  # turned off at registration
    await world.drain()
    mark = reporter.mark()
    alert_id, theirs = await full_run(world, reporter, marat)
    texts = [m.text or "" for m in reporter.chat.bot_messages[mark:]]
    assert any(t.startswith(f"Alert #{alert_id} received and saved.") for t in texts)
    assert f"Lawyer Marat has taken your case (alert #{alert_id})." in "\n".join(texts)
    assert any(t.startswith("Update from your lawyer Marat:") for t in texts)
    assert texts[-1].startswith(f"Your alert #{alert_id} is closed (released).")
    assert not any(m.deleted for m in reporter.chat.bot_messages[mark:])
    assert set(theirs) <= set(reporter.chat.messages)
    # For every reporter: the contact link goes with the case, the group keeps no place.
    contact = next(m for m in marat.chat.bot_messages if "You hold case" in (m.text or ""))
    assert contact.deleted and "Discreet mode" not in (contact.text or "")
    assert group.inbox[-1].text == f"Notice #{alert_id}: closed."


async def test_discreet_command_and_bad_input(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter = await world.register_reporter("Aida")
    stranger = world.emu.user(first_name="Stranger")

    def mode() -> list[tuple[int]]:
        return rows(world.db, "SELECT discreet FROM people WHERE user_id = ?", reporter.id)

    for args in ("", "maybe", "on off", "ON!"):
        mark = reporter.mark()
        await reporter.send_command("/discreet", args or None)
        answer = await reporter.wait_for("Use /discreet on or /discreet off.", after=mark)
        assert "Discreet mode is off" in (answer.text or "")
        assert mode() == [(0,)]
    mark = reporter.mark()
    await reporter.send_command("/discreet", "on")
    await reporter.wait_for("Discreet mode is on", after=mark)
    await world.drain()
    assert mode() == [(1,)]
    assert [m.text for m in reporter.inbox][-1].startswith("Discreet mode is on")
    assert reporter.keyboard == [[discreet.LABEL_SOS], [discreet.LABEL_SOS_NO_LOCATION]]
    assert len(reporter.inbox) == 1  # turned on with nothing open: the chat is cleared
    after = len(world.emu.sent(chat_id=reporter.id))
    for command in ("/help", "/start", "/nonsense"):
        mark = reporter.mark()
        await reporter.send_command(command)
        await reporter.wait_for(after=mark)
    mark = reporter.mark()
    await reporter.send_text("are you there")
    await reporter.wait_for("Need help?", after=mark)
    await world.drain()
    assert case_words(world, reporter, after) == []
    # An old keyboard's label still works in either mode.
    mark = reporter.mark()
    await reporter.send_text("🆘 Alert without location")
    await reporter.wait_for("Received. Help is on the way.", after=mark)
    mark = reporter.mark()
    await reporter.send_command("/discreet", "off")
    await reporter.wait_for("Discreet mode is off", after=mark)
    assert reporter.keyboard == [["📍 SOS: send my location"], ["🆘 Alert without location"],
                                 ["✅ I'm safe"]]
    # Staff are never discreet; strangers are told to register; forged buttons change nothing.
    mark = marat.mark()
    await marat.send_command("/discreet", "on")
    await marat.wait_for("Discreet mode is for reporters", after=mark)
    mark = stranger.mark()
    await stranger.send_command("/discreet", "on")
    await stranger.wait_for("Please finish registering first", after=mark)
    any_message = marat.inbox[-1]
    answer = await marat.press_data(any_message, "discreet:1")
    assert "Discreet mode is for reporters" in (answer.text or "")
    answer = await reporter.press_data(reporter.inbox[-1], "discreet:7")
    assert answer.text and "not for you" in answer.text
    assert rows(world.db, "SELECT user_id FROM people WHERE discreet = 1") == []


async def test_people_lists_no_reporter_ids(world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter = await world.register_reporter("Aida")
    mark = coordinator.mark()
    await coordinator.send_command("/people")
    listing = (await coordinator.wait_for("Aida", after=mark)).text or ""
    assert str(reporter.id) not in listing and "Aida · reporter" in listing
    assert f"{marat.id} · Marat · lawyer" in listing  # /revoke takes a staff id


async def test_disconnect_edits_the_notices_once_to_a_line_without_the_place(
        world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    group = await world.connect_group()
    reporter = await world.register_reporter("Aida", share=True)
    await reporter.tap("📍 SOS: send my location", location=ALMATY)
    alert_id = 1
    notice = await group.wait_for(f"Alert #{alert_id}")
    await world.drain()
    assert "Location: 43.25670, 76.92860" in (notice.text or "")
    mark = group.mark()
    await group.send_command(coordinator, "/disconnect")
    await group.wait_for("no longer receives alert notices", after=mark)
    await world.drain()
    assert notice.text == f"Notice #{alert_id}: closed." and notice.edit_count == 1
    await claim(marat, alert_id)  # the case moves on; the old notice is never touched again
    await world.drain()
    assert notice.text == f"Notice #{alert_id}: closed." and notice.edit_count == 1
    assert len(group.inbox) == mark + 1


async def test_descriptions_are_neutral(world: World) -> None:
    await world.start()
    descriptions = world.emu.api.descriptions
    # One per language, and without a language code the default one (Russian).
    for code, lang in (("", "ru"), ("en", "en"), ("kk", "kk"), ("ru", "ru")):
        assert descriptions[("description", code)] == t(lang, discreet.DESCRIPTION)
        assert descriptions[("short_description", code)] == t(lang, discreet.SHORT_DESCRIPTION)
    assert descriptions[("description", "en")] == discreet.DESCRIPTION
    assert not CASE_WORDS.findall(" ".join(descriptions.values()))
    assert not NEUTRAL_BREAKERS.findall(" ".join(descriptions.values()).lower())


async def test_a_flood_from_a_discreet_reporter_is_deleted_too(world: World) -> None:
    await world.start(flood_messages_per_minute=3, flood_quiet_seconds=1.0)
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter = await world.register_reporter("Aida", discreet=True)
    await reporter.tap(discreet.LABEL_SOS, location=ALMATY)
    await claim(marat, 1)
    theirs = [(await reporter.send_text(f"flood-{i}"))["message_id"] for i in range(10)]
    await reporter.wait_for("in a short time", timeout=20)
    assert rows(world.db, "SELECT COUNT(*) FROM alert_events WHERE kind = 'reporter_text'"
                ) == [(10,)]
    await marat.send_command("/close", "1")
    await marat.press("released", message=await marat.wait_for("How did case #1 end?"))
    await world.drain()
    assert not set(theirs) & set(reporter.chat.messages)
    assert [m.text for m in reporter.inbox] == [DONE]


async def test_deletions_survive_a_restart_and_off_forgets_the_kept_ids(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter = await world.register_reporter("Aida", discreet=True)
    await reporter.tap(discreet.LABEL_SOS, location=ALMATY)
    await claim(marat, 1)
    theirs = [(await reporter.send_text("phone low"))["message_id"]]
    await reporter.wait_for("Sent.")
    await marat.send_command("/close", "1")
    await marat.press("released", message=await marat.wait_for("How did case #1 end?"))
    await world.stop()  # at once: the deletions are rows written with the close
    await world.start()
    await world.drain()
    assert not set(theirs) & set(reporter.chat.messages)
    assert [m.text for m in reporter.inbox] == [DONE]
    # A second alert, then /discreet off while it is open: nothing is deleted at its close,
    # and the ids kept so far are forgotten at once.
    await reporter.tap(discreet.LABEL_SOS, location=ALMATY)
    await claim(marat, 2)
    kept = (await reporter.send_text("again"))["message_id"]
    await reporter.wait_for("Sent.", after=reporter.mark() - 1)
    mark = reporter.mark()
    await reporter.send_command("/discreet", "off")
    await reporter.wait_for("Discreet mode is off", after=mark)
    assert rows(world.db, "SELECT COUNT(*) FROM outbox WHERE chat_id = ? AND kind = 'incoming'"
                " AND message_id IS NOT NULL", reporter.id) == [(0,)]
    await marat.send_command("/close", "2")
    await marat.press("released", message=await marat.wait_for("How did case #2 end?"))
    await reporter.wait_for("Your alert #2 is closed")
    await world.drain()
    assert kept in reporter.chat.messages


async def test_messages_older_than_48_hours_are_left_alone(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter = await world.register_reporter("Aida", discreet=True)
    old = (await reporter.tap(discreet.LABEL_SOS, location=ALMATY))["message_id"]
    received = await reporter.wait_for("Received. Help is on the way.")
    await claim(marat, 1)
    await world.drain()
    clock.advance(48 * 3600)  # Telegram no longer lets these be deleted: none is tried
    recent = (await reporter.send_text("still here"))["message_id"]
    await reporter.wait_for("Sent.")
    await marat.send_command("/close", "1")
    await marat.press("released", message=await marat.wait_for("How did case #1 end?"))
    await world.drain()
    assert old in reporter.chat.messages and recent not in reporter.chat.messages
    assert not received.deleted
    assert [m.text for m in reporter.inbox][-1] == DONE
    assert all(c.status == 200 for c in world.emu.calls if c.method == "deleteMessage")
