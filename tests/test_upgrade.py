"""Upgrades: a database made by the first schema version (0001 only), filled as a running
network would have filled it, is upgraded by the current code at start and read back whole
through the storage interface and the running bot; a database from a newer version stops
the program with one line (exit status 2)."""

from __future__ import annotations

import json
import sqlite3
import time
from importlib import resources
from pathlib import Path

import pytest

from bot.domain.messages import Outgoing
from bot.i18n import t
from storage import Storage
from storage.crypto import PERSONAL
from tests.harness import World, data_codec, rows
from tests.test_settings import one_line_error, qorgau

ALMATY_SPOT = (43.2567, 76.9286)


def latest_version() -> int:
    return max(int(f.name[:4]) for f in resources.files("storage.migrations").iterdir()
               if f.name.endswith(".sql") and f.name[:4].isdigit())


def first_schema(db: Path) -> sqlite3.Connection:
    """The database exactly as release 0001 created it."""
    sql = (resources.files("storage.migrations") / "0001_initial.sql").read_text("utf-8")
    conn = sqlite3.connect(db)
    conn.executescript(sql)
    conn.execute("PRAGMA user_version = 1")
    return conn


def fill(conn: sqlite3.Connection, ids: dict[str, int], now: float) -> None:
    """People of every role, a claimed, an open (its wave 2 overdue) and a closed alert with
    their timelines and recipients, a message still pending, a group, an invite, the kv."""
    people = [
        (ids["dana"], "coordinator", "Dana", None, "en", "", "", 0, "done", 0, None),
        (ids["lawyer"], "lawyer", "Marat", None, "ru", "almaty,astana", "ru,kk", 0, "done", 1,
         None),
        (ids["aida"], "reporter", "Aida", "almaty", "en", "", "", 1, "done", 0, None),
        (ids["bek"], "reporter", "Bek", "astana", "kk", "", "", 0, "done", 0, None),
        (ids["new"], "reporter", None, None, "ru", "", "", 0, "consent", 0, None),
    ]
    conn.executemany(
        "INSERT INTO people (user_id, role, display_name, region, language, serves_regions,"
        " speaks, share_location, step, on_call, on_call_until, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(*p, now - 86400, now - 3600) for p in people])
    lat, lon = ALMATY_SPOT
    conn.execute(
        "INSERT INTO alerts (id, reporter_id, state, region, lat, lon, accuracy_m, located_at,"
        " created_at, urgent, wave, acknowledged_by, acknowledged_at, claimed_by, claimed_at,"
        " last_update_at) VALUES (1, ?, 'claimed', 'almaty', ?, ?, 12.5, ?, ?, 0, 1, ?, ?, ?,"
        " ?, ?)",
        (ids["aida"], lat, lon, now - 7205, now - 7200, ids["lawyer"], now - 7100,
         ids["lawyer"], now - 7000, now - 7000))
    conn.execute(
        "INSERT INTO alerts (id, reporter_id, state, region, created_at, urgent, wave)"
        " VALUES (2, ?, 'open', 'astana', ?, 0, 1)", (ids["bek"], now - 600))
    conn.execute(
        "INSERT INTO alerts (id, reporter_id, state, region, created_at, wave, acknowledged_by,"
        " acknowledged_at, claimed_by, claimed_at, closed_at, outcome) VALUES"
        " (3, ?, 'closed', 'almaty', ?, 2, ?, ?, ?, ?, ?, 'released')",
        (ids["aida"], now - 80000, ids["lawyer"], now - 79900, ids["lawyer"], now - 79800,
         now - 70000))
    events = [
        (1, now - 7200, "raised", ids["aida"], {"located": True, "region": "almaty"}),
        (1, now - 7100, "acknowledged", ids["lawyer"], {}),
        (1, now - 7000, "claimed", ids["lawyer"], {}),
        (1, now - 6900, "reporter_text", ids["aida"], {"text": "at the district station"}),
        (2, now - 600, "raised", ids["bek"], {"located": False, "region": "astana"}),
        (3, now - 80000, "raised", ids["aida"], {}),
        (3, now - 70000, "closed", ids["lawyer"], {"outcome": "released"}),
    ]
    conn.executemany(
        "INSERT INTO alert_events (alert_id, at, kind, actor_id, detail) VALUES (?,?,?,?,?)",
        [(a, at, k, who, json.dumps(d)) for a, at, k, who, d in events])
    conn.executemany(
        "INSERT INTO alert_recipients (alert_id, user_id, wave, added_at) VALUES (?,?,?,?)",
        [(1, ids["lawyer"], 1, now - 7200), (2, ids["lawyer"], 1, now - 600),
         (3, ids["lawyer"], 1, now - 80000)])
    conn.execute(
        "INSERT INTO outbox (chat_id, alert_id, kind, priority, state, payload, not_before,"
        " created_at) VALUES (?, 2, 'reply', 0, 'pending', ?, 0, ?)",
        (ids["bek"], Outgoing("Alert #2: written by release 0001, sent after the "
                              "upgrade.").to_json(), now - 600))
    conn.execute("INSERT INTO timers (kind, subject_id, due_at) VALUES ('escalate', 2, ?)",
                 (now - 1,))
    conn.execute("INSERT INTO invites VALUES ('ab' || hex(randomblob(30)), 'lawyer', ?, ?, ?,"
                 " NULL, NULL)", (ids["dana"], now - 60, now + 86400))
    conn.execute("INSERT INTO groups VALUES (-100123, ?, ?)", (ids["dana"], now - 5000))
    conn.execute("INSERT INTO kv VALUES ('note', 'kept')")
    conn.commit()


@pytest.mark.sqlite_only("builds a first-version SQLite file with sqlite3")
async def test_a_first_version_database_is_upgraded_and_read_back(world: World) -> None:
    emu = world.emu
    lawyer, aida, bek = (emu.user(first_name=n) for n in ("Marat", "Aida", "Bek"))
    newcomer = emu.user(first_name="New")
    ids = {"dana": world.coordinator.id, "lawyer": lawyer.id, "aida": aida.id, "bek": bek.id,
           "new": newcomer.id}
    now = time.time()
    with first_schema(world.db) as conn:
        fill(conn, ids, now)
    conn.close()
    before = {t: rows(world.db, f"SELECT * FROM {t} ORDER BY 1, 2") for t in (
        "people", "alerts", "alert_events", "alert_recipients", "invites", "groups", "kv")}

    await world.start()  # the current code: migrations run at start
    assert rows(world.db, "PRAGMA user_version") == [(latest_version(),)]

    # Everything read back through the storage interface the domain uses.
    async with world.q.svc.storage.read() as tx:
        alert = await tx.alert(1)
        assert alert is not None and alert.state == "claimed" and alert.claimed_by == lawyer.id
        assert (alert.lat, alert.lon, alert.accuracy_m) == (*ALMATY_SPOT, 12.5)
        assert [a.id for a in await tx.open_alerts()] == [1, 2]
        closed = await tx.alert(3)
        assert closed is not None and closed.outcome == "released"
        marat = await tx.person(lawyer.id)
        assert marat is not None and marat.is_lawyer and marat.on_call
        assert marat.serves_regions == ("almaty", "astana") and marat.speaks == ("ru", "kk")
        reporter = await tx.person(aida.id)
        assert reporter is not None and reporter.share_location and reporter.region == "almaty"
        unfinished = await tx.person(newcomer.id)
        assert unfinished is not None and not unfinished.registered
        assert [e.kind for e in await tx.events(1)][:4] == [
            "raised", "acknowledged", "claimed", "reporter_text"]
        assert await tx.recipients(3) == [lawyer.id]
        assert await tx.groups() == [-100123]
        assert await tx.get_value("note") == "kept"
    for table, old in before.items():  # no row lost or changed (new columns and rows may
        after = [r[:len(old[0])] for r in readable(world.db, table)]  # follow; personal
        assert [r for r in old if r not in after] == [], table  # columns are sealed now)

    # And through the running bot: the pending message goes, the overdue wave fires, the
    # coordinator sees both open alerts, the holder of case #1 writes to its reporter.
    await bek.wait_for("written by release 0001")
    claim = t("ru", "Claim the case #{id}", id=2)  # Marat's stored language, now read
    await lawyer.wait_for(predicate=lambda m: claim in m.buttons)
    dana = world.coordinator
    mark = dana.mark()
    await dana.send_command("/open")
    listing = await dana.wait_for("Open alerts: 2", after=mark)
    assert listing.text is not None and "#1" in listing.text and "#2" in listing.text
    mark = dana.mark()
    await dana.send_command("/case", "1")
    case = await dana.wait_for("#1", after=mark)
    assert case.text is not None and "Marat" in case.text
    mark = aida.mark()
    await lawyer.send_command("/note", "1 I am on my way")
    await aida.wait_for("I am on my way", after=mark)


def readable(db: Path, table: str) -> list[tuple[object, ...]]:
    """``SELECT *`` of a table, its sealed columns opened with the key."""
    sealed = PERSONAL.get(table, {})
    columns = [c for (_, c, *_) in rows(db, f"PRAGMA table_info({table})")]
    shown = [(f"CAST(plain({c}) AS REAL)" if sealed[c] is float else f"plain({c})")
             if c in sealed else c for c in columns]
    return rows(db, f"SELECT {', '.join(shown)} FROM {table} ORDER BY 1, 2")


async def test_a_database_from_a_newer_version_stops_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    async with Storage(db, data_codec()):
        pass
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {latest_version() + 1}")
    conn.close()
    for command in ("migrate", "run", "export"):
        extra = ("--since", "2026-01-01") if command == "export" else ()
        proc = qorgau(tmp_path, command, *extra, QORGAU_DATABASE=str(db),
                      QORGAU_BOT_TOKEN="123456789:AAFakeTokenForTestsOnly_0123456789xyz",
                      QORGAU_TELEGRAM_API_URL="http://127.0.0.1:9", QORGAU_ADMIN_IDS="1")
        line = one_line_error(proc, "QORGAU_DATABASE")
        assert f"schema version {latest_version() + 1}" in line and "newer" in line
    assert rows(db, "PRAGMA user_version") == [(latest_version() + 1,)], "left untouched"
