"""Issue 15, points 3 and 4: the undo window, the cancel PIN and the duress PIN, their
lockout, and "I'm safe" under coercion, over the emulator (and a killed bot process)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from bot.clock import ManualClock
from emulator import SimUser
from tests.harness import ALMATY, BotProcess, World, card_for, claim, raise_alert, rows

PIN, DURESS = "4821", "90357"
CASE_WORDS = ("alert", "detained", "detention", "lawyer", "police", "arrest", "case",
              "duress")


async def set_pins(user: SimUser, pin: str = PIN, duress: str = DURESS) -> None:
    """The reporter takes the optional PIN step offered at registration."""
    offer = await user.wait_for("Optional: a PIN")
    mark = user.mark()
    await user.press("Set a PIN", message=offer)
    await user.wait_for("Send a new PIN", after=mark)
    mark = user.mark()
    await user.send_text(pin)
    await user.wait_for("Now send a second PIN", after=mark)
    mark = user.mark()
    await user.send_text(duress)
    await user.wait_for("Saved.", after=mark)


async def answer_to(user: SimUser, text: str) -> str:
    """Send ``text`` and return the bot's next message in that chat."""
    mark = user.mark()
    await user.send_text(text)
    msg = await user.wait_for(after=mark)
    return msg.text or ""


def typed(user: SimUser) -> list[str]:
    """What the person's own messages still in the chat say (deleted ones are gone)."""
    bot_ids = {m.message_id for m in user.chat.bot_messages}
    return [str(m.get("text", "")) for mid, m in sorted(user.chat.messages.items())
            if mid not in bot_ids]


def chat_view(user: SimUser) -> list[str]:
    """Everything the reporter's chat shows, in order, with alert numbers, dates and ids
    left out: what someone holding the phone would see."""
    shown: list[Any] = []
    for _, msg in sorted(user.chat.messages.items()):
        mine = (msg.get("from") or {}).get("id") == user.id
        body = {k: v for k, v in msg.items()
                if k not in ("message_id", "date", "edit_date", "from", "chat")}
        if "forward_origin" in body:
            body["forward_origin"] = {k: v for k, v in body["forward_origin"].items()
                                      if k != "date"}
        shown.append(("me" if mine else "bot", body))
    shown.append(("keyboard", user.keyboard))
    return [re.sub(r"#\d+|undo:\d+", "#N", json.dumps(s, sort_keys=True)) for s in shown]


# --- the undo window ------------------------------------------------------------------------

async def test_undo_within_the_window_pages_nobody(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock, undo_seconds=10)
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    group = await world.connect_group()
    reporter = await world.register_reporter("Aida")
    mark = reporter.mark()
    await reporter.tap("📍 SOS: send my location", location=ALMATY)
    offer = await reporter.wait_for("You can cancel within 10 s", after=mark)
    registration_offer = await reporter.wait_for("Optional: a PIN")
    for text in (offer.text, registration_offer.text, *offer.buttons,
                 *registration_offer.buttons):
        assert not any(word in (text or "").lower() for word in CASE_WORDS), text
    answer = await reporter.press("Cancel", message=offer)
    assert answer.text is None
    cancelled = await reporter.wait_for("Cancelled.", after=mark)
    assert cancelled.text == "Cancelled."
    assert "✅ I'm safe" not in str(reporter.keyboard)
    clock.advance(3600)
    await world.drain()
    await world.q.timers.run_due()
    await world.drain()
    for person in (marat, coordinator):
        assert not any("Alert #1" in (m.text or "") for m in person.inbox)
    assert not any("Alert #1" in (m.text or "") for m in group.inbox)
    assert rows(world.db, "SELECT state, outcome FROM alerts") == [
        ("closed", "withdrawn in the undo window")]
    assert rows(world.db, "SELECT COUNT(*) FROM timers WHERE subject_id = 1 AND kind != "
                          "'oncall_until'") == [(0,)]
    # The old button, pressed again, changes nothing.
    again = await reporter.press("Cancel", message=offer)
    assert again.text == "Nothing to cancel."


async def test_without_a_cancel_the_window_end_pages_and_a_late_cancel_is_im_safe(
        world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock, undo_seconds=10)
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter = await world.register_reporter("Aida")
    mark = reporter.mark()
    await reporter.tap("📍 SOS: send my location", location=ALMATY)
    offer = await reporter.wait_for("You can cancel within", after=mark)
    await world.drain()
    assert not any("Alert #1" in (m.text or "") for m in marat.inbox)
    clock.advance(11)
    await card_for(marat, 1)
    mark = reporter.mark()
    await reporter.press("Cancel", message=offer)  # too late: it is an "I'm safe" now
    said = await reporter.wait_for(after=mark)
    assert said.text == "Received."
    await coordinator.wait_for("says they are safe")
    assert rows(world.db, "SELECT state FROM alerts") == [("open",)]


