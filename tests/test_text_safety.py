"""Text that cannot forge lines: names are one line without control or bidirectional
characters, and what people wrote is quoted on cards, contact and case messages so that it
cannot pose as the bot's own lines."""

from __future__ import annotations

import pytest

from bot.domain.notify import fact_line, one_line, quote_lines, quoted
from bot.domain.reporting import clean_name
from emulator import BotMessage
from tests.harness import ALMATY, World, card_for, rows

FORGED_NAME = "Aida\nState: closed\u202e\u2066x\u2069\u200f\u061c\u2028Taken by Marat"
FORGED_TEXT = "at the station\nState: closed\n🚨 Alert #99 · Astana\u2029Taken by “Marat”."
CARD_LINE_STARTS = ("🚨", "Reporter:", "Raised at", "Location:", "Position:", "Known so far:",
                    "• ", "│ ", "State:", "Taken by", "⏰", "‼️")


@pytest.mark.parametrize(("raw", "clean"), [
    ("Aida\nState: closed", "Aida State: closed"),
    ("\u202eadiA\u202c", "adiA"),
    ("A\u2066b\u2069c\u200e\u200f\u061cd", "Abcd"),
    ("A\u2028B\u2029C\r\nD\x85E\tF", "A B C D E F"),
    ("  many   spaces  ", "many spaces"),
])
def test_one_line_drops_breaks_controls_and_bidi(raw: str, clean: str) -> None:
    assert one_line(raw) == clean
    assert clean_name(raw) == clean


def test_quoting_marks_every_line() -> None:
    assert quoted("A\nB") == "“A B”"
    assert quote_lines("a\nb\u2028c") == "│ a\n│ b\n│ c"
    assert fact_line("a\nState: closed") == "a\n│ State: closed"
    assert clean_name("\n\u202e ") is None


def _only_own_lines(msg: BotMessage) -> None:
    text = msg.text or msg.caption or ""
    for line in text.split("\n"):
        assert line.startswith(CARD_LINE_STARTS), (line, text)


async def test_names_are_cleaned_at_registration_and_quoted_on_cards(world: World) -> None:
    await world.start()
    coordinator = world.coordinator
    await coordinator.send_command("/start")
    await coordinator.wait_for("What name should others see?")
    await coordinator.send_text("Dana\nCoordinator\u202e")
    await coordinator.wait_for("Registered as coordinator")
    lawyer = await world.register_lawyer("Marat\u2066\n‼️ URGENT", ("Almaty",))
    user = world.emu.user(first_name="Aida")
    await user.send_command("/start")
    await user.press("I agree", message=await user.wait_for("What we store"))
    await user.wait_for("What name should lawyers see?")
    await user.send_text(FORGED_NAME)
    await user.press("Almaty", message=await user.wait_for("Where are you based?"))
    await user.press("No, region only", message=await user.wait_for("May press-freedom"))
    await user.wait_for("You are registered")
    names = dict(rows(world.db, "SELECT user_id, plain(display_name) FROM people"))
    assert names[coordinator.id] == "Dana Coordinator"
    assert names[lawyer.id] == "Marat ‼️ URGENT"
    assert names[user.id] == "Aida State: closedx Taken by Marat"

    await user.tap("📍 Send my location", location=ALMATY)  # discreet mode, the default
    await user.wait_for("Received. Help is on the way.")
    card = await card_for(lawyer, 1)
    assert card.text is not None
    assert "\nReporter: “Aida State: closedx Taken by Marat”\n" in card.text
    _only_own_lines(card)


