"""The SMS channel end to end: the real bot over the emulator, and the real gammu-smsd on
Gammu's dummy driver where it is installed (else files written exactly as gammu-smsd writes
them; each test prints which ran). Nothing of ours is mocked."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.domain.sms import phone_number, starts_with
from demo.modem import GAMMU_SMSD, Modem
from emulator import Faults, SimUser
from emulator.state import BotMessage
from storage.crypto import new_key
from tests.harness import ALMATY, TEST_KEY, BotProcess, World, card_for, rows
from tests.test_delivery_limits import until

REPORTER_NUMBER = "+77011234567"
LAWYER_NUMBER = "+77029876543"
STRANGER = "+77770001122"
OTHER_LAWYER = "+77035550199"
PHONE_MESSAGES: dict[int, int] = {}  # the message of each person's last /phone NUMBER


@pytest.fixture
async def modem(tmp_path: Path) -> AsyncIterator[Modem]:
    m = Modem(tmp_path / "gammu")
    print(f"SMS path: {m.what_ran}")
    m.start()
    try:
        yield m
    finally:
        m.stop()


def sms_rows(world: World, kind: str | None = None) -> list[tuple[object, ...]]:
    where = "" if kind is None else f" WHERE kind = '{kind}'"
    return rows(world.db, f"SELECT user_id, alert_id, kind, plain(text), state FROM sms_out"
                          f"{where} ORDER BY id")


async def confirm_number(world: World, user: SimUser, number: str, *extra: str) -> None:
    """/phone NUMBER, then the code the bot sent by SMS (read from its row, as the person
    would read it on their phone), then /phone CODE."""
    before = len(sms_rows(world, "code"))
    mark = user.mark()
    sent = await user.send_text(" ".join(("/phone", number, *extra)))
    PHONE_MESSAGES[user.id] = sent["message_id"]
    await user.wait_for("We sent a code by SMS", after=mark)
    await until(lambda: len(sms_rows(world, "code")) > before, "the code's SMS")
    text = str(sms_rows(world, "code")[-1][3])
    code = text.rsplit(" ", 1)[1]
    mark = user.mark()
    await user.send_text(f"/phone {code}")
    await user.wait_for("Your number is confirmed", after=mark)


async def sms_world(world: World, modem: Modem, clock: ManualClock | None = None,
                    **overrides: object) -> tuple[SimUser, SimUser]:
    """The bot with the modem's folders, a coordinator, Marat (Almaty lawyer) and Aida
    (reporter), both with confirmed numbers."""
    await world.start(clock=clock, **modem.settings(), **overrides)
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    aida = await world.register_reporter("Aida")
    await confirm_number(world, aida, REPORTER_NUMBER)
    await confirm_number(world, marat, LAWYER_NUMBER)
    return marat, aida


def test_numbers_and_code_words_are_read_as_people_type_them() -> None:
    assert phone_number("+7 701 123-45-67") == "+77011234567"
    assert phone_number("87011234567") == "+77011234567"
    assert phone_number("0077011234567") == "+77011234567"
    assert phone_number("12345") is None and phone_number("+7abc") is None
    assert starts_with("sos at the police station", "SOS") == "at the police station"
    assert starts_with("SOS", "SOS") == ""
    assert starts_with("SOSNA", "SOS") is None and starts_with("hello SOS", "SOS") is None


async def test_an_sms_alert_from_a_confirmed_number_is_paged_with_its_text(
        world: World, modem: Modem) -> None:
    marat, aida = await sms_world(world, modem)
    mark = marat.mark()
    modem.receive(REPORTER_NUMBER, "SOS detained near Abay square")
    card = await card_for(marat, 1, after=mark)
    assert "Alert #1" in (card.text or "")
    await until(lambda: sms_rows(world, "received") != [], "the SMS confirmation")
    [(user, alert_id, _, text, _)] = sms_rows(world, "received")
    assert (user, alert_id, text) == (aida.id, 1, "Received (#1). Help is on the way.")
    [(detail,)] = rows(world.db, "SELECT plain(detail) FROM alert_events WHERE kind ="
                                 " 'reporter_text'")
    assert "detained near Abay square" in str(detail)
    await until(lambda: modem.inbox_files() == [], "the inbox file to be removed")
    assert rows(world.db, "SELECT COUNT(*) FROM sms_seen") == [(1,)]
    # The number is sealed at rest, and found by its keyed hash, not in clear.
    raw = rows(world.db, "SELECT number, number_hash FROM phones")
    assert all(REPORTER_NUMBER not in str(r) and LAWYER_NUMBER not in str(r) for r in raw)


async def test_unknown_numbers_and_missing_code_words_do_nothing(
        world: World, modem: Modem) -> None:
    _marat, _aida = await sms_world(world, modem)
    await world.drain()
    before = len(sms_rows(world))
    modem.receive(STRANGER, "SOS help")  # nobody confirmed this number
    modem.receive(REPORTER_NUMBER, "help me please")  # no code word
    modem.receive(REPORTER_NUMBER, "SOSNA")  # not the code word either
    modem.receive(STRANGER, "CLAIM 1")
    await until(lambda: rows(world.db, "SELECT COUNT(*) FROM sms_seen") == [(4,)],
                "the four SMS to be taken in")
    await until(lambda: modem.inbox_files() == [], "the inbox to be emptied")
    await world.drain()
    assert rows(world.db, "SELECT COUNT(*) FROM alerts") == [(0,)]
    assert len(sms_rows(world)) == before  # no answer to anyone


async def test_a_custom_code_word_and_a_second_sms_adds_to_the_open_alert(
        world: World, modem: Modem) -> None:
    await world.start(**modem.settings())
    await world.register_coordinator()
    aida = await world.register_reporter("Aida")
    await confirm_number(world, aida, "+7 701 123 45 67", "kömek")  # as people type it
    modem.receive(REPORTER_NUMBER, "SOS")  # her code word is KÖMEK now
    modem.receive(REPORTER_NUMBER, "Kömek taken to district 3")
    await until(lambda: len(sms_rows(world, "received")) == 1, "one alert's confirmation")
    modem.receive(REPORTER_NUMBER, "KÖMEK still here")
    await until(lambda: rows(world.db, "SELECT COUNT(*) FROM sms_seen") == [(3,)],
                "the three SMS to be taken in")
    assert rows(world.db, "SELECT COUNT(*) FROM alerts") == [(1,)]
    texts = rows(world.db, "SELECT plain(detail) FROM alert_events WHERE kind ="
                           " 'reporter_text' ORDER BY id")
    assert [str(t[0]).count("district 3") for t in texts] == [1, 0]
    assert "still here" in str(texts[1][0])
    assert len(sms_rows(world, "received")) == 1  # one confirmation per alert, not per SMS
    # The message that gave her number and code word was deleted from her chat.
    deleted = {c.params.get("message_id") for c in
               world.emu.sent(chat_id=aida.id, method="deleteMessage")}
    assert PHONE_MESSAGES[aida.id] in deleted


async def test_an_sms_alert_is_raised_once_across_a_kill(world: World, modem: Modem) -> None:
    """The bot is killed with SIGKILL after the SMS alert committed; the inbox file is put
    back as if the kill came between the commit and its removal: still one alert."""
    await sms_world(world, modem)
    await world.drain()
    await world.stop()
    env = {f"QORGAU_{k.upper()}": str(v) for k, v in modem.settings().items()}
    proc = BotProcess(world, **env)
    proc.start()
    try:
        modem.receive(REPORTER_NUMBER, "SOS at the airport")
        await until(lambda: len(modem.inbox_files()) == 1, "gammu-smsd's inbox file")
        [kept] = modem.inbox_files()
        copy = kept.read_bytes()
        await until(lambda: rows(world.db, "SELECT COUNT(*) FROM alerts") == [(1,)],
                    "the alert")
        proc.kill()
        (modem.folders["inbox"] / kept.name).write_bytes(copy)
        proc.start()
        await until(lambda: modem.inbox_files() == [], "the known file to be removed")
        await until(lambda: len(sms_rows(world, "received")) == 1, "the confirmation")
    finally:
        await proc.stop()
    assert rows(world.db, "SELECT COUNT(*) FROM alerts") == [(1,)]
    assert len(sms_rows(world, "received")) == 1
    assert rows(world.db, "SELECT COUNT(*) FROM alert_events WHERE kind = 'sms_received'"
                ) == [(1,)]


async def test_claim_by_sms_claims_and_a_forged_one_does_not(
        world: World, modem: Modem) -> None:
    marat, aida = await sms_world(world, modem)
    other = await world.register_lawyer("Erlan", ("Astana",))  # not paged for Almaty
    await confirm_number(world, other, "+77050000001")
    mark = marat.mark()
    await aida.tap("📍 SOS: send my location", location=ALMATY)
    await card_for(marat, 1, after=mark)
    modem.receive(STRANGER, "CLAIM 1")  # forged: a number nobody confirmed
    modem.receive(REPORTER_NUMBER, "CLAIM 1")  # the reporter's own number
    modem.receive("+77050000001", "CLAIM 1")  # a lawyer who was not paged for it
    await until(lambda: rows(world.db, "SELECT COUNT(*) FROM sms_seen") == [(3,)],
                "the forged claims to be taken in")
    assert rows(world.db, "SELECT state, claimed_by FROM alerts") == [("open", None)]
    await until(lambda: len(sms_rows(world, "answer")) == 1, "Erlan's answer")
    assert sms_rows(world, "answer")[0][3] == "Sorry, this button is not for you."
    mark = marat.mark()
    modem.receive(LAWYER_NUMBER, "claim 1")
    await marat.wait_for("You hold case #1", after=mark)
    assert rows(world.db, "SELECT state, claimed_by FROM alerts") == [("claimed", marat.id)]
    await until(lambda: len(sms_rows(world, "answer")) == 2, "Marat's answer")
    assert sms_rows(world, "answer")[1][:4] == (marat.id, 1, "answer", "Alert #1 is yours.")
    await aida.wait_for("has taken your case")


async def test_paging_falls_back_to_sms_when_telegram_is_down(
        world: World, modem: Modem) -> None:
    clock = ManualClock()
    marat, _aida = await sms_world(world, modem, clock, sms_unreachable_seconds=60)
    await world.drain()
    world.emu.faults = Faults(rate=1.0, kinds=("500",))  # Telegram takes no message
    modem.receive(REPORTER_NUMBER, "SOS")
    await until(lambda: rows(world.db, "SELECT COUNT(*) FROM alerts") == [(1,)], "the alert")
    await asyncio.sleep(0.3)  # timer and gateway passes: the card is not late yet
    assert sms_rows(world, "page") == []
    clock.advance(61)
    await until(lambda: len(sms_rows(world, "page")) == 1, "the SMS page")
    [(user, alert_id, _, text, _)] = sms_rows(world, "page")
    assert user == marat.id and alert_id == 1
    assert str(text).startswith("Alert #1, Almaty, ") and "CLAIM 1" in str(text)
    clock.advance(600)  # the next wave pages him again in Telegram: no second SMS page
    await asyncio.sleep(0.3)
    assert len(sms_rows(world, "page")) == 1
    modem.receive(LAWYER_NUMBER, "ACK 1")
    await until(lambda: rows(world.db, "SELECT state FROM alerts") == [("acknowledged",)],
                "the acknowledgement by SMS")


async def test_a_delivered_page_nobody_acknowledges_falls_back_to_sms(
        world: World, modem: Modem) -> None:
    clock = ManualClock()
    marat, aida = await sms_world(world, modem, clock, sms_unreachable_seconds=60,
                                  sms_unacknowledged_seconds=300)
    mark = marat.mark()
    await aida.tap("📍 SOS: send my location", location=ALMATY)
    await card_for(marat, 1, after=mark)  # Telegram works: the card arrived
    await world.drain()
    clock.advance(120)  # past the unreachable time, but the card was delivered
    await asyncio.sleep(0.3)
    assert sms_rows(world, "page") == []
    clock.advance(181)  # nobody acknowledged within 300 s
    await until(lambda: len(sms_rows(world, "page")) == 1, "the SMS page")


async def test_no_sms_page_when_telegram_works_and_the_lawyer_answers(
        world: World, modem: Modem) -> None:
    clock = ManualClock()
    marat, aida = await sms_world(world, modem, clock, sms_unreachable_seconds=60)
    mark = marat.mark()
    await aida.tap("📍 SOS: send my location", location=ALMATY)
    card = await card_for(marat, 1, after=mark)
    await marat.press("Acknowledge #1", message=card)
    await until(lambda: rows(world.db, "SELECT state FROM alerts") == [("acknowledged",)],
                "the acknowledgement")
    clock.advance(3600)
    await asyncio.sleep(0.3)
    assert sms_rows(world, "page") == []


async def test_no_personal_value_in_any_outgoing_sms_file(world: World, tmp_path: Path) -> None:
    """Every SMS file gammu-smsd was handed (kept after sending) or that waits for it: no
    name, no position, no note; pages say alert number, region and time."""
    modem = Modem(tmp_path / "gammu", keep_sent=True)
    print(f"SMS path: {modem.what_ran}")
    modem.start()
    try:
        clock = ManualClock()
        _marat, _aida = await sms_world(world, modem, clock, sms_unreachable_seconds=60)
        await world.drain()
        world.emu.faults = Faults(rate=1.0, kinds=("500",))
        modem.receive(REPORTER_NUMBER, "SOS Aida held at Abay 12 by officer Nurlan")
        await until(lambda: rows(world.db, "SELECT COUNT(*) FROM alerts") == [(1,)], "alert")
        clock.advance(61)
        await until(lambda: len(sms_rows(world, "page")) == 1, "the page")
        modem.receive(LAWYER_NUMBER, "CLAIM 1")
        await until(lambda: len(sms_rows(world, "answer")) == 1, "the answer")
        await until(lambda: len(modem.outgoing()) == len(sms_rows(world)), "every SMS file")
    finally:
        modem.stop()
    files = modem.outgoing()
    texts = [text for _, text in files]
    assert any(t.startswith("Alert #1, Almaty, ") for t in texts)
    for name, text in files:
        for personal in ("Aida", "Marat", "Abay", "Nurlan", "held", "43.", "76."):
            assert personal not in text and personal not in name


async def test_a_failed_send_is_retried_then_coordinators_are_told(
        world: World, tmp_path: Path) -> None:
    modem = Modem(tmp_path / "gammu", real=False)  # the dummy driver never fails a send
    clock = ManualClock()
    await world.start(clock=clock, **modem.settings(), sms_retries=1, sms_retry_seconds=30)
    coordinator = await world.register_coordinator()
    aida = await world.register_reporter("Aida")
    mark = aida.mark()
    await aida.send_text(f"/phone {REPORTER_NUMBER}")
    await aida.wait_for("We sent a code", after=mark)
    await until(lambda: len(modem.fail_sending()) == 1, "the code's file, refused")
    # (its attempt counted: a row still 'pending' because its file was refused before the
    # bot recorded it 'queued' is not the retry yet, and a retry planned after the clock
    # moved would wait for a time this frozen clock never reaches)
    await until(lambda: rows(world.db, "SELECT state, attempts FROM sms_out WHERE "
                             "kind = 'code'")[0] == ("pending", 1), "the retry to be planned")
    clock.advance(31)
    await until(lambda: len(modem.fail_sending()) == 1, "the second attempt, refused")
    mark = coordinator.mark()
    await until(lambda: sms_rows(world, "code")[0][4] == "failed", "the failure")
    told = await coordinator.wait_for("could not be sent", after=mark)
    assert "Aida" in (told.text or "") and REPORTER_NUMBER not in (told.text or "")


async def test_outgoing_sms_keep_to_the_rate(world: World, tmp_path: Path) -> None:
    modem = Modem(tmp_path / "gammu", real=False)
    clock = ManualClock()
    await world.start(clock=clock, **modem.settings(), sms_per_minute=2)
    users = [await world.register_reporter(name) for name in ("Aida", "Bota", "Dana")]
    for i, user in enumerate(users):
        mark = user.mark()
        await user.send_text(f"/phone +7701000000{i}")
        await user.wait_for("We sent a code", after=mark)
    await until(lambda: len(modem.outgoing()) == 2, "two SMS files")
    await asyncio.sleep(0.3)
    assert len(modem.outgoing()) == 2
    clock.advance(61)
    await until(lambda: len(modem.outgoing()) == 3, "the third, a minute later")


async def test_phone_commands_answer_bad_input_and_erasure_removes_the_number(
        world: World, modem: Modem) -> None:
    await world.start(**modem.settings())
    await world.register_coordinator()
    aida = await world.register_reporter("Aida")

    async def answer(text: str) -> str:
        mark = aida.mark()
        await aida.send_text(text)
        return (await aida.wait_for(after=mark)).text or ""

    assert "Use /phone +77011234567" in await answer("/phone 12345")
    assert "No code is waiting" in await answer("/phone 123456")
    assert "A code word is one word" in await answer("/phone +77011234567 x")
    assert "Use /phone" in await answer("/phone +7 701 12 word more")
    assert "We sent a code" in await answer(f"/phone {REPORTER_NUMBER}")
    assert "less than a minute" in await answer(f"/phone {REPORTER_NUMBER}")
    assert "not right" in await answer("/phone 000000")
    await world.drain()
    await world.drain()
    assert "cannot be undone" in await answer("/forget")
    confirm = aida.inbox[-1]
    mark = aida.mark()
    await aida.press(confirm.buttons[0], message=confirm)
    await aida.wait_for("erased", after=mark)
    assert rows(world.db, "SELECT COUNT(*) FROM phones") == [(0,)]


@pytest.mark.skipif(GAMMU_SMSD is None, reason="gammu-smsd is not installed (Debian package "
                                               "gammu-smsd; .ci/run installs it)")
async def test_gammu_smsd_really_runs_here(tmp_path: Path) -> None:
    """Guards the claim that the tests above ran through the real daemon where it exists."""
    modem = Modem(tmp_path / "gammu")
    assert modem.real and shutil.which("gammu-smsd")
    modem.start()
    try:
        modem.receive(STRANGER, "hello")
        await until(lambda: len(modem.inbox_files()) == 1, "gammu-smsd's inbox file")
    finally:
        modem.stop()


async def test_the_sms_demo_plays_through(capsys: pytest.CaptureFixture[str]) -> None:
    from demo.sms import play

    assert await play() == 0
    out = capsys.readouterr().out
    assert "bot -> SMS to Aida: Received (#1)" in out
    assert "bot -> SMS to Marat: Alert #1, Almaty," in out
    assert "bot -> SMS to Marat: Alert #1 is yours." in out
    assert "bot -> Marat (Telegram): You hold case #1." in out


async def test_a_number_is_still_found_after_the_data_key_is_rotated(
        world: World, modem: Modem) -> None:
    """Numbers are looked up by a hash keyed from the data key: rotate-key hashes again."""
    from tests.test_encryption import qorgau

    await sms_world(world, modem)
    await world.drain()
    await world.stop()
    new = new_key()
    done = qorgau("rotate-key", cwd=world.tmp, QORGAU_DATABASE=str(world.db),
                  QORGAU_DATA_KEY=new, QORGAU_DATA_KEY_OLD=TEST_KEY)
    assert done.returncode == 0, done.stderr
    assert REPORTER_NUMBER not in done.stdout + done.stderr
    await world.start(data_key=new)
    modem.receive(REPORTER_NUMBER, "SOS")
    await until(lambda: rows(world.db, "SELECT COUNT(*) FROM sms_seen") == [(1,)],
                "the SMS")
    assert len(rows(world.db, "SELECT id FROM alerts")) == 1


async def test_a_flood_of_commands_gets_one_answer_and_pages_go_first(
        world: World, tmp_path: Path) -> None:
    modem = Modem(tmp_path / "gammu", real=False)
    clock = ManualClock()
    _marat, aida = await sms_world(world, modem, clock, sms_per_minute=1,
                                   sms_unreachable_seconds=30)
    clock.advance(61)  # the codes' minute is over: the second code goes
    await until(lambda: len(modem.outgoing()) == 2, "both codes")
    for _ in range(5):
        modem.receive(LAWYER_NUMBER, "ack")  # no number: answered with how to answer
    await until(lambda: rows(world.db, "SELECT COUNT(*) FROM sms_seen") == [(5,)], "the flood")
    states = [r[4] for r in sms_rows(world, "answer")]
    assert states == ["superseded"] * 4 + ["pending"]  # this minute's SMS is spent
    world.emu.faults = Faults(rate=1.0, kinds=("500",))
    await aida.tap("📍 SOS: send my location", location=ALMATY)
    await until(lambda: rows(world.db, "SELECT COUNT(*) FROM alerts") == [(1,)], "the alert")
    clock.advance(31)  # the card is late: a page, waiting behind the answer
    await until(lambda: len(sms_rows(world, "page")) == 1, "the page")
    assert len(modem.outgoing()) == 2
    clock.advance(30)  # the next minute's one SMS: the page, before the older answer
    await until(lambda: len(modem.outgoing()) == 3, "the next SMS file")
    assert [text for _, text in modem.outgoing() if text.startswith("Alert #1,")] != []
    assert [r[4] for r in sms_rows(world, "answer")][-1] == "pending"


async def test_always_pages_by_sms_at_once_and_an_unconfirmed_number_counts_for_nothing(
        world: World, modem: Modem) -> None:
    marat, aida = await sms_world(world, modem)
    mark = marat.mark()
    await marat.send_text("/phone sms always")
    await marat.wait_for("SMS pages: always.", after=mark)
    bota = await world.register_reporter("Bota")
    mark = bota.mark()
    await bota.send_text(f"/phone {STRANGER}")  # never confirmed
    await bota.wait_for("We sent a code", after=mark)
    modem.receive(STRANGER, "SOS")
    await until(lambda: rows(world.db, "SELECT COUNT(*) FROM sms_seen") == [(1,)], "the SMS")
    assert rows(world.db, "SELECT COUNT(*) FROM alerts") == [(0,)]
    mark = marat.mark()
    await aida.tap("📍 SOS: send my location", location=ALMATY)  # Telegram works
    await card_for(marat, 1, after=mark)
    await until(lambda: len(sms_rows(world, "page")) == 1, "the SMS page at once")
    await world.drain()
    assert len(sms_rows(world, "page")) == 1


async def test_the_retention_purge_takes_an_alerts_sms_and_its_reporters_number(
        world: World, modem: Modem) -> None:
    clock = ManualClock()
    marat, aida = await sms_world(world, modem, clock)
    modem.receive(REPORTER_NUMBER, "SOS")
    await card_for(marat, 1)
    modem.receive(LAWYER_NUMBER, "CLAIM 1")
    await marat.wait_for("You hold case #1")
    await until(lambda: len(sms_rows(world, "answer")) == 1, "the answer by SMS")
    await marat.send_command("/close", "1 released")
    choice = await marat.wait_for("How did case #1 end?")
    await marat.press("released", message=choice)
    await world.drain()
    assert rows(world.db, "SELECT COUNT(*) FROM sms_out WHERE alert_id = 1") == [(2,)]
    clock.advance(31 * 86400.0)
    await until(lambda: rows(world.db, "SELECT reporter_id FROM alerts") == [(0,)],
                "the purge")
    assert rows(world.db, "SELECT COUNT(*) FROM sms_out WHERE alert_id = 1") == [(0,)]
    assert rows(world.db, "SELECT user_id FROM phones") == [(marat.id,)]  # hers is gone
    assert rows(world.db, "SELECT COUNT(*) FROM sms_out WHERE user_id = ?", aida.id) == [(0,)]


async def page_one_of_two(world: World, modem: Modem, clock: ManualClock,
                          **overrides: object) -> tuple[SimUser, SimUser, BotMessage]:
    """Marat and Ruslan (both Almaty lawyers with confirmed numbers) paged for Aida's alert
    #1 in Telegram; Ruslan, who does nothing, shows when SMS pages are due."""
    marat, aida = await sms_world(world, modem, clock, **overrides)
    ruslan = await world.register_lawyer("Ruslan", ("Almaty",))
    await confirm_number(world, ruslan, OTHER_LAWYER)
    mark = marat.mark()
    await aida.tap("📍 SOS: send my location", location=ALMATY)
    card = await card_for(marat, 1, after=mark)
    await world.drain()
    return marat, ruslan, card


