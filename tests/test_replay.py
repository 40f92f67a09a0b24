"""Exactly-once effects across a crash: an update whose effects were committed is not
processed again when Telegram hands it a second time (its offset was never confirmed)."""

from __future__ import annotations

import asyncio
import time

from emulator import Faults, SimUser
from tests.harness import ALMATY, BotProcess, World, claim, raise_alert, rows
from tests.test_delivery import until


def count(user: SimUser, marker: str) -> int:
    return sum(marker in (m.text or "") for m in user.inbox)


async def test_updates_processed_before_a_kill_are_not_repeated(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    lawyer = await world.register_lawyer("Marat", ("Almaty",))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    await claim(lawyer, alert_id)
    await world.drain()
    await world.stop()

    proc = BotProcess(world)
    began = time.monotonic()
    proc.start()
    try:
        # Once the new process is waiting in its long poll, every later getUpdates fails:
        # the batch below is handed to it once and its offset is never confirmed.
        await until(lambda: any(c.method == "getUpdates" and c.status == 0 and c.time > began
                                for c in world.emu.calls), 30, "the bot's first long poll")
        world.emu.faults = Faults(rate=1.0, kinds=("500",), methods={"getUpdates"})
        texts = [f"update-{i}" for i in range(5)]
        notes = [f"note-{i}" for i in range(2)]
        for text in texts:
            await reporter.send_text(text)
        for note in notes:
            await lawyer.send_command("/note", f"{alert_id} {note}")

        def all_delivered() -> bool:
            return (all(count(lawyer, x) for x in texts)
                    and all(count(reporter, x) for x in notes)
                    and rows(world.db, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
                    == [(0,)])

        await until(all_delivered, 30, "the batch's effects to be delivered")
        assert world.emu.updates_pending() == len(texts) + len(notes)  # never confirmed
        proc.kill()  # nothing in flight: a restart must send nothing again
        world.emu.faults = None
        proc.start()
        await until(lambda: world.emu.updates_pending() == 0, 30, "the replay to be confirmed")
        await asyncio.sleep(1.0)  # anything repeated would be on its way by now
    finally:
        await proc.stop()

    assert [count(lawyer, x) for x in texts] == [1] * len(texts)
    assert [count(reporter, x) for x in notes] == [1] * len(notes)
    assert rows(world.db, "SELECT COUNT(*) FROM alert_events WHERE kind = 'reporter_text'"
                ) == [(len(texts),)]
    assert rows(world.db, "SELECT COUNT(*) FROM alert_events WHERE kind = 'lawyer_note'"
                ) == [(len(notes),)]
    assert b"Traceback" not in proc.log.read_bytes()


async def test_processed_update_ids_are_kept_for_a_bounded_window(world: World) -> None:
    """Each processed update leaves one row; the poller forgets rows older than Telegram's
    memory of unconfirmed updates (checked through the storage method it prunes with)."""
    await world.start()
    reporter = world.emu.user(first_name="Aida")
    await reporter.send_command("/start")
    await reporter.wait_for("What we store")
    await world.drain()
    recorded = rows(world.db, "SELECT update_id FROM processed_updates")
    assert len(recorded) == 1
    async with world.q.svc.storage.transaction() as tx:
        assert await tx.forget_updates(world.q.svc.now() - 3600) == 0
        assert await tx.forget_updates(world.q.svc.now() + 1) == 1