async def test_a_kill_during_the_undo_window_still_pages_at_its_end(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter = await world.register_reporter("Aida")
    await world.drain()
    await world.stop()
    proc = BotProcess(world, QORGAU_UNDO_SECONDS="30", QORGAU_LOG_LEVEL="DEBUG")
    proc.start()
    try:
        for text, expect in (("/pin", "Send a new PIN"), ("73914862", "Now send a second"),
                             ("26840519", "Saved.")):
            mark = reporter.mark()
            await reporter.send_text(text)
            await reporter.wait_for(expect, after=mark, timeout=30)
        mark = reporter.mark()
        await reporter.tap("📍 SOS: send my location", location=ALMATY)
        await reporter.wait_for("You can cancel within", after=mark, timeout=30)
        proc.kill()
    finally:
        await proc.stop()
    log = proc.log.read_text(encoding="utf-8", errors="replace")
    assert "DEBUG" in log and "73914862" not in log and "26840519" not in log
    # Killed inside the window: the alert is stored and its end is a row.
    assert rows(world.db, "SELECT state FROM alerts") == [("open",)]
    assert rows(world.db, "SELECT COUNT(*) FROM timers WHERE kind = 'undo'") == [(1,)]
    assert not any("Alert #1" in (m.text or "") for m in marat.inbox)
    clock = ManualClock(time.time() + 31)  # restarted after the window's end
    await world.start(clock=clock, undo_seconds=30)
    await card_for(marat, 1)
    await world.drain()
    assert rows(world.db, "SELECT COUNT(*) FROM timers WHERE kind = 'undo'") == [(0,)]
    cards = [m for m in marat.inbox if "Claim the case #1" in m.buttons]
    assert len(cards) == 1


# --- the cancel PIN -----------------------------------------------------------------------------

async def test_real_pin_cancels_tells_the_holder_and_deletes_the_pin_message(
        world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter = await world.register_reporter("Aida")
    await set_pins(reporter)
    mark = reporter.mark()
    await reporter.tap("📍 SOS: send my location", location=ALMATY)
    await reporter.wait_for("received and saved", after=mark)
    await claim(marat, 1)
    await reporter.wait_for("has taken your case")
    assert await answer_to(reporter, "✅ I'm safe") == (
        "Send your PIN. The message is deleted at once.")
    assert await answer_to(reporter, PIN) == "Cancelled."
    await marat.wait_for("Alert #1 was cancelled by the reporter with their PIN")
    await world.drain()
    assert rows(world.db, "SELECT state, outcome FROM alerts") == [
        ("closed", "cancelled by reporter")]
    assert PIN not in typed(reporter) and DURESS not in typed(reporter)
    stored = rows(world.db, "SELECT pin_hash, duress_hash FROM pins")[0]
    assert all(h.startswith("scrypt$") for h in stored)
    for table, column in (("alert_events", "detail"), ("outbox", "payload")):
        assert not any(PIN in r[0] for r in rows(world.db, f"SELECT {column} FROM {table}"))


async def test_duress_pin_shows_the_reporter_the_same_as_the_real_pin(world: World) -> None:
    """Two runs in one world, step for step the same: one reporter cancels with the real
    PIN, the other (same name) with the duress PIN; then each writes, and presses SOS
    again. Their chats must be the same."""
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    views, alert_ids = [], []
    for pin in (PIN, DURESS):
        reporter = await world.register_reporter("Aida")
        await set_pins(reporter)
        mark = reporter.mark()
        await reporter.tap("📍 SOS: send my location", location=ALMATY)
        received = await reporter.wait_for("received and saved", after=mark)
        alert_id = int((received.text or "").split("#")[1].split()[0])
        alert_ids.append(alert_id)
        await claim(marat, alert_id)
        await reporter.wait_for("has taken your case")
        await answer_to(reporter, "✅ I'm safe")
        assert await answer_to(reporter, pin) == "Cancelled."
        # Afterwards too: what they write is answered as if nothing were open...
        assert (await answer_to(reporter, "they took my phone")).startswith(
            "You have no open alert")
        await reporter.wait_for("Lawyers on call are alerted at once")
        mark = reporter.mark()
        await reporter.forward_location(*ALMATY)
        await reporter.wait_for("forwarded from someone else", after=mark)
        await world.drain()
        # ... and an SOS is answered as a new alert.
        mark = reporter.mark()
        await reporter.tap("📍 SOS: send my location", location=ALMATY)
        await reporter.wait_for("received and saved", after=mark)
        await world.drain()
        views.append(chat_view(reporter))
        assert PIN not in typed(reporter) and DURESS not in typed(reporter)
    assert views[0] == views[1]
    # Behind the same screen, the duress alert stayed open, marked, escalated at once.
    real, duress = alert_ids
    assert rows(world.db, "SELECT id, state, duress_at IS NOT NULL FROM alerts ORDER BY id") == [
        (real, "closed", 0), (real + 1, "open", 0), (duress, "claimed", 1)]
    await marat.wait_for(f"DURESS on alert #{duress}")
    await coordinator.wait_for(predicate=lambda m: "DURESS" in (m.text or "")
                               and f"Alert #{duress}" in (m.text or ""))
    assert rows(world.db, "SELECT wave FROM alerts WHERE id = ?", duress) == [(2,)]
    await marat.wait_for("they took my phone")  # still forwarded to the holder
    await marat.wait_for(f"Alert #{duress} (DURESS): the reporter pressed SOS again")


async def test_new_reporter_texts_carry_no_case_words(world: World) -> None:
    """What this feature says to a reporter is neutral (discreet mode needs no variant)."""
    from bot.domain import cancelling, pins

    texts = [cancelling.SAID_CANCELLED, cancelling.SAID_RECEIVED, cancelling.SAID_NOTHING,
             cancelling.ASK_PIN, pins.SAID_FORMAT, pins.SAID_WRONG, pins.ASK_NEW,
             pins.ASK_CURRENT, pins.ASK_DURESS, pins.SAID_SAVED,
             cancelling.locked_text("en", 900)]
    for text in texts:
        assert not any(word in text.lower() for word in CASE_WORDS), text


async def test_five_wrong_pins_lock_cancelling_even_across_a_restart(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    coordinator = await world.register_coordinator()
    reporter = await world.register_reporter("Aida")
    await set_pins(reporter)
    mark = reporter.mark()
    await reporter.tap("📍 SOS: send my location", location=ALMATY)
    await reporter.wait_for("received and saved", after=mark)
    await answer_to(reporter, "✅ I'm safe")
    for _ in range(4):
        assert await answer_to(reporter, "1111") == "That PIN is not right. Please try again."
    assert await answer_to(reporter, "2222") == (
        "Too many wrong tries. Cancelling is locked for 15 min.")
    await coordinator.wait_for("5 wrong PINs in a row")
    await world.restart(clock)
    assert (await answer_to(reporter, "✅ I'm safe")).startswith("Too many wrong tries")
    mark = reporter.mark()
    await reporter.send_text(PIN)  # not asked for: a plain message on the open alert
    await reporter.wait_for("Added to alert #1", after=mark)
    assert rows(world.db, "SELECT state FROM alerts") == [("open",)]
    clock.advance(15 * 60 + 1)
    await reporter.wait_for("still looking")  # the alarm went on meanwhile
    await world.drain()
    assert (await answer_to(reporter, "✅ I'm safe")).startswith("Send your PIN")
    assert await answer_to(reporter, PIN) == "Cancelled."
    assert rows(world.db, "SELECT outcome FROM alerts") == [("cancelled by reporter",)]


async def test_bad_pin_formats_get_one_calm_answer_and_change_nothing(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    reporter = await world.register_reporter("Aida")
    mark = reporter.mark()
    await reporter.send_command("/pin")
    await reporter.wait_for("Send a new PIN", after=mark)
    for bad in ("123", "123456789"):
        assert await answer_to(reporter, bad) == "A PIN is 4 to 8 digits. Please send it again."
    assert (await answer_to(reporter, "5555")).startswith("Now send a second PIN")
    assert await answer_to(reporter, "5555") == (
        "The second PIN must differ from the first. Please send another.")
    assert rows(world.db, "SELECT pin_hash FROM pins") == [(None,)]
    assert (await answer_to(reporter, "5556")).startswith("Saved.")
    assert await answer_to(reporter, "/pin") == (
        "Send your current PIN first. The message is deleted at once.")
    assert await answer_to(reporter, "5557") == "That PIN is not right. Please try again."
    await world.drain()
    assert not [x for x in typed(reporter) if x.isdigit()]  # every PIN-like one deleted
    # Not digits: the question lapses and the text is what it says.
    assert (await answer_to(reporter, "help me")).startswith("You have no open alert")


async def test_changing_the_pin_with_the_duress_pin_looks_the_same_and_changes_nothing(
        world: World) -> None:
    await world.start()
    await world.register_coordinator()
    reporter = await world.register_reporter("Aida")
    await set_pins(reporter)
    before = rows(world.db, "SELECT pin_hash, duress_hash FROM pins")
    for current in (DURESS, PIN):
        assert await answer_to(reporter, "/pin") == (
            "Send your current PIN first. The message is deleted at once.")
        assert (await answer_to(reporter, current)).startswith("Send a new PIN")
        assert (await answer_to(reporter, "1212")).startswith("Now send a second PIN")
        assert (await answer_to(reporter, "3434")).startswith("Saved.")
        after = rows(world.db, "SELECT pin_hash, duress_hash FROM pins")
        assert (after == before) == (current == DURESS)


async def test_forged_and_old_buttons_are_refused(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock, undo_seconds=10)
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    offer = await reporter.wait_for("You can cancel within")
    other = await world.register_reporter("Bek")
    home = other.inbox[-1]
    for who, message, data in ((other, home, f"undo:{alert_id}"),
                               (marat, marat.inbox[-1], f"undo:{alert_id}"),
                               (reporter, offer, "undo:999")):
        answer = await who.press_data(message, data)
        assert answer.text == "Sorry, this button is not for you."
    skipped = await other.press("Skip", message=await other.wait_for("Optional: a PIN"))
    assert skipped.text == "No PIN set. You can set one later with /pin."
    stranger = world.emu.user(first_name="Stranger")
    await stranger.send_command("/start")
    consent = await stranger.wait_for("What we store")
    answer = await stranger.press_data(consent, "pin:set")
    assert answer.text == "Please finish registering first: send /start."
    bad = await reporter.press_data(offer, "undo:1:2")
    assert bad.text == "Sorry, this button is not for you."
    assert rows(world.db, "SELECT state FROM alerts") == [("open",)]
    assert rows(world.db, "SELECT COUNT(*) FROM pins WHERE awaiting IS NOT NULL") == [(0,)]


async def test_in_discreet_mode_a_duress_cancel_clears_the_chat_like_a_real_one(
        world: World) -> None:
    """Discreet mode clears the reporter's chat when a request ends. A real cancel ends it,
    a duress cancel only seems to: the chat must be cleared in both, or the difference
    shows on the phone."""
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    views = []
    for pin in (PIN, DURESS):
        reporter = await world.register_reporter("Aida", discreet=True)
        await set_pins(reporter)
        mark = reporter.mark()
        await reporter.tap("📍 Send my location", location=ALMATY)
        await reporter.wait_for("Received. Help is on the way.", after=mark)
        alert_id = max(r[0] for r in rows(world.db, "SELECT id FROM alerts"))
        await claim(marat, alert_id)
        await world.drain()
        await answer_to(reporter, "✅ I'm safe")
        assert await answer_to(reporter, pin) == "Cancelled."
        await world.drain()
        views.append(chat_view(reporter))
    assert views[0] == views[1]
    assert not any("Received" in line for line in views[0])  # the earlier answers are gone
    assert PIN not in typed(reporter) and DURESS not in typed(reporter)


async def test_a_pin_typed_during_a_flood_is_deleted_not_stored(world: World) -> None:
    """Found by a new user: past the input limit, messages are stored on the alert without
    an answer, and a PIN typed then was stored as a text that /case showed. A message held
    while a PIN is awaited is deleted instead, and never stored."""
    await world.start()
    await world.register_coordinator()
    await world.register_lawyer("Marat", ("Almaty",))
    reporter = await world.register_reporter("Aida")
    await set_pins(reporter)
    mark = reporter.mark()
    await reporter.tap("📍 SOS: send my location", location=ALMATY)
    await reporter.wait_for("received and saved", after=mark)
    await answer_to(reporter, "✅ I'm safe")  # the PIN is asked for
    for _ in range(24):  # digits, but no PIN: answered (and deleted) until the limit trips
        await reporter.send_text("12")
    await reporter.send_text(PIN)
    await world.drain()
    await reporter.wait_for("messages in a short time", timeout=30)
    await world.drain()
    assert PIN not in typed(reporter)
    details = [d for (d,) in rows(world.db, "SELECT plain(detail) FROM alert_events")]
    assert not [d for d in details if PIN in d]
