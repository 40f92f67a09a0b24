"""What a reporter sends reaches the lawyer: photos, voice, files and their captions are
copied (copyMessage) to whoever answers, recorded on the timeline, and copied again to a
lawyer who claims later. Locations that are someone else's or unreadable raise nothing and
are answered calmly."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator

import pytest
from telegram import Bot, MessageId
from telegram.error import BadRequest

from emulator import BotMessage, Emulator
from tests.harness import ALMATY, ASTANA, World, card_for, claim, raise_alert, rows


def copies(messages: list[BotMessage]) -> list[BotMessage]:
    return [m for m in messages if m.method == "copyMessage"]


async def test_media_and_captions_reach_the_holder_as_copies(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    await claim(marat, alert_id)

    photo = await reporter.send_photo(caption="police van 777")
    await reporter.wait_for("Sent to your lawyer")
    voice = await reporter.send_voice(caption="listen: the officer's name")
    document = await reporter.send_document(caption="the protocol\nthey made me sign")
    got = await marat.wait_for("police van 777")
    assert got.method == "copyMessage" and got.raw.get("photo")
    assert got.caption is not None and got.caption.startswith(f"Alert #{alert_id} · [photo]")
    await marat.wait_for("the officer's name", predicate=lambda m: bool(m.raw.get("voice")))
    doc = await marat.wait_for("they made me sign")
    assert doc.raw.get("document") and doc.caption is not None
    # A caption's second line is quoted too: it cannot pass for a line of the bot's own.
    assert "\n│ they made me sign" in doc.caption

    calls = world.emu.sent(chat_id=marat.id, method="copyMessage")
    assert {c.params["from_chat_id"] for c in calls} == {reporter.id}
    assert sorted(c.params["message_id"] for c in calls) == sorted(
        m["message_id"] for m in (photo, voice, document))
    events = rows(world.db, "SELECT plain(detail) FROM alert_events WHERE kind = 'reporter_media'"
                            " ORDER BY id")
    details = [json.loads(d) for (d,) in events]
    assert [d["media"] for d in details] == ["photo", "voice", "document"]
    assert details[0]["file_id"] == photo["photo"][-1]["file_id"]  # the largest size
    assert details[0]["caption"] == "police van 777"
    assert details[2]["file_id"] == document["document"]["file_id"]


async def test_earlier_media_follow_the_contact_message_of_a_later_claim(
        world: World) -> None:
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    aigul = await world.register_lawyer("Aigul", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    await reporter.send_photo(caption="they are here")
    await reporter.wait_for("the lawyer who answers will see it")
    await reporter.send_video_note()
    await world.drain()
    assert not copies(marat.inbox) and not copies(aigul.inbox)  # nobody holds it yet

    # The acknowledging lawyer is the one acting: they see it all at once.
    await marat.press(f"Acknowledge #{alert_id}", message=await card_for(marat, alert_id))
    await marat.wait_for("they are here", predicate=lambda m: m.method == "copyMessage")
    await marat.wait_for(predicate=lambda m: bool(m.raw.get("video_note")))

    # Another lawyer claims: the contact message, then copies of everything sent before.
    mark = aigul.mark()
    await aigul.press(f"Claim the case #{alert_id}", message=await card_for(aigul, alert_id))
    contact = await aigul.wait_for(f"You hold case #{alert_id}", after=mark)
    photo = await aigul.wait_for("they are here", after=mark,
                                 predicate=lambda m: m.method == "copyMessage")
    note = await aigul.wait_for(predicate=lambda m: bool(m.raw.get("video_note")), after=mark)
    assert contact.seq < photo.seq and contact.seq < note.seq
    header = await aigul.wait_for("[video message] from “Aida”", after=mark)
    assert contact.seq < header.seq < note.seq  # a video message has no caption: said before
    await world.drain()
    assert len(copies(aigul.inbox)) == 2 and len(copies(marat.inbox)) == 2  # no repeats

    # Later media go to the holder only.
    await reporter.send_photo(caption="second van")
    await aigul.wait_for("second van")
    await world.drain()
    assert not any("second van" in (m.caption or "") for m in marat.inbox)


async def test_forwarded_location_never_raises_an_alert_there(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    await world.register_lawyer("Marat", ("Almaty",))
    aigul = await world.register_lawyer("Aigul", ("Astana",))
    reporter = await world.register_reporter("Aida")
    mark = reporter.mark()
    await reporter.forward_location(*ASTANA, from_name="A friend")
    await reporter.wait_for("forwarded from someone else, so it raised no alert", after=mark)
    assert rows(world.db, "SELECT COUNT(*) FROM alerts") == [(0,)]

    await reporter.tap("📍 SOS: send my location", location=ALMATY)
    await reporter.wait_for("received and saved")
    mark = reporter.mark()
    await reporter.forward_location(*ASTANA, from_name="A friend")
    await reporter.wait_for("does not change your alert's position", after=mark)
    assert rows(world.db, "SELECT COUNT(*), round(plain(lat), 2) FROM alerts GROUP BY lat")\
        == [(1, 43.26)]
    (detail,) = rows(world.db,
                     "SELECT plain(detail) FROM alert_events WHERE kind = 'reporter_text'")
    assert "51.12820, 71.43070" in json.loads(detail[0])["text"]
    await world.drain()
    assert not any("Alert #" in (m.text or "") for m in aigul.inbox)  # Astana's: nothing


@pytest.mark.parametrize("where", [(95.0, 10.0), (10.0, -181.0), (math.nan, 76.9),
                                   (43.2, math.inf)])
async def test_unreadable_location_gets_a_calm_answer(world: World,
                                                      where: tuple[float, float]) -> None:
    await world.start()
    reporter = await world.register_reporter("Aida")
    mark = reporter.mark()
    await reporter.send_location(*where)
    await reporter.wait_for("That location could not be read", after=mark)
    assert rows(world.db, "SELECT COUNT(*) FROM alerts") == [(0,)]


@pytest.fixture
async def bot(emu: Emulator) -> AsyncIterator[Bot]:
    async with Bot(emu.token, base_url=emu.base_url) as b:
        yield b


async def test_emulator_copy_message_answers_a_message_id_and_records_the_copy(
        emu: Emulator, bot: Bot) -> None:
    aida = emu.user(first_name="Aida")
    marat = emu.user(first_name="Marat")
    sent = await aida.send_photo(caption="police van 777")
    copied = await bot.copy_message(marat.id, from_chat_id=aida.id,
                                    message_id=sent["message_id"])
    assert isinstance(copied, MessageId)
    (msg,) = marat.inbox
    assert msg.message_id == copied.message_id and msg.method == "copyMessage"
    assert msg.caption == "police van 777" and msg.raw["photo"] == sent["photo"]
    assert "forward_origin" not in msg.raw  # a copy, not a forward

    await bot.copy_message(marat.id, from_chat_id=aida.id, message_id=sent["message_id"],
                           caption="new caption")
    assert marat.inbox[-1].caption == "new caption"
    with pytest.raises(BadRequest, match=r"(?i)message to copy not found"):
        await bot.copy_message(marat.id, from_chat_id=aida.id, message_id=999)
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.copy_message(marat.id, from_chat_id=aida.id,
                               message_id=sent["message_id"], caption="😀" * 513)
