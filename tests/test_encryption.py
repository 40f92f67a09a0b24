"""Personal data at rest: what a copied database, WAL or backup gives away (nothing
personal), the data key checked at start-up, key rotation, backup and restore, all through
the real bot, the real `qorgau` command and real SQLite files."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import struct
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from storage import Storage
from storage.crypto import PERSONAL, Codec, DataKeyError, key_id, new_key, parse_key
from tests.harness import ALMATY, TEST_KEY, World, claim, raise_alert, rows

NAMES = ("Zhanargul Qwertova", "Bolatbek Unikalny")
NOTE = "taken to precinct 4711 by officer Tursyn"
TEXT = "they have my passport zx-9931"
WHERE = (43.25671, 76.92861)  # near ALMATY, routed there
TOKEN = "123456:" + "A" * 35


def qorgau(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The `qorgau` command in its own process, configured only by its environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("QORGAU_")}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, text=True,
                          capture_output=True, env={**base, **env}, timeout=60)


async def aqorgau(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(qorgau, *args, cwd=cwd, **env)


def secrets_of(invite: str) -> list[bytes]:
    """Everything personal the scene writes, as it could appear in a file: UTF-8 text,
    and the coordinates also as the 8-byte doubles SQLite would store."""
    found = [s.encode() for s in (*NAMES, NOTE, TEXT, invite, "43.2567", "76.9286")]
    for value in WHERE:
        found += [struct.pack(">d", value), struct.pack("<d", value)]
    return found


async def scene(world: World) -> tuple[int, str]:
    """A reporter and a lawyer with known names, an SOS at a known spot, a text and a note
    through the real bot; returns the alert number and an invite code that was sent."""
    await world.start()
    await world.register_coordinator()
    lawyer = await world.register_lawyer(NAMES[1], ("Almaty",))
    reporter, alert_id = await raise_alert(world, NAMES[0], WHERE)
    await claim(lawyer, alert_id)
    mark = lawyer.mark()
    await reporter.send_text(TEXT)
    await lawyer.wait_for(TEXT, after=mark)
    await lawyer.send_command("/note", f"{alert_id} {NOTE}")
    await reporter.wait_for(NOTE)
    invite = await world.invite_link("coordinator")
    await world.drain()
    return alert_id, invite


def sealed_columns(db: Path) -> dict[str, list[object]]:
    """Every non-null personal value, raw, by table.column."""
    with closing(sqlite3.connect(db)) as conn:
        return {f"{t}.{c}": [v for (v,) in conn.execute(
            f"SELECT {c} FROM {t} WHERE {c} IS NOT NULL")]
            for t, cols in PERSONAL.items() for c in cols}


def raw(*paths: Path) -> bytes:
    """The bytes an attacker copying these files would have."""
    return b"".join(p.read_bytes() for p in paths)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- what a copy gives away ------------------------------------------------------------------


@pytest.mark.sqlite_only("the file modes, WAL and backup of a SQLite file")
async def test_database_wal_and_backup_hold_no_personal_value(world: World) -> None:
    alert_id, invite = await scene(world)
    wal = Path(f"{world.db}-wal")
    assert raw(wal)  # the bot is running: recent pages are in the WAL
    backup = world.tmp / "copies" / "backup.db"
    done = await aqorgau("backup", str(backup), cwd=world.tmp, QORGAU_DATABASE=str(world.db),
                         QORGAU_DATA_KEY=TEST_KEY)
    assert done.returncode == 0, done.stderr
    assert mode(world.db) == mode(wal) == mode(backup) == 0o600
    for path in (world.db, wal, backup):
        leaked = [s for s in secrets_of(invite) if s in raw(path)]
        assert not leaked, (path.name, leaked)
    # ... and yet the bot, with the key, has all of it
    columns = sealed_columns(world.db)
    assert all(isinstance(v, str) and v.startswith("q1.") for vs in columns.values()
               for v in vs), columns
    (name,) = rows(world.db, "SELECT plain(display_name) FROM people WHERE display_name"
                             " IS NOT NULL AND role = 'reporter'")
    assert name == (NAMES[0],)
    async with world.q.svc.storage.read() as tx:
        alert = await tx.alert(alert_id)
        events = await tx.events(alert_id)
    assert alert is not None and (alert.lat, alert.lon) == WHERE
    assert any(e.detail.get("text") == NOTE for e in events)


async def test_a_sent_invite_link_leaves_nothing_in_the_outbox(world: World) -> None:
    alert_id, invite = await scene(world)
    payloads = [p for (p,) in rows(world.db, "SELECT plain(payload) FROM outbox")]
    assert not [p for p in payloads if invite in p]
    # delivered answers keep no words; the cards edited in place keep theirs (sealed)
    replies = rows(world.db, "SELECT plain(payload) FROM outbox WHERE kind = 'reply'"
                             " AND state = 'sent'")
    assert replies and not [p for (p,) in replies if NAMES[0] in p or "registered" in p]
    cards = rows(world.db, "SELECT plain(payload) FROM outbox WHERE kind = 'alert'")
    assert cards and all(f"#{alert_id}" in p for (p,) in cards)


# --- the key at start-up ----------------------------------------------------------------------


def bot_env(db: Path, **extra: str) -> dict[str, str]:
    return {"QORGAU_BOT_TOKEN": TOKEN, "QORGAU_TELEGRAM_API_URL": "http://127.0.0.1:9",
            "QORGAU_DATABASE": str(db), **extra}


def one_line_exit_2(done: subprocess.CompletedProcess[str], *words: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), done.stderr
    return lines[0]


def test_a_fresh_install_without_a_key_is_told_to_run_keygen(tmp_path: Path) -> None:
    db = tmp_path / "new" / "qorgau.db"
    one_line_exit_2(qorgau("run", cwd=tmp_path, **bot_env(db)), "QORGAU_DATA_KEY",
                    "qorgau keygen")
    assert not db.exists()  # nothing was created without a key
    key = qorgau("keygen", cwd=tmp_path)
    assert key.returncode == 0 and len(parse_key(key.stdout.strip())) == 32
    assert key.stdout.strip() != qorgau("keygen", cwd=tmp_path).stdout.strip()


@pytest.mark.parametrize("bad", ["not base64 !!", "c2hvcnQ=", new_key()[:-4] + "AAAA" * 2])
def test_a_malformed_key_is_named_and_never_printed(tmp_path: Path, bad: str) -> None:
    done = qorgau("run", cwd=tmp_path, **bot_env(tmp_path / "q.db", QORGAU_DATA_KEY=bad))
    line = one_line_exit_2(done, "QORGAU_DATA_KEY", "qorgau keygen")
    assert bad not in line and bad not in done.stdout


@pytest.mark.sqlite_only("compares the SQLite file's sealed columns, read with sqlite3")
async def test_a_wrong_or_missing_key_stops_the_bot_and_changes_nothing(world: World) -> None:
    await scene(world)
    await world.stop()
    before = sealed_columns(world.db)
    wrong = qorgau("run", cwd=world.tmp, **bot_env(world.db, QORGAU_DATA_KEY=new_key()))
    one_line_exit_2(wrong, "QORGAU_DATA_KEY", "not the key")
    missing = qorgau("run", cwd=world.tmp, **bot_env(world.db))
    one_line_exit_2(missing, "QORGAU_DATA_KEY", "missing", "encrypted data")
    assert sealed_columns(world.db) == before
    await world.start()  # the right key still reads everything
    await world.q.worker.drain(10.0)


# --- rotation --------------------------------------------------------------------------------


@pytest.mark.sqlite_only("looks for the old key id in the SQLite file's bytes")
async def test_rotation_re_encrypts_every_row_and_the_bot_reads_it_back(world: World) -> None:
    alert_id, _ = await scene(world)
    await world.stop()
    new = new_key()
    keys = {"QORGAU_DATABASE": str(world.db), "QORGAU_DATA_KEY": new}
    # a wrong old key changes nothing
    before = sealed_columns(world.db)
    bad = qorgau("rotate-key", cwd=world.tmp, QORGAU_DATA_KEY_OLD=new_key(), **keys)
    one_line_exit_2(bad, "QORGAU_DATA_KEY_OLD", "not the key")
    assert before == sealed_columns(world.db)
    done = qorgau("rotate-key", "--batch", "3", cwd=world.tmp,
                  QORGAU_DATA_KEY_OLD=TEST_KEY, **keys)
    assert done.returncode == 0, done.stderr
    assert not [s for s in NAMES if s in done.stdout + done.stderr]
    old_id, new_id = key_id(parse_key(TEST_KEY)), key_id(parse_key(new))
    values = [v for vs in sealed_columns(world.db).values() for v in vs]
    assert values and all(str(v).startswith(f"q1.{new_id}.") for v in values)
    assert old_id.encode() not in world.db.read_bytes()
    # the old key no longer opens the database; the new one opens all of it
    one_line_exit_2(qorgau("run", cwd=world.tmp, **bot_env(world.db, QORGAU_DATA_KEY=TEST_KEY)),
                    "not the key")
    await world.start(data_key=new)
    coordinator = world.coordinator
    mark = coordinator.mark()
    await coordinator.send_command("/case", str(alert_id))
    case = await coordinator.wait_for(f"#{alert_id}", after=mark)
    assert case.text is not None and NAMES[0] in case.text and NOTE in case.text


async def test_an_interrupted_rotation_blocks_the_bot_and_finishes_when_run_again(
        tmp_path: Path) -> None:
    db, old, new = tmp_path / "q.db", new_key(), new_key()
    stray = Codec(parse_key(new_key()))
    async with Storage(db, Codec(parse_key(old))) as storage:
        async with storage.transaction() as tx:
            for uid in range(1, 8):
                await tx.ensure_person(uid, 0.0, "en", "reporter")
                await tx.update_person(uid, 0.0, display_name=f"Person {uid}")
            await tx.enqueue(1, "reply", 1, '{"text": "hello"}', 0.0)
    # one value sealed with a key nobody gives: the rotation stops half-way, there
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE outbox SET payload = ?",
                     (stray.seal('{"text": "x"}', "outbox.payload"),))
    env = {"QORGAU_DATABASE": str(db), "QORGAU_DATA_KEY": new, "QORGAU_DATA_KEY_OLD": old}
    one_line_exit_2(qorgau("rotate-key", "--batch", "2", cwd=tmp_path, **env),
                    "outbox.payload")
    assert len({str(v)[:12] for v in sealed_columns(db)["people.display_name"]}) == 1
    # half-way: neither key alone may start the bot
    for key in (old, new):
        one_line_exit_2(qorgau("run", cwd=tmp_path, **bot_env(db, QORGAU_DATA_KEY=key)),
                        "rotation was interrupted", "rotate-key")
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("DELETE FROM outbox")
    done = qorgau("rotate-key", "--batch", "2", cwd=tmp_path, **env)
    assert done.returncode == 0, done.stderr
    async with Storage(db, Codec(parse_key(new))) as storage, storage.read() as tx:
        names = [p.display_name for p in await tx.people()] + [
            (await tx.person(uid)).display_name for uid in range(1, 8)]  # type: ignore[union-attr]
    assert names[-7:] == [f"Person {uid}" for uid in range(1, 8)]


# --- an older database, backups ---------------------------------------------------------------


async def test_an_older_plain_database_is_encrypted_on_first_start(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    async with Storage(db, Codec(parse_key(TEST_KEY))) as storage:
        async with storage.transaction() as tx:
            await tx.ensure_person(5, 0.0, "en", "reporter")
            alert_id = await tx.create_alert(5, 0.0, region="almaty")
    with closing(sqlite3.connect(db)) as conn, conn:  # as the bot before encryption left
        conn.execute("DELETE FROM kv")
        conn.execute("UPDATE people SET display_name = ?", (NAMES[0],))
        conn.execute("UPDATE alerts SET lat = ?, lon = ?", WHERE)
        conn.execute("INSERT INTO alert_events (alert_id, at, kind, detail) VALUES"
                     " (?, 0, 'reporter_text', ?)", (alert_id, f'{{"text": "{TEXT}"}}'))
    async with Storage(db, Codec(parse_key(TEST_KEY))) as storage, storage.read() as tx:
        person, alert = await tx.person(5), await tx.alert(alert_id)
        (event,) = await tx.events(alert_id)
        copied = raw(db, Path(f"{db}-wal"))  # while open: the WAL is there
    assert not [s for s in secrets_of("-") if s in copied and s != b"-"]
    assert person is not None and person.display_name == NAMES[0]
    assert alert is not None and (alert.lat, alert.lon) == WHERE
    assert event.detail == {"text": TEXT}


@pytest.mark.sqlite_only("qorgau backup/restore copy SQLite files (PostgreSQL: pg_dump)")
async def test_backup_while_alerts_arrive_then_restore_and_read(world: World) -> None:
    await world.start()
    await world.register_coordinator()
    await world.register_lawyer(NAMES[1], ("Almaty",))
    env = {"QORGAU_DATABASE": str(world.db), "QORGAU_DATA_KEY": TEST_KEY}
    backup = world.tmp / "backup.db"
    raising = asyncio.gather(*(raise_alert(world, f"Reporter {i}", ALMATY) for i in range(4)))
    copy = aqorgau("backup", str(backup), cwd=world.tmp, **env)
    raised, done = await asyncio.gather(raising, copy)
    assert done.returncode == 0, done.stderr
    again = await aqorgau("backup", str(backup), cwd=world.tmp, **env)
    one_line_exit_2(again, "exists")  # a backup never overwrites another
    assert "QORGAU_DATABASE" not in again.stderr  # the PATH given is named, not the setting
    busy = await aqorgau("restore", str(backup), cwd=world.tmp, **env)
    one_line_exit_2(busy, "in use", "stop the bot")
    rotating = await aqorgau("rotate-key", cwd=world.tmp, **{
        **env, "QORGAU_DATA_KEY": new_key(), "QORGAU_DATA_KEY_OLD": TEST_KEY})
    one_line_exit_2(rotating, "in use", "stop the bot")
    await world.drain()
    await world.stop()
    with closing(sqlite3.connect(backup)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        in_copy = {a for (a,) in conn.execute("SELECT id FROM alerts")}
    assert in_copy <= {a for _, a in raised}  # a consistent copy: whole alerts or none
    # a wrong key restores nothing; the right one replaces the database
    wrong = await aqorgau("restore", str(backup), cwd=world.tmp, **{
        **env, "QORGAU_DATA_KEY": new_key()})
    one_line_exit_2(wrong, "not the key", "nothing was replaced")
    assert {a for (a,) in rows(world.db, "SELECT id FROM alerts")} == {a for _, a in raised}
    restored = await aqorgau("restore", str(backup), cwd=world.tmp, **env)
    assert restored.returncode == 0, restored.stderr
    assert {a for (a,) in rows(world.db, "SELECT id FROM alerts")} == in_copy
    await world.start()
    async with world.q.svc.storage.read() as tx:
        lawyer = [p for p in await tx.people("lawyer")]
    assert [p.display_name for p in lawyer] == [NAMES[1]]


# --- the codec itself ------------------------------------------------------------------------


def test_codec_round_trip_binds_column_and_key() -> None:
    codec = Codec(parse_key(new_key()))
    sealed = codec.seal("Aida", "people.display_name")
    assert sealed != codec.seal("Aida", "people.display_name")  # a fresh nonce each time
    assert codec.open(sealed, "people.display_name") == "Aida"
    with pytest.raises(DataKeyError):
        codec.open(sealed, "outbox.payload")  # moved to another column: does not open
    with pytest.raises(DataKeyError):
        Codec(parse_key(new_key())).open(sealed, "people.display_name")
    tampered = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(DataKeyError):
        codec.open(tampered, "people.display_name")
    with pytest.raises(DataKeyError):
        codec.open("Aida", "people.display_name")  # plain text is never passed through
    assert abs(codec.plain_size(len(codec.seal("x" * 300, "t.c"))) - 300) <= 3


async def test_the_latency_benchmark_compares_encryption_on_and_off() -> None:
    from bench.latency import render_latency, run_latency

    on = await run_latency(alerts=2, lawyers=3, floor_samples=2)
    off = await run_latency(alerts=2, lawyers=3, floor_samples=2, encrypted=False)
    assert on.stored == off.stored == 2 and off.undelivered == 0 and not off.encrypted
    text = render_latency(on, off)
    for row in ("encryption on (AES-GCM)", "encryption off", "cost of encryption"):
        assert row in text
