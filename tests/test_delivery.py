"""Delivery that loses nothing: SIGKILL during a burst, injected faults, a blocked lawyer."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections import Counter

import pytest

from emulator import Emulator, Faults, SimUser
from tests.harness import ALMATY, BotProcess, World, card_for, rows

CARD = re.compile(r"🚨 Alert #(\d+) ·")



def cards_received(emu: Emulator, chat_id: int) -> Counter[int]:
    """How many times each alert's card reached this chat (bundles count for each alert)."""
    seen: Counter[int] = Counter()
    for call in emu.sent(chat_id=chat_id, method="sendMessage"):
        for alert_id in CARD.findall(str(call.params.get("text") or "")):
            seen[int(alert_id)] += 1
    return seen


async def until(predicate: object, within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_sigkill_during_a_burst_loses_nothing(world: World) -> None:
    # Staff registered through the real flows, then the bot runs as its own process.
    await world.start()
    await world.register_coordinator()
    lawyers = [await world.register_lawyer(f"L{i}", ("Almaty",)) for i in range(4)]
    await world.drain()
    await world.stop()

    # The reporters never registered: lift the limit on their alerts, which would hold
    # some when a slow restart lets them all land in one process's minute.
    proc = BotProcess(world, QORGAU_UNREGISTERED_ALERTS_PER_MINUTE="1000")
    proc.start()
    reporters = [world.emu.user(first_name=f"R{i}") for i in range(24)]
    kills = 3
    rng = random.Random(7)
    kill_after = sorted(rng.sample(range(3, len(reporters) - 2), kills))
    try:
        for i, reporter in enumerate(reporters):
            lat = ALMATY[0] + rng.uniform(-0.05, 0.05)
            await reporter.send_location(lat, ALMATY[1])
            await asyncio.sleep(rng.uniform(0.02, 0.15))
            if i in kill_after:
                await asyncio.sleep(rng.uniform(0.0, 0.3))
                proc.kill()
                proc.start()

        def everyone_has_everything() -> bool:
            return all(len(cards_received(world.emu, law.id)) == len(reporters)
                       for law in lawyers) and all(
                any("received and saved" in (m.text or "") for m in r.inbox)
                for r in reporters)

        await until(everyone_has_everything, 90, "every card and every confirmation")
    finally:
        await proc.stop()

    # Every alert present, once per reporter; every on-call lawyer told of each.
    assert rows(world.db, "SELECT COUNT(*), COUNT(DISTINCT reporter_id) FROM alerts") == [
        (len(reporters), len(reporters))]
    for law in lawyers:
        counts = cards_received(world.emu, law.id)
        assert len(counts) == len(reporters)
        assert max(counts.values()) <= 1 + kills, counts
    for r in reporters:
        confirmations = sum("received and saved" in (m.text or "") for m in r.inbox)
        assert 1 <= confirmations <= 1 + kills
    assert b"Traceback" not in proc.log.read_bytes()


async def test_twenty_percent_faults_deliver_everything_once(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    group = await world.connect_group()
    lawyers = [await world.register_lawyer(f"L{i}", ("Almaty",)) for i in range(3)]
    await world.drain()
    world.emu.faults = Faults(rate=0.2, kinds=("429", "500", "drop"), seed=11)
    reporters = [world.emu.user(first_name=f"R{i}") for i in range(10)]
    for r in reporters:
        await r.send_location(*ALMATY)

    def delivered() -> bool:
        return all(len(cards_received(world.emu, law.id)) == len(reporters)
                   for law in lawyers) and all(
            any("received and saved" in (m.text or "") for m in r.inbox) for r in reporters)

    await until(delivered, 60, "all cards through 20% faults")
    assert await world.q.worker.drain(60)
    assert world.emu.stats["faults_injected"] > 0
    for law in lawyers:
        assert set(cards_received(world.emu, law.id).values()) == {1}
    for r in reporters:
        assert sum("received and saved" in (m.text or "") for m in r.inbox) == 1
    notices = " ".join(m.text or "" for m in group.inbox)
    assert all(f"Alert #{i}" in notices for i in range(1, len(reporters) + 1))
    assert rows(world.db, "SELECT COUNT(*) FROM outbox WHERE state = 'failed'") == [(0,)]


async def test_blocked_lawyer_is_reported_and_the_alert_rerouted(world: World) -> None:
    await world.start()
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    ali = await world.register_lawyer("Ali", ("Astana",))
    await world.drain()
    world.emu.block(marat)
    reporter = await world.register_reporter("Aida")
    await reporter.tap("📍 SOS: send my location", location=ALMATY)
    await reporter.wait_for("received and saved")
    await coordinator.wait_for("Marat cannot be reached")
    await card_for(ali, 1)  # routed on to the next people
    await card_for(coordinator, 1)
    kinds = [k for (k,) in rows(world.db, "SELECT kind FROM alert_events ORDER BY id")]
    assert "undeliverable" in kinds
    assert rows(world.db, "SELECT on_call FROM people WHERE user_id = ?", marat.id) == [(0,)]


async def test_received_answer_lost_in_a_kill_arrives_after_restart(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    await world.register_lawyer("Marat", ("Almaty",))
    await world.drain()
    await world.stop()
    proc = BotProcess(world)
    proc.start()
    try:
        reporter: SimUser = world.emu.user(first_name="Aida")
        # The Bot API is too slow to answer now: the process dies before the answer lands.
        world.emu.faults = Faults(rate=1.0, kinds=("slow",), slow_seconds=5.0,
                                  methods={"sendMessage"})
        await reporter.send_location(*ALMATY)
        await until(lambda: rows(world.db, "SELECT COUNT(*) FROM alerts") == [(1,)], 20,
                    "the alert to be committed")
        await asyncio.sleep(0.5)
        proc.kill()
        world.emu.faults = None
        assert not any("received and saved" in (m.text or "") for m in reporter.inbox)
        proc.start()
        await reporter.wait_for("received and saved", timeout=30)
    finally:
        await proc.stop()


async def test_a_stop_does_not_wait_for_ever_on_a_send_telegram_never_answers(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    """A stop waits for sends in flight only so long (a send held at a lost leader's fence
    would wait for good); what it abandons stays pending and goes at the next start."""
    await world.start()
    await world.register_coordinator()
    lawyer = await world.register_lawyer("Marat", ("Almaty",))
    await world.drain()
    assert world.runner is not None
    world.runner.stop_sends_within = 0.5
    world.emu.faults = Faults(rate=1.0, kinds=("slow",), slow_seconds=600.0,
                              methods=["sendMessage"])
    reporter = world.emu.user(first_name="Aida")
    await reporter.send_location(*ALMATY)
    await until(lambda: rows(world.db, "SELECT id FROM alerts") != [], 20, "the alert")
    await asyncio.sleep(0.5)  # the pages are now on their way, and Telegram says nothing
    with caplog.at_level(logging.WARNING, logger="bot.delivery.outbox"):
        await world.stop()
    assert "unanswered after" in caplog.text
    assert rows(world.db, "SELECT DISTINCT state FROM outbox WHERE kind = 'alert'") == [
        ("pending",)]
    world.emu.faults = None
    await world.start()
    [(alert_id,)] = rows(world.db, "SELECT id FROM alerts")
    await card_for(lawyer, alert_id)
    await reporter.wait_for("received and saved", timeout=30)
