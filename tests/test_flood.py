"""Floods cannot delay or bury a real alert: alerts go first in a batch, one person's flood
is stored without an answer and a forward per message, answers to a flood are merged, and
alerts from people who never registered page lawyers only within a limit."""

from __future__ import annotations

import time

from bot.domain import notify
from bot.domain.flood import SlidingCounter
from bot.domain.messages import PRIORITY_ALERT, Outgoing
from emulator import SimUser
from tests.harness import ALMATY, World, claim, raise_alert, rows

SOS_NO_LOCATION = "🆘 Alert without location"


def texts(user: SimUser, marker: str, without: str = "\0") -> list[str]:
    return [m.text or "" for m in user.inbox if marker in (m.text or "")
            and without not in (m.text or "")]


async def test_an_alert_is_handled_before_the_rest_of_its_batch(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    await world.register_lawyer("Marat", ("Almaty",))
    aida = await world.register_reporter("Aida")
    await world.drain()
    ((before,),) = rows(world.db, "SELECT MAX(id) FROM outbox")
    # All of it queued before the bot's next getUpdates: one batch, the alert last.
    crowd = [world.emu.user(first_name=f"New{i}") for i in range(60)]
    for person in crowd:
        await person.send_command("/start")
    await aida.send_location(*ALMATY)
    await aida.wait_for("received and saved")
    await world.drain()
    # (a delivered answer's row keeps nothing of its text: found by chat and order)
    received = rows(world.db, "SELECT MIN(id) FROM outbox WHERE chat_id = ? AND id > ?",
                    aida.id, before)[0][0]
    welcomes = [i for (i,) in rows(world.db, "SELECT id FROM outbox WHERE chat_id != ? AND"
                                             " kind = 'reply' AND id > ?", aida.id, before)]
    assert len(welcomes) == len(crowd)
    assert received < min(welcomes)  # committed before anything else of the batch


async def test_a_flood_is_stored_but_not_forwarded_one_by_one(world: World) -> None:
    await world.start(flood_quiet_seconds=1.0)
    await world.register_coordinator()
    lawyer = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    await claim(lawyer, alert_id)
    await world.drain()
    limit = 20  # QORGAU_FLOOD_MESSAGES_PER_MINUTE's default
    n = 3 * limit
    for i in range(n):
        await reporter.send_text(f"flood-{i}")
    summary = await lawyer.wait_for("in a short time", timeout=20)
    await reporter.wait_for("in a short time", timeout=20)
    await world.drain()
    # Every message is on the timeline; the lawyer got at most the limit one by one, then
    # one summary quoting the latest.
    assert rows(world.db, "SELECT COUNT(*) FROM alert_events WHERE kind = 'reporter_text'"
                ) == [(n,)]
    forwarded = texts(lawyer, "flood-", without="in a short time")
    assert len(forwarded) <= limit
    assert f"flood-{n - 1}" in (summary.text or "")
    answers = texts(reporter, "Sent to your lawyer")
    assert len(answers) <= limit
    assert rows(world.db, "SELECT COUNT(*) FROM timers WHERE kind = 'flood_summary'") == [(0,)]


async def test_answers_to_one_chat_are_merged_not_queued_by_the_thousand(
        world: World) -> None:
    await world.start()
    keep = 3  # QORGAU_REPLY_BACKLOG_PER_CHAT's default
    async with world.q.svc.step() as tx:
        now = world.q.svc.now()
        for i in range(50):
            await notify.send(tx, 4242, Outgoing(f"answer {i}"), now)
        await notify.send(tx, 4242, Outgoing("received"), now, priority=PRIORITY_ALERT)
    pending = rows(world.db, "SELECT plain(payload) FROM outbox WHERE chat_id = 4242 AND"
                             " state = 'pending' ORDER BY id")
    assert len(pending) <= keep + 1  # the newest answers, and the alert's, never dropped
    assert "answer 49" in pending[-2][0] and "received" in pending[-1][0]


async def test_fake_alerts_from_unregistered_people_cannot_bury_a_real_one(
        world: World) -> None:
    await world.start(unregistered_alerts_per_minute=3)
    coordinator = await world.register_coordinator()
    lawyer = await world.register_lawyer("Marat", ("Almaty",))
    aida = await world.register_reporter("Aida")
    await world.drain()
    ((before,),) = rows(world.db, "SELECT MAX(id) FROM outbox")
    fakes = [world.emu.user(first_name=f"Fake{i}") for i in range(8)]
    for fake in fakes:
        await fake.send_text(SOS_NO_LOCATION)
    await aida.send_location(*ALMATY)
    await aida.wait_for("received and saved")
    for fake in fakes:
        await fake.wait_for("received and saved")
    await coordinator.wait_for("never registered")
    await world.drain()
    assert rows(world.db, "SELECT COUNT(*) FROM alerts") == [(len(fakes) + 1,)]
    paged = {a for (a,) in rows(world.db, "SELECT DISTINCT alert_id FROM outbox WHERE"
                                          " chat_id = ? AND kind = 'alert'", lawyer.id)}
    real = rows(world.db, "SELECT id FROM alerts WHERE reporter_id = ?", aida.id)[0][0]
    assert real in paged and len(paged) == 3 + 1  # the limit, and the real one
    assert rows(world.db, "SELECT COUNT(*) FROM alert_events WHERE kind = 'held'") == [(5,)]
    assert len(texts(coordinator, "never registered")) == 1  # told once
    # Cards say who is unregistered; a registered reporter's cards and answer go first.
    cards = " ".join(texts(lawyer, "Reporter:"))
    assert "an unregistered reporter" in cards and "Reporter: “Aida”" in cards
    priorities = dict(rows(world.db, "SELECT alert_id, MIN(priority) FROM outbox WHERE"
                                     " chat_id = ? AND kind = 'alert' GROUP BY alert_id",
                           lawyer.id))
    assert priorities[real] < min(p for a, p in priorities.items() if a != real)
    assert rows(world.db, "SELECT priority FROM outbox WHERE chat_id = ? AND id > ?",
                aida.id, before) == [(PRIORITY_ALERT,)]


def test_sliding_counter_admits_the_limit_per_window() -> None:
    counter = SlidingCounter(limit=3, window=60.0)
    assert [counter.admit(7, t) for t in (0.0, 1.0, 2.0, 3.0)] == [True, True, True, False]
    assert counter.admit(8, 3.0)  # per person
    assert not counter.admit(7, 59.9)
    assert counter.admit(7, 60.5)  # the first one aged out of the minute


async def test_a_coordinator_over_the_common_limit_is_not_held(world: World) -> None:
    """Staff were invited: a busy coordinator's order (here, revoking a lawyer whose phone
    was seized) is carried out even after more messages in a minute than a reporter may."""
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    await world.drain()
    for _ in range(30):  # over QORGAU_FLOOD_MESSAGES_PER_MINUTE's default of 20
        await coordinator.send_command("/open")
    mark = coordinator.mark()
    await coordinator.send_command("/revoke", str(marat.id))
    await coordinator.wait_for("Marat is now a reporter only", after=mark, timeout=20)
    assert rows(world.db, "SELECT role FROM people WHERE user_id = ?", marat.id) == [
        ("reporter",)]


async def test_a_backlog_read_at_once_after_an_outage_is_not_a_flood(world: World) -> None:
    """Messages are counted by when Telegram stamped them, not when the bot reads them:
    after an outage or a failover a coordinator's orders of the last minutes arrive in
    one batch, and must not be held as a flood (held, a /revoke would never be carried
    out). Here 130 commands, one a second (within the allowance at that pace), wait for
    the bot together with the /revoke after them; read at once, they are 131 in a second,
    past the staff allowance of 120."""
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    await world.drain()
    await world.stop()
    now = time.time()
    for i in range(130):
        await coordinator.send_text("/open", date=now - 130 + i)
    mark = coordinator.mark()
    await coordinator.send_command("/revoke", str(marat.id))
    await world.start()
    await coordinator.wait_for("Marat is now a reporter only", after=mark, timeout=30)
    assert rows(world.db, "SELECT COUNT(*) FROM held_input") == [(0,)]


async def test_a_seized_lawyers_phone_flooding_the_bot_is_held_too(world: World) -> None:
    """Staff have a larger allowance, not none: past it, a lawyer's messages are held like
    anyone's (stored and summarised, not handled one by one), so a seized phone cannot
    keep the bot busy in front of a real alert."""
    await world.start(flood_quiet_seconds=0.5)
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    await world.drain()
    limit, factor = 20, 6  # the setting's default, and flood.STAFF_FACTOR
    for i in range(factor * limit + 80):
        await marat.send_text(f"spam-{i}")
    summary = await marat.wait_for("in a short time", timeout=30)
    assert summary.text is not None
    held = int((summary.text.split("You sent ")[1]).split()[0])
    # the registration's own messages fall in the same minute, so a few more are held
    assert 80 <= held <= 80 + 5, summary.text
