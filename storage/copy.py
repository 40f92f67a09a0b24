"""``qorgau copy-db SOURCE TARGET``: move an installation between SQLite and PostgreSQL
(either way). Every row of every table is copied as it is stored, personal values still
sealed (the ciphertext is the same text on both), so nothing is decrypted on the way and
the same QORGAU_DATA_KEY opens the copy. The target must be new (or empty): nothing of an
existing installation is ever overwritten."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

from storage import postgres
from storage.crypto import Codec
from storage.sqlite import Storage, StorageError, _migrations, _split_sql

BATCH = 1000
# Rows every freshly migrated database already has (the data key check, the purge timer):
# replaced by the source's own.
_SEEDED = ("kv", "timers")


def table_order() -> list[str]:
    """Every table of the schema, each after the tables its foreign keys point to."""
    with closing(sqlite3.connect(":memory:")) as db:
        for _, sql in _migrations():
            for statement in _split_sql(sql):
                db.execute(statement)
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        needs = {t: {r[2] for r in db.execute(f"PRAGMA foreign_key_list({t})")} - {t}
                 for t in tables}
    ordered: list[str] = []
    while len(ordered) < len(tables):
        ready = [t for t in tables if t not in ordered and needs[t] <= set(ordered)]
        if not ready:
            raise StorageError("the schema's foreign keys form a cycle")
        ordered += ready
    return ordered


async def _columns(storage: Storage, table: str) -> list[str]:
    db = storage._driver()
    if storage.url is None:
        return [r[1] for r in await db.fetch(f"PRAGMA table_info({table})")]
    return [r[0] for r in await db.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema ="
        " current_schema() AND table_name = ? ORDER BY ordinal_position", (table,))]


async def _count(storage: Storage, table: str) -> int:
    rows = await storage._driver().fetch(f"SELECT COUNT(*) FROM {table}")
    return int(rows[0][0])


async def copy(source: Storage, target: Storage) -> dict[str, int]:
    """Copy every row of ``source`` into ``target`` (both open and migrated to the same
    schema version); the rows copied, by table. StorageError if the target has data."""
    tables = table_order()
    for table in tables:
        if table not in _SEEDED and await _count(target, table):
            raise StorageError(f"the target already holds data ({table}); copy into a new, "
                               "empty database")
    src, dst = source._driver(), target._driver()
    copied: dict[str, int] = {}
    await dst.begin()
    try:
        if target.url is None:
            await dst.run("PRAGMA defer_foreign_keys = ON")
        for table in _SEEDED:
            await dst.run(f"DELETE FROM {table}")
        for table in tables:
            columns = await _columns(source, table)
            names = ", ".join(columns)
            key = columns[0]
            marks = ", ".join("?" for _ in columns)
            rows = await src.fetch(f"SELECT {names} FROM {table} ORDER BY {key}")
            for start in range(0, len(rows), BATCH):
                await dst.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})",
                                      [tuple(r) for r in rows[start:start + BATCH]])
            copied[table] = len(rows)
            if target.url is not None:  # identity columns continue after the copied ids
                for (column,) in await dst.fetch(
                        "SELECT column_name FROM information_schema.columns WHERE"
                        " table_schema = current_schema() AND table_name = ?"
                        " AND is_identity = 'YES'", (table,)):
                    await dst.fetch(
                        f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                        f" COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)")
        await dst.commit()
    except BaseException:
        await dst.rollback()
        raise
    return copied


def location(text: str) -> Path | str:
    """A command-line database: a postgresql:// URL, or the path of a SQLite file."""
    return text if postgres.is_url(text) else Path(text)


async def copy_db(source: Path | str, target: Path | str, codec: Codec) -> dict[str, int]:
    """Open both (the data key must open the source), bring both to the latest schema,
    and copy."""
    if isinstance(source, Path) and not await asyncio.to_thread(source.is_file):
        raise StorageError(f"{source}: no such database file")
    async with Storage(source, codec) as src, Storage(target, codec) as dst:
        return await copy(src, dst)
