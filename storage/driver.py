"""The few things ``Tx`` and ``Storage`` ask of a database connection, so that one ``Tx``
(storage/sqlite.py) serves SQLite and PostgreSQL alike: run a statement, fetch rows (read
by column name or position), run one statement for many rows, and begin, commit or roll
back. ``SqliteDriver`` is the aiosqlite side; storage/postgres.py has the asyncpg side."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import aiosqlite


class Driver(Protocol):
    """One connection, used by one task at a time (Storage's lock sees to that)."""

    dialect: str  # "sqlite" or "postgresql"

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """The rows of a query; each reads as ``row["name"]``, ``row[0]`` and ``dict(row)``."""
        ...

    async def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement: the new row's id for an INSERT, else the rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    async def begin(self) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None:
        """Roll back if a transaction is open (a failed COMMIT must not leave it stuck)."""
        ...

    async def close(self) -> None: ...


class SqliteDriver:
    """aiosqlite, as the code always used it: ``BEGIN IMMEDIATE`` so that a step never
    waits on a lock held by a half-finished read."""

    dialect = "sqlite"

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        # One hop to the database thread, not three (execute, fetch, close): under a flood
        # of updates the hops, not SQLite, are what each step costs.
        return list(await self.db.execute_fetchall(sql, args))

    async def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        async with self.db.execute(sql, args) as cur:
            if sql.lstrip().upper().startswith("INSERT"):
                return int(cur.lastrowid or 0)
            return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.db.executemany(sql, rows)

    async def begin(self) -> None:
        await self.db.execute("BEGIN IMMEDIATE")

    async def commit(self) -> None:
        await self.db.execute("COMMIT")

    async def rollback(self) -> None:
        if self.db.in_transaction:
            await self.db.execute("ROLLBACK")

    async def close(self) -> None:
        await self.db.close()
