"""Sealing every personal value of a database with the current key, batch by batch: the
upgrade of an older database with plain values, and ``qorgau rotate-key``.

Each batch is its own transaction and only values not yet sealed with the current key are
read, so a crash loses at most one batch of work and the next run carries on where this
one stopped. Nothing is written that was not first opened with a key we hold: a wrong key
stops the run with every row as it was.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from storage.crypto import PERSONAL, PREFIX, Codec, DataKeyError
from storage.driver import Driver

KEY_CHECK = "data_key_check"  # kv: a known text sealed with the current key
KEY_NEXT = "data_key_next"  # kv: the key id a rotation in progress is moving to
CHECK_TEXT = "qorgau data key check"


async def reseal(db: Driver, codec: Codec, batch: int = 500,
                 plain_ok: bool = False) -> int:
    """Seal with the current key every personal value that is not sealed with it yet;
    return how many rows changed. ``plain_ok``: plain values are an older database's and
    are sealed as they are (the upgrade); otherwise a plain value is an error."""
    mine = f"{PREFIX}{codec.key_id}."
    total = 0
    for table, columns in PERSONAL.items():
        names = list(columns)
        stale = " OR ".join(f"({c} IS NOT NULL AND substr({c}, 1, {len(mine)}) <> ?)"
                            for c in names)
        key = await _walk_key(db, table)
        last = 0
        while True:
            await db.begin()
            try:
                rows = await db.fetch(
                    f"SELECT {key}, {', '.join(names)} FROM {table}"
                    f" WHERE {key} > ? AND ({stale}) ORDER BY {key} LIMIT ?",
                    (last, *[mine] * len(names), batch))
                updates = [(*(_resealed(codec, table, c, columns[c], v, plain_ok)
                              for c, v in zip(names, r[1:], strict=True)), r[0])
                           for r in rows]
                await db.executemany(
                    f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in names)}"
                    f" WHERE {key} = ?", updates)
                await db.commit()
            except BaseException:
                await db.rollback()
                raise
            if not rows:
                break
            last, total = rows[-1][0], total + len(rows)
    await rehash_phones(db, codec)
    return total


async def rehash_phones(db: Driver, codec: Codec) -> None:
    """Phone numbers are looked up by a hash keyed from the data key: under a new key each
    is hashed again (few rows, one transaction; a rerun after a crash does it again)."""
    await db.begin()
    try:
        rows = await db.fetch("SELECT user_id, number FROM phones")
        await db.executemany("UPDATE phones SET number_hash = ? WHERE user_id = ?", [
            (codec.lookup_hash(codec.open(r[1], "phones.number"), "phones.number"), r[0])
            for r in rows])
        await db.commit()
    except BaseException:
        await db.rollback()
        raise


async def _walk_key(db: Driver, table: str) -> str:
    """The column a table is walked by, in order: SQLite's rowid; on PostgreSQL (which has
    none) the table's primary key."""
    if db.dialect == "sqlite":
        return "rowid"
    rows = await db.fetch(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = i.indkey[0] WHERE i.indrelid = ?::regclass AND i.indisprimary",
        (table,))
    return str(rows[0][0])


async def forget_old_pages(db: Driver) -> None:
    """Copy the WAL into the database file and empty it, so the pages that held the
    old values (plain, or under the old key) are overwritten, not left in the WAL."""
    if db.dialect == "sqlite":
        await db.run("PRAGMA wal_checkpoint(TRUNCATE)")


def _resealed(codec: Codec, table: str, column: str, kind: type, value: Any,
              plain_ok: bool) -> Any:
    where = f"{table}.{column}"
    if value is None:
        return None
    if isinstance(value, str) and value.startswith(PREFIX):
        return codec.seal(codec.open(value, where), where)
    if not plain_ok:
        raise DataKeyError(f"{where}: a value is not encrypted")
    return codec.seal(repr(float(value)) if kind is float else str(value), where)


async def kv(db: Driver, key: str) -> str | None:
    rows = await db.fetch("SELECT value FROM kv WHERE key = ?", (key,))
    return str(rows[0][0]) if rows else None


async def set_kv(db: Driver, key: str, value: str | None) -> None:
    if value is None:
        await db.run("DELETE FROM kv WHERE key = ?", (key,))
    else:
        await db.run("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key)"
                         " DO UPDATE SET value = excluded.value", (key, value))


def opens(codec: Codec, check: str) -> bool:
    """Whether the stored verification value opens with one of the codec's keys."""
    try:
        return codec.open(check, f"kv.{KEY_CHECK}") == CHECK_TEXT
    except DataKeyError:
        return False


def sealed_check(codec: Codec) -> str:
    return codec.seal(CHECK_TEXT, f"kv.{KEY_CHECK}")


def stored_check(path: Path) -> tuple[str | None, str | None]:
    """The verification value and any unfinished rotation of a database file, read
    without writing to it; (None, None) if it has neither (or is no database of ours)."""
    if not path.is_file():
        return None, None
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            found = dict(conn.execute("SELECT key, value FROM kv WHERE key IN (?, ?)",
                                      (KEY_CHECK, KEY_NEXT)).fetchall())
    except sqlite3.Error:
        return None, None
    return found.get(KEY_CHECK), found.get(KEY_NEXT)
