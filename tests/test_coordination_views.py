"""What coordinators read on a mass-detention day: /open paged and filtered, /case in the
reader's words and local time, /people with region names, /lawyers' load, the assign
dialog by region and load, and /map's venues (private only)."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.clock import ManualClock
from tests.harness import ALMATY, ASTANA, World, card_for, claim, raise_alert


async def test_open_is_paged_filtered_and_never_cut(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    _, held = await raise_alert(world, "Aida", ALMATY)
    await claim(marat, held)
    _, astana = await raise_alert(world, "Bek", ASTANA)
    people = [world.emu.user(first_name=f"P{i}") for i in range(30)]
    for person in people:
        clock.advance(10)
        await person.send_location(*ALMATY)
        await person.wait_for("#")
    await world.drain()

    mark = coordinator.mark()
    await coordinator.send_command("/open")
    first = await coordinator.wait_for("Open alerts: 32", after=mark)
    lines = (first.text or "").split("\n")
    assert lines[-1] == "Page 1 of 2" and first.buttons == ["Next ▶"]
    body = lines[1:-1]
    assert len(body) == 25 and all(x.startswith(("🔴", "🟡", "🟢")) for x in body)
    assert body[0].startswith(f"🔴 #{astana} ")  # the oldest waiting first
    await coordinator.press("Next ▶", message=first)
    second = await coordinator.wait_for("Page 2 of 2", after=mark)
    assert second.buttons == ["◀ Previous"]
    assert (second.text or "").split("\n")[-2].startswith(f"🟢 #{held} ")  # held ones last
    assert len((second.text or "").split("\n")) == 1 + 7 + 1

    mark = coordinator.mark()
    await coordinator.send_command("/open", "astana")
    only = await coordinator.wait_for("Open alerts: 1", after=mark)
    assert f"#{astana} " in (only.text or "") and not only.buttons
    await coordinator.send_command("/open", "held")
    held_only = await coordinator.wait_for("Open alerts: 1", after=mark + 1)
    assert f"#{held} " in (held_only.text or "")
    await coordinator.send_command("/open", "waiting")
    await coordinator.wait_for("Open alerts: 31", after=mark + 2)
    await coordinator.send_command("/open", "narnia")
    await coordinator.wait_for("Use /open, /open waiting", after=mark + 3)

    # A forged page button from a lawyer: refused, nothing listed.
    before = marat.mark()
    answer = await marat.press_data(first, "op:all:1")
    assert answer.text == "Only coordinators can see all open alerts."
    await world.drain()
    assert not any("Open alerts" in (m.text or "") for m in marat.inbox[before:])


async def test_case_reads_in_words_and_local_time_and_people_name_regions(
        world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty", "Astana"))
    reporter, alert_id = await raise_alert(world, "Aida", ALMATY)
    await reporter.send_text("at the station")
    await claim(marat, alert_id)
    await world.drain()
    mark = coordinator.mark()
    await coordinator.send_command("/case", str(alert_id))
    case = await coordinator.wait_for("alert raised", after=mark)
    text = case.text or ""
    assert "reporter_text" not in text and "the reporter wrote · “Aida”" in text
    assert "case claimed · “Marat”" in text and "UTC" not in text
    local = datetime.fromtimestamp(clock.now(), tz=ZoneInfo("Asia/Almaty")).strftime(
        "%Y-%m-%d %H:%M")
    assert f"{local} · alert raised" in text

    await coordinator.send_command("/people", "lawyer")
    people = await coordinator.wait_for("Marat", after=mark + 1)
    assert "Almaty, Astana" in (people.text or "") and "almaty" not in (people.text or "")


async def test_lawyers_load_and_the_assign_dialog_by_region_then_load(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    aigul = await world.register_lawyer("Aigul", ("Almaty",))
    await world.register_lawyer("Erlan", ("Astana",), on_call=False)
    _, first = await raise_alert(world, "Aida", ALMATY)
    await claim(marat, first)
    clock.advance(600)
    _, second = await raise_alert(world, "Bek", ALMATY)
    await world.drain()

    mark = coordinator.mark()
    await coordinator.send_command("/lawyers")
    load = await coordinator.wait_for("Lawyers: 3", after=mark)
    assert (load.text or "").split("\n")[1:] == [
        "“Aigul” · 🟢 on call · 0 open cases · no response yet",
        "“Marat” · 🟢 on call · 1 open case · last response 10 min ago",
        "“Erlan” · ⚪ off call · 0 open cases · no response yet",
    ]
    await marat.send_command("/lawyers")
    await marat.wait_for("Only coordinators can see the lawyers' load.")

    await coordinator.send_command("/assign", str(second))
    dialog = await coordinator.wait_for(f"Assign alert #{second} to:", after=mark)
    assert dialog.buttons == ["🟢 Aigul", "🟢 Marat · 1 case", "Erlan"]
    await card_for(aigul, second)


async def test_map_sends_venues_by_region_in_private_only(world: World) -> None:
    clock = ManualClock(time.time())
    await world.start(clock=clock)
    coordinator = await world.register_coordinator()
    marat = await world.register_lawyer("Marat", ("Almaty",))
    _, near = await raise_alert(world, "Aida", ALMATY)  # region only for groups
    _, far = await raise_alert(world, "Bek", ASTANA)
    unplaced = world.emu.user(first_name="Nurlan")
    await unplaced.send_text("🆘 Alert without location")
    await world.drain()

    group = world.emu.group("Coordinators")
    group_mark = group.mark()
    await group.send_command(coordinator, "/map")
    await coordinator.wait_for("Send /map in our private chat")
    await marat.send_command("/map")
    await marat.wait_for("Only coordinators can see the map")

    mark = coordinator.mark()
    await coordinator.send_command("/map")
    await world.drain()
    venues = [m for m in coordinator.inbox[mark:] if m.venue]
    titles = sorted(m.venue["title"] for m in venues if m.venue)
    assert titles == [f"#{near} · waiting for a lawyer", f"#{far} · waiting for a lawyer"]
    heads = [m.text or "" for m in coordinator.inbox[mark:] if m.text]
    assert any(h.startswith("Almaty: 1 open alert") for h in heads)
    assert any(h.startswith("Astana: 1 open alert") for h in heads)
    assert any("Without a position: #" in h for h in heads)  # listed, not placed
    assert not [m for m in group.inbox[group_mark:] if m.venue or m.location]
