"""Retention (issue 8, point 4): a daily timer row anonymises alerts closed more than
QORGAU_RETENTION_DAYS ago. Driven through the real bot over the emulator, on an injected
clock; the database file and its WAL are then read as a thief would read them."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import struct
import time
from pathlib import Path

import pytest

from bot.clock import ManualClock
from emulator import SimUser
from storage import Storage, personal
from storage.crypto import PERSONAL
from tests.harness import (
    ALMATY,
    ASTANA,
    BotProcess,
    World,
    claim,
    data_codec,
    raise_alert,
    rows,
)

DAY = 86400.0
NAME = "Zhuldyzai"  # the reporter's chosen name: must not survive the purge
TEXT = "Kokbazar-backroom-4417"  # what the reporter wrote
NOTE = "Protocol-number-90210"  # the lawyer's note
CLOSING = "Released-at-dawn-5531"  # the lawyer's closing note


def raw_bytes(db: Path | str) -> bytes:
    """The database file and its WAL, as copied off a seized disk. On PostgreSQL: every
    row of every table as the server gives it (its files are the server's, not ours)."""
    if isinstance(db, str):
        from storage.copy import table_order

        return repr([rows(db, f"SELECT * FROM {t}") for t in table_order()]).encode()
    wal = Path(f"{db}-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def readable(db: Path | str) -> bytes:
    """The file and its WAL, and every sealed value opened with the key: what a thief who
    also took the key would read (the purge must leave nothing even then)."""
    opened = [str(v) for table, columns in PERSONAL.items() for column in columns
              for (v,) in rows(db, f"SELECT plain({column}) FROM {table}")]
    return raw_bytes(db) + "\n".join(opened).encode()


def traces(blob: bytes, *texts: str, where: tuple[float, float] = ALMATY) -> list[str]:
    """Which of these personal values (and the position, as text or as SQLite's
    big-endian doubles) can be found in the bytes."""
    found = [s for s in texts if s.encode() in blob]
    for value in where:
        if str(value).encode() in blob or struct.pack(">d", value) in blob:
            found.append(str(value))
    return found


async def closed_case(world: World, lawyer: SimUser) -> tuple[SimUser, int]:
    """A reporter raises an alert, writes, the lawyer claims, notes and closes it."""
    reporter, alert_id = await raise_alert(world, NAME, ALMATY)
    await claim(lawyer, alert_id)
    await reporter.send_text(TEXT)
    await lawyer.wait_for(TEXT)
    await lawyer.send_command("/note", f"{alert_id} {NOTE}")
    await reporter.wait_for(NOTE)
    await lawyer.send_command("/close", f"{alert_id} {CLOSING}")
    choice = await lawyer.wait_for(f"How did case #{alert_id} end?")
    await lawyer.press("released", message=choice)
    await reporter.wait_for(CLOSING)
    await world.drain()
    return reporter, alert_id


async def stats(coordinator: SimUser, days: int) -> str:
    mark = coordinator.mark()
    await coordinator.send_command("/stats", str(days))
    msg = await coordinator.wait_for("still open", after=mark)
    return msg.text or ""


async def test_purge_erases_old_alerts_and_keeps_the_statistics(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    clock = ManualClock(time.time())
    await world.start(clock=clock, retention_days=30)
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty", "Astana"))
    reporter, old = await closed_case(world, marat)
    assert traces(readable(world.db), NAME, TEXT, NOTE, CLOSING)  # the test can see them

    clock.advance(20 * DAY)  # a second reporter: an open alert, never purged
    other, open_id = await raise_alert(world, "Saule", ASTANA)
    before = await stats(coordinator, 60)
    assert "2 alerts raised, 1 still open" in before

    clock.advance(10 * DAY + 60)  # the first alert is now 30 days and a minute old
    await world.q.timers.run_due()
    await world.drain()
    await world.q.timers.run_due()  # idempotent: a second run finds nothing to do

    assert await stats(coordinator, 60) == before
    said = [r.getMessage() for r in caplog.records if r.name.startswith("bot")]
    assert "retention purge: 1 alert(s) anonymised, 1 person(s) erased, 0 late message(s) " \
        "redacted" in said  # counts only: the rest were redacted with their alert
    assert not [line for line in said if NAME in line or TEXT in line or NOTE in line]
    assert rows(world.db, "SELECT reporter_id, lat, lon, accuracy_m, located_at, region,"
                " outcome, claimed_by FROM alerts WHERE id = ?", old) == [
        (0, None, None, None, None, "almaty", "released", marat.id)]
    assert rows(world.db, "SELECT COUNT(*) FROM people WHERE user_id = ?", reporter.id) == [(0,)]
    assert rows(world.db, "SELECT COUNT(*) FROM outbox WHERE chat_id = ?", reporter.id) == [(0,)]
    assert rows(world.db, "SELECT COUNT(*) FROM alert_events WHERE alert_id = ? AND"
                " actor_id = ?", old, reporter.id) == [(0,)]
    kinds = [k for (k,) in rows(world.db, "SELECT kind FROM alert_events WHERE alert_id = ?"
                                " ORDER BY id", old)]
    assert kinds[0] == "raised" and kinds[-1] == "erased" and "lawyer_note" in kinds
    # Nothing personal in the file or its WAL, however it is read.
    assert traces(readable(world.db), NAME, TEXT, NOTE, CLOSING) == []
    # The open alert and the second reporter are untouched; the next purge is due tomorrow.
    assert rows(world.db, "SELECT reporter_id, CAST(plain(lat) AS REAL) FROM alerts"
                " WHERE id = ?", open_id) == [(other.id, ASTANA[0])]
    assert rows(world.db, "SELECT due_at FROM timers WHERE kind = 'retention'") == [
        (pytest.approx(clock.now() + DAY),)]
    # The coordinator still reads the anonymous timeline, without the texts.
    mark = coordinator.mark()
    await coordinator.send_command("/case", str(old))
    timeline = await coordinator.wait_for(f"#{old}", after=mark)
    assert "erased" in (timeline.text or "") and TEXT not in (timeline.text or "")

    # Revoking the lawyer later still withdraws the purged alert's card.
    card = next(m for m in marat.inbox if f"🚨 Alert #{old}" in (m.text or ""))
    assert NAME in (card.text or "")
    await coordinator.send_command("/revoke", str(marat.id))
    await coordinator.wait_for("Marat is now a reporter only")
    await world.drain()
    assert card.text == "This message is no longer available."


async def test_a_reporter_with_a_younger_alert_keeps_the_profile(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock, retention_days=30)
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    reporter, old = await closed_case(world, marat)
    clock.advance(20 * DAY)
    mark = reporter.mark()
    await reporter.tap("📍 SOS: send my location", location=ALMATY)
    msg = await reporter.wait_for("received and saved", after=mark)
    young = int((msg.text or "").split("#")[1].split()[0])
    clock.advance(10 * DAY + 60)
    await world.q.timers.run_due()
    assert rows(world.db, "SELECT id, reporter_id FROM alerts ORDER BY id") == [
        (old, 0), (young, reporter.id)]
    assert rows(world.db, "SELECT plain(display_name) FROM people WHERE user_id = ?",
                reporter.id) == [(NAME,)]


async def test_a_purge_killed_half_way_finishes_on_the_next_run(world: World) -> None:
    """Sixty alerts closed forty days ago; the bot, as its own process, starts the overdue
    purge and is killed with SIGKILL as soon as its first batch is committed (or later: the
    moment is the operating system's). The next start finishes the purge, once."""
    count = 60
    await world.start(clock=ManualClock(time.time() - 40 * DAY),
                      unregistered_alerts_per_minute=1000,
                      unregistered_alerts_per_person_per_hour=1000)
    coordinator = await world.register_coordinator()
    for i in range(count):
        reporter = world.emu.user(first_name=f"Reporter{i}")
        await reporter.send_location(*ALMATY)
        await reporter.wait_for("received and saved")
    for alert_id in range(1, count + 1):
        answer = await coordinator.press_data(coordinator.inbox[-1], f"out:{alert_id}:rel")
        assert answer.text is not None and "closed" in answer.text
    await world.drain()
    await world.stop()

    def erased() -> int:
        return int(rows(world.db, "SELECT COUNT(*) FROM alerts WHERE reporter_id = 0")[0][0])

    proc = BotProcess(world)
    proc.start()
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while erased() == 0:
            assert asyncio.get_running_loop().time() < deadline, "the purge never started"
            await asyncio.sleep(0.005)
        proc.kill()
    finally:
        await proc.stop()
    await world.start()
    await world.q.timers.run_due()
    assert erased() == count
    assert rows(world.db, "SELECT COUNT(*) FROM alert_events WHERE kind = 'erased'") == [
        (count,)]  # each alert's erasure recorded once, however the work was split
    assert rows(world.db, "SELECT COUNT(*) FROM people WHERE role = 'reporter'"
                " AND user_id != 0") == [(0,)]
    assert rows(world.db, "SELECT COUNT(*) FROM outbox o JOIN alerts a ON a.id = o.alert_id"
                " WHERE o.redacted = 0 AND o.state != 'pending'") == [(0,)]
    assert rows(world.db, "SELECT due_at > ? FROM timers WHERE kind = 'retention'",
                time.time() + DAY / 2) == [(1,)]


def test_the_timeline_allows_a_redaction_only() -> None:
    """The triggers let a redaction remove fields once, and nothing else."""
    from storage.sqlite import _migrations, _split_sql

    db = sqlite3.connect(":memory:")
    for _, sql in _migrations():
        for statement in _split_sql(sql):
            db.execute(statement)
    db.execute("INSERT INTO alerts (id, reporter_id, created_at) VALUES (1, 0, 0)")
    db.execute("INSERT INTO alert_events (alert_id, at, kind, actor_id, detail)"
               " VALUES (1, 1, 'reporter_text', 7, '{\"text\": \"hi\", \"held\": true}')")
    refused = [
        "UPDATE alert_events SET detail = '{\"text\": \"bye\", \"held\": true}',"
        " redacted_at = 2",  # rewriting a value
        "UPDATE alert_events SET detail = '{\"held\": true}'",  # not recorded as a redaction
        "UPDATE alert_events SET kind = 'x', detail = 'q1.k.x'",  # a re-seal changes no fact
        "UPDATE alert_events SET kind = 'x', detail = '{}', redacted_at = 2",
        "UPDATE alert_events SET actor_id = 8, detail = '{}', redacted_at = 2",
        "UPDATE alert_events SET detail = '{\"held\": true, \"x\": 1}', redacted_at = 2",
        "DELETE FROM alert_events",
    ]
    for sql in refused:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(sql)
    db.execute("UPDATE alert_events SET detail = ?, actor_id = NULL, redacted_at = 2",
               ('{"held": true}',))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):  # once only
        db.execute("UPDATE alert_events SET detail = '{}', redacted_at = 3")
    db.execute("UPDATE alert_events SET detail = 'q1.k.sealed'")  # a re-seal (rotation)


def test_redaction_keeps_only_anonymous_fields() -> None:
    assert personal.redact_detail({"text": "x", "outcome": "released", "lawyer": 5,
                                   "file_id": "f", "caption": "c"}) == {
        "outcome": "released", "lawyer": 5}
    assert personal.redact_payload('{"text": "Aida at 43.2", "copy_of": [1, 2]}') == \
        '{"redacted": true, "copy_of": [0, 0]}'
    assert personal.redact_payload("not json") == '{"redacted": true}'


async def test_an_edit_landing_on_a_redacted_message_is_redacted_again(tmp_path: Path) -> None:
    """A message's edit may land after its alert was anonymised (it was in flight): the
    payload it writes back is redacted by the next purge."""
    storage = Storage(tmp_path / "qorgau.db", data_codec())
    async with storage, storage.transaction() as tx:
        await tx.ensure_person(5, 0.0, "en", "reporter")
        alert = await tx.create_alert(5, 0.0, state="closed", closed_at=1.0)
        row = await tx.enqueue(7, "case", 1, '{"text": "Reporter Aida"}', 0.0, alert_id=alert)
        await tx.mark_sent([row], 99, 1.0)
        assert await tx.anonymise_alert(alert, 2.0) == 5
        assert await tx.anonymise_alert(alert, 3.0) is None  # once
        sent = await tx.outbox_row(row)
        assert sent is not None and sent.payload == '{"redacted": true}'
        await tx.set_payload(row, '{"text": "Reporter Aida, closed"}')  # the edit landed
        assert await tx.redact_sent_payloads(10) == 1
        sent = await tx.outbox_row(row)
        assert sent is not None and sent.payload == '{"redacted": true}'


async def test_messages_in_flight_at_an_erasure_are_blanked_by_the_next_purge(
        tmp_path: Path) -> None:
    """What was still being sent when an alert was anonymised (to its reporter) or a
    person erased: once settled, the next purge leaves nothing of it, not even the chat.
    A message a queued edit still refers to waits until that edit is settled."""
    storage = Storage(tmp_path / "qorgau.db", data_codec())
    async with storage, storage.transaction() as tx:
        for user in (5, 6):
            await tx.ensure_person(user, 0.0, "en", "reporter")
        older = await tx.create_alert(5, 0.0, state="closed", closed_at=1.0)
        await tx.create_alert(5, 1.0)  # a younger, open alert: the reporter stays
        closing = await tx.enqueue(5, "case", 1, '{"text": "Closed, note"}', 1.0,
                                   alert_id=older)
        card = await tx.enqueue(6, "reply", 1, '{"text": "Registered, Saule"}', 1.0)
        await tx.mark_sent([card], 41, 1.0)
        edit = await tx.enqueue(6, "edit", 1, '{"text": "Saule!"}', 1.0, target_id=card)
        assert await tx.anonymise_alert(older, 2.0) == 5
        await tx.erase_person(6)
        await tx.mark_sent([closing], 42, 3.0)  # both land after the erasures
        assert await tx.forget_erased_chats() == 1  # the closing message; the card waits
        await tx.mark_sent([edit], 41, 3.0)
        assert await tx.forget_erased_chats() == 2
        blanked = await tx.outbox_rows([closing, card, edit])
        assert [(r.chat_id, r.payload, r.message_id) for r in blanked] == [
            (0, '{"redacted": true}', None)] * 3