@pytest.mark.parametrize("leaves", ["declines", "is revoked"])
async def test_no_sms_page_to_a_lawyer_who_declined_or_was_revoked(
        world: World, modem: Modem, leaves: str) -> None:
    clock = ManualClock()
    marat, ruslan, card = await page_one_of_two(
        world, modem, clock, sms_unreachable_seconds=60, sms_unacknowledged_seconds=60)
    if leaves == "declines":
        await marat.press_data(card, "decl:1:busy")
        await until(lambda: rows(world.db, "SELECT COUNT(*) FROM alert_events WHERE kind ="
                                 " 'declined'") == [(1,)], "the decline")
    else:
        await world.coordinator.send_command("/revoke", str(marat.id))
        await world.coordinator.wait_for("Marat is now a reporter only")
    await world.drain()
    clock.advance(61)  # nobody acknowledged: SMS pages are due
    await until(lambda: len(sms_rows(world, "page")) >= 1, "Ruslan's SMS page")
    await world.drain()
    assert [r[0] for r in sms_rows(world, "page")] == [ruslan.id]


@pytest.mark.parametrize("leaves", ["declines", "is revoked"])
async def test_an_sms_page_waiting_for_a_lawyer_who_declined_or_was_revoked_never_goes_out(
        world: World, tmp_path: Path, leaves: str) -> None:
    """Files only (nobody sends the outbox), four SMS a minute: after the three codes,
    Marat's page is written to the outbox and Ruslan's waits; Marat declines or is revoked:
    his file is taken back, his row cancelled, and Ruslan's page still goes out."""
    clock = ManualClock()
    modem = Modem(tmp_path / "gammu", real=False)
    marat, aida = await sms_world(world, modem, clock, sms_per_minute=4)
    ruslan = await world.register_lawyer("Ruslan", ("Almaty",))
    await confirm_number(world, ruslan, OTHER_LAWYER)
    for lawyer in (marat, ruslan):
        mark = lawyer.mark()
        await lawyer.send_text("/phone sms always")
        await lawyer.wait_for("SMS pages: always.", after=mark)
    mark = marat.mark()
    await aida.tap("📍 SOS: send my location", location=ALMATY)
    card = await card_for(marat, 1, after=mark)
    outbox = modem.folders["outbox"]

    def pages() -> list[tuple[object, ...]]:
        return [(r[0], r[4]) for r in sms_rows(world, "page")]

    def page_files() -> list[str]:
        ids = [f"_q{r[0]}.txt" for r in rows(world.db, "SELECT id FROM sms_out WHERE kind ="
                                                        " 'page' ORDER BY id")]
        return sorted(p.name for p in outbox.iterdir() if p.name.endswith(tuple(ids)))

    await until(lambda: pages() == [(marat.id, "queued"), (ruslan.id, "pending")],
                "Marat's page written, Ruslan's waiting")
    [marats] = page_files()
    assert LAWYER_NUMBER in marats
    if leaves == "declines":
        await marat.press_data(card, "decl:1:busy")
    else:
        await world.coordinator.send_command("/revoke", str(marat.id))
        await world.coordinator.wait_for("Marat is now a reporter only")
    await until(lambda: page_files() == [], "Marat's page taken back")
    clock.advance(61)
    await until(lambda: pages() == [(marat.id, "cancelled"), (ruslan.id, "queued")],
                "Ruslan's page written")
    [ruslans] = page_files()
    assert OTHER_LAWYER in ruslans


