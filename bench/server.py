"""``python -m bench ... --postgresql URL``: run the scenario on PostgreSQL instead of
SQLite. URL names a server and a user allowed to create databases (e.g. the private cluster
of `tests/pgcluster.py`, or a local one); each run gets a new database there, dropped
with the server, never a database already in use."""

from __future__ import annotations

import itertools
import os
from urllib.parse import urlsplit, urlunsplit

import asyncpg

SERVER: str | None = None  # set by bench/__main__.py from --postgresql
_numbers = itertools.count(1)


async def fresh_database() -> str | None:
    """The URL of a new, empty database on SERVER; None when the bench runs on SQLite."""
    if SERVER is None:
        return None
    name = f"qorgau_bench_{os.getpid()}_{next(_numbers)}"
    conn = await asyncpg.connect(SERVER)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return urlunsplit(urlsplit(SERVER)._replace(path=f"/{name}"))