async def test_reporter_texts_are_quoted_line_by_line_everywhere(world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    aigul = await world.register_lawyer("Aigul", ("Almaty",))
    reporter = await world.register_reporter("Aida")
    await reporter.tap("📍 SOS: send my location", location=ALMATY)
    await reporter.wait_for("received and saved")
    await reporter.send_text(FORGED_TEXT)
    await reporter.wait_for("the lawyer who answers will see it")
    await world.drain()

    # The cards are edited with what is known: every line is the card's own or quoted.
    await marat.press("Acknowledge #1", message=await card_for(marat, 1))
    await world.drain()
    card = next(m for m in aigul.inbox if "Claim the case #1" in m.buttons)
    assert card.text is not None and "• at the station\n│ State: closed\n│ 🚨" in card.text
    _only_own_lines(card)

    # The holder's contact message (HTML) quotes it too.
    await aigul.press("Claim the case #1", message=card)
    contact = await aigul.wait_for("You hold case #1")
    assert contact.text is not None and "\n│ State: closed\n│ 🚨 Alert #99" in contact.text
    assert "\nTaken by “Marat”." not in contact.text

    # A new text goes to the holder quoted, under a fixed header with the name in quotes.
    mark = aigul.mark()
    await reporter.send_text("second\nState: closed")
    relayed = await aigul.wait_for("second", after=mark)
    assert relayed.text == "Alert #1 · from “Aida”:\n│ second\n│ State: closed"

    # The coordinator's /case timeline: names quoted, texts quoted line by line.
    mark = coordinator.mark()
    await coordinator.send_command("/case", "1")
    timeline = await coordinator.wait_for("the reporter wrote", after=mark)
    assert timeline.text is not None
    assert "the reporter wrote · “Aida”:\n│ at the station\n│ State: closed\n│ 🚨 Alert #99" in (
        timeline.text)
    assert "· “Aigul”" in timeline.text


async def test_names_and_texts_are_escaped_in_the_html_contact_message(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter = await world.register_reporter("<b>Aida</b> & Co")
    await reporter.tap("📍 SOS: send my location", location=ALMATY)
    await reporter.wait_for("received and saved")
    await reporter.send_text("<a href='tg://user?id=1'>x</a>\n</b>State: closed")
    await reporter.wait_for("the lawyer who answers will see it")
    await marat.press("Claim the case #1", message=await card_for(marat, 1))
    contact = await marat.wait_for("You hold case #1")
    assert contact.text is not None
    assert "Reporter: “<b>Aida</b> & Co”" in contact.text
    assert "• <a href='tg://user?id=1'>x</a>\n│ </b>State: closed" in contact.text
    links = [e for e in contact.entities if e["type"] == "text_link"]
    assert [link["url"] for link in links] == [f"tg://user?id={reporter.id}"]


async def test_lawyers_notes_and_flooded_texts_are_quoted_to_the_other_side(
        world: World) -> None:
    """A lawyer's /note and closing note reach the reporter quoted, and the summary of a
    reporter's flood quotes their texts to the lawyer: neither side can forge the other's
    message lines (such as a fake "is closed")."""
    await world.start(flood_messages_per_minute=2, flood_quiet_seconds=0.5)
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter = await world.register_reporter("Aida")
    await reporter.tap("📍 SOS: send my location", location=ALMATY)
    await reporter.wait_for("received and saved")
    await marat.press("Claim the case #1", message=await card_for(marat, 1))
    await marat.wait_for("You hold case #1")
    await world.drain()

    fake = "ok\nYour alert #1 is closed (released).\nTake care."
    mark = reporter.mark()
    await marat.send_command("/note", "1 " + fake)
    note = await reporter.wait_for("Update from your lawyer", after=mark)
    assert note.text is not None and "\n│ Your alert #1 is closed (released).\n│ Take care." in (
        note.text)

    mark = marat.mark()
    for i in range(6):
        await reporter.send_text(f"m{i}\nState: closed by coordinator")
    summary = await marat.wait_for("in a short time", after=mark, timeout=20)
    assert summary.text is not None
    assert "\nState: closed" not in summary.text and "│ State: closed" in summary.text

    await marat.send_command("/close", "1 " + fake)
    choice = await marat.wait_for("How did case #1 end?")
    mark = reporter.mark()
    await marat.press("released", message=choice)
    closed = await reporter.wait_for("is closed", after=mark)
    assert closed.text is not None and "\n│ Your alert #1 is closed (released).\n│ Take care." in (
        closed.text)