async def test_bad_files_in_the_sms_inbox_are_moved_aside_and_the_rest_taken_in(
        world: World, modem: Modem, caplog: pytest.LogCaptureFixture) -> None:
    """A folder, a file whose name is not UTF-8, and a huge file in the inbox: each is
    moved to ``rejected`` (0700) or read only in part, the good SMS beside them raises its
    alert, and no log line holds a digit of their numbers."""
    caplog.set_level(logging.DEBUG)
    await sms_world(world, modem)
    inbox = modem.folders["inbox"]
    (inbox / "IN20000101_000000_00_+77055512345_00.txt").mkdir()
    (inbox / os.fsdecode(b"IN20000101_000001_00_+7705\xff5512346_00.txt")).write_bytes(b"SOS")
    (inbox / "IN20000101_000002_00_+77055512347_00.txt").write_bytes(b"x" * 10**6)
    modem.receive(REPORTER_NUMBER, "SOS detained")
    await until(lambda: rows(world.db, "SELECT COUNT(*) FROM alerts") == [(1,)], "the alert")
    await until(lambda: os.listdir(inbox) == [], "the inbox emptied")
    rejected = inbox.parent / "rejected"
    assert len(os.listdir(rejected)) == 2
    assert rejected.stat().st_mode & 0o777 == 0o700
    await world.drain()
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "705551234" not in logged and "5512346" not in logged
    assert "could not be read (IsADirectoryError)" in logged


async def test_a_failing_gateway_pass_logs_the_error_type_and_no_path(
        world: World, modem: Modem, caplog: pytest.LogCaptureFixture) -> None:
    """Paths name phone numbers (OUT..._<number>_q5.txt): the gateway logs only the type."""
    caplog.set_level(logging.DEBUG)
    await sms_world(world, modem)
    outbox = modem.folders["outbox"]
    shutil.rmtree(outbox)
    outbox.write_bytes(b"")  # every pass now fails on the outbox
    await until(lambda: "pass failed (NotADirectoryError)" in caplog.text, "a failed pass")
    assert str(outbox) not in caplog.text and "Traceback" not in caplog.text
    outbox.unlink()
    outbox.mkdir()
