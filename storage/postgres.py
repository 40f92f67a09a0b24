"""PostgreSQL under the same ``Storage``/``Tx`` (selected by a ``postgresql://`` database):
the asyncpg driver, the translation of the SQLite statements and migrations, and the
leadership of one of several running instances.

The SQL is written once, for SQLite, and translated here by a handful of mechanical rules
(``?`` to ``$n``, ``INSERT OR IGNORE`` to ``ON CONFLICT DO NOTHING``, ``INTEGER PRIMARY
KEY`` to an identity, ``REAL`` to ``DOUBLE PRECISION``, ``BLOB`` to ``BYTEA``, triggers to
PL/pgSQL functions), so new Tx methods and migrations work on both without a second copy.
A migration the rules cannot translate has its own file in storage/migrations/postgres/
with the same number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from storage.crypto import PERSONAL

log = logging.getLogger(__name__)

LEADER_KEY = 7_316_511_400_420  # the advisory lock of the leader, per database
MIGRATION_KEY = 7_316_511_400_421  # held while one instance migrates
LEASE_SECONDS = 5.0  # the server ends a leader's silent session after this
HEARTBEAT_SECONDS = 1.0  # a leader proves it is alive this often
TRUST_SECONDS = 3.5  # a leader sends only this long after its last proof was sent
RETRY_SECONDS = 0.5  # a standby asks for the lock this often
# Each heartbeat writes, by the database's clock, when the leader stops trusting itself at
# the latest; a new leader waits until then (nothing to wait for after a clean stop).
_PROVE = ("INSERT INTO kv (key, value) VALUES ('leader_trusted_until',"
          " (extract(epoch FROM clock_timestamp()) + $1)::text)"
          " ON CONFLICT (key) DO UPDATE SET value = excluded.value")
_LEFT = ("SELECT (SELECT value::float8 FROM kv WHERE key = 'leader_trusted_until')"
         " - extract(epoch FROM clock_timestamp())")


def is_url(database: object) -> bool:
    return isinstance(database, str) and database.startswith(("postgresql://", "postgres://"))


def safe_url(url: str) -> str:
    """The database URL without its password, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"postgresql://{user}{host}{port}{parts.path}"


# --- statements -----------------------------------------------------------------------


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """One SQLite statement of Tx as PostgreSQL: ``?`` placeholders numbered, outside
    quoted text, and the few SQLite idioms the statements use."""
    out, n, quote = [], 0, ""
    for ch in sql:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            n += 1
            out.append(f"${n}")
            continue
        out.append(ch)
    text = "".join(out)
    if re.match(r"\s*INSERT\s+OR\s+IGNORE\s+INTO", text, re.I):
        text = re.sub(r"INSERT\s+OR\s+IGNORE\s+INTO", "INSERT INTO", text, count=1,
                      flags=re.I).rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
    return re.sub(r"\bLIMIT\s+-1\b", "LIMIT ALL", text, flags=re.I)


@lru_cache(maxsize=1024)
def _limit_params(text: str) -> tuple[int, ...]:
    """The (0-based) arguments that are a LIMIT: SQLite's "no limit" is -1, PostgreSQL's
    is NULL."""
    return tuple(int(n) - 1 for n in re.findall(r"\bLIMIT\s+\$(\d+)", text, re.I))


def _args(text: str, args: Sequence[Any]) -> Sequence[Any]:
    limits = _limit_params(text)
    if not limits:
        return args
    return [None if i in limits and isinstance(a, int) and a < 0 else a
            for i, a in enumerate(args)]


def _status_count(status: str) -> int:
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgDriver:
    """One asyncpg connection behind the Driver interface (storage/driver.py). An INSERT
    returns its row's first column (the key: what SQLite's lastrowid is for our tables)."""

    dialect = "postgresql"

    def __init__(self, conn: asyncpg.Connection, url: str = "") -> None:
        self.conn = conn
        self.url = url

    async def _live(self) -> None:
        """A connection lost between transactions (a database restart, a network blip) is
        made again; one lost inside a transaction fails that step, which is retried."""
        if self.conn.is_closed() and self.url and not self.conn.is_in_transaction():
            self.conn = await open_connection(self.url)

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        await self._live()
        text = translate(sql)
        return list(await self.conn.fetch(text, *_args(text, args)))

    async def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        await self._live()
        text = translate(sql)
        args = _args(text, args)
        if text.lstrip().upper().startswith("INSERT") and "RETURNING" not in text.upper():
            row = await self.conn.fetchrow(text + " RETURNING *", *args)
            return int(row[0]) if row is not None and isinstance(row[0], int) else 0
        return _status_count(await self.conn.execute(text, *args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        text = translate(sql)
        batch = [tuple(_args(text, r)) for r in rows]
        if batch:
            await self.conn.executemany(text, batch)

    async def begin(self) -> None:
        await self._live()
        await self.conn.execute("BEGIN")

    async def commit(self) -> None:
        await self.conn.execute("COMMIT")

    async def rollback(self) -> None:
        """Undo the open transaction; a server that does not answer within 5 s loses the
        connection instead (the server rolls back a dropped session itself), so neither a
        rollback nor the stop after it can hang on it."""
        if self.conn.is_in_transaction() and not self.conn.is_closed():
            try:
                await self.conn.execute("ROLLBACK", timeout=5.0)
            except (TimeoutError, OSError, asyncpg.InterfaceError):
                self.conn.terminate()  # the next step connects again (_live)

    async def close(self) -> None:
        """Say goodbye to the server, but never wait long for it: a stop must not hang on
        a server that does not answer (the server ends the session by itself)."""
        try:
            await self.conn.close(timeout=5.0)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self.conn.terminate()


async def open_connection(url: str) -> asyncpg.Connection:
    """The connection domain steps run on. A transaction left open by a frozen process is
    ended by the server after LEASE_SECONDS, so it cannot hold rows from the instance
    that took over (a step is database work only: never that long)."""
    conn = await connect(url)
    await conn.execute("SET idle_in_transaction_session_timeout = "
                       f"'{int(LEASE_SECONDS * 1000)}ms'")
    return conn


async def connect(url: str) -> asyncpg.Connection:
    """A connection, or ConnectionError naming the server without its password."""
    try:
        return await asyncpg.connect(url, timeout=10)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        raise ConnectionError(f"cannot connect to {safe_url(url)} "
                              f"({type(exc).__name__})") from None


# --- migrations -----------------------------------------------------------------------

_TRIGGER = re.compile(
    r"CREATE\s+TRIGGER\s+(?P<name>\w+)\s+(?P<timing>(BEFORE|AFTER)\s+\w+(\s+OF\s+[\w\s,]+?)?)"
    r"\s+ON\s+(?P<table>\w+)\s*(WHEN\s+(?P<when>.*?))?\s*BEGIN\s+SELECT\s+RAISE\s*\(\s*ABORT"
    r"\s*,\s*'(?P<msg>[^']*)'\s*\)\s*;\s*END\s*;?\s*$", re.I | re.S)


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] if "'" not in line.split("--", 1)[0]
                     or line.count("'") % 2 == 0 else line for line in sql.splitlines())


def _personal_to_text(table: str, body: str) -> str:
    for column in PERSONAL.get(table, {}):
        body = re.sub(rf"(\b{column}\s+)(REAL|INTEGER|BLOB|TEXT)\b", r"\1TEXT", body, flags=re.I)
    return body


def translate_ddl(statement: str) -> str:
    """One statement of a SQLite migration as PostgreSQL; ValueError if no rule fits
    (then the migration needs a file in storage/migrations/postgres/)."""
    sql = _strip_comments(statement).strip()
    trigger = _TRIGGER.match(sql)
    if trigger:
        when = trigger["when"]
        if when and re.search(r"\bjson_\w+\s*\(|\bjson\s*\(", when, re.I):
            raise ValueError(f"trigger {trigger['name']} uses SQLite's JSON functions")
        name, cond = trigger["name"], f" WHEN ({when.strip()})" if when else ""
        msg = trigger["msg"]
        return (f"CREATE OR REPLACE FUNCTION {name}_fn() RETURNS trigger LANGUAGE plpgsql AS"
                f" $fn$ BEGIN RAISE EXCEPTION '{msg}'; END $fn$;\n"
                f"CREATE TRIGGER {name} {trigger['timing']} ON {trigger['table']}"
                f" FOR EACH ROW{cond} EXECUTE FUNCTION {name}_fn()")
    if re.match(r"CREATE\s+TRIGGER", sql, re.I):
        raise ValueError("a trigger the rules do not know")
    drop = re.match(r"DROP\s+TRIGGER\s+(IF\s+EXISTS\s+)?(\w+)\s*;?$", sql, re.I)
    if drop:  # PostgreSQL wants the table: look it up
        name = drop[2]
        return (f"DO $do$ DECLARE t text; BEGIN SELECT tgrelid::regclass::text INTO t"
                f" FROM pg_trigger WHERE tgname = '{name}' AND NOT tgisinternal;"
                f" IF t IS NOT NULL THEN EXECUTE format('DROP TRIGGER %I ON %s', '{name}', t);"
                f" END IF; END $do$")
    table = re.match(r"(CREATE\s+TABLE|ALTER\s+TABLE)\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)", sql, re.I)
    if table:
        sql = _personal_to_text(table[3], sql)
    sql = re.sub(r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?\b",
                 "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", sql, flags=re.I)
    sql = re.sub(r"\bINTEGER\b", "BIGINT", sql, flags=re.I)
    sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql, flags=re.I)
    sql = re.sub(r"\bBLOB\b", "BYTEA", sql, flags=re.I)
    return translate(sql)


def overrides() -> dict[int, str]:
    """The migrations PostgreSQL takes from its own file, by number."""
    found: dict[int, str] = {}
    folder = resources.files("storage.migrations").joinpath("postgres")
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.name.endswith(".sql") and entry.name[:4].isdigit():
                found[int(entry.name[:4])] = entry.read_text(encoding="utf-8")
    return found


def migration_script(number: int, sqlite_sql: str, statements: list[str]) -> list[str]:
    """The PostgreSQL statements of migration ``number``."""
    own = overrides().get(number)
    if own is not None:
        return [own]
    try:
        return [translate_ddl(s) for s in statements]
    except ValueError as exc:
        raise ValueError(f"migration {number:04d} cannot be translated for PostgreSQL "
                         f"({exc}); add storage/migrations/postgres/{number:04d}_*.sql") from None


async def schema_version(conn: asyncpg.Connection) -> int:
    await conn.execute("CREATE TABLE IF NOT EXISTS qorgau_schema (version BIGINT NOT NULL)")
    value = await conn.fetchval("SELECT max(version) FROM qorgau_schema")
    return int(value or 0)


# --- leadership -----------------------------------------------------------------------


class Leadership:
    """Which of the instances on one PostgreSQL database is the leader: the one holding a
    session advisory lock on its own connection. The server ends a session that said
    nothing for LEASE_SECONDS (idle_session_timeout), which frees the lock of a killed,
    frozen or cut-off leader; the leader says something every HEARTBEAT_SECONDS and trusts
    itself only TRUST_SECONDS after its last heartbeat was *sent*: by then it stops
    sending, before the server can have let another instance take over. The lock can also
    go at once (the connection cut, the server restarted): so each heartbeat also writes,
    by the database's clock, when its trust ends, and a new leader waits until then before
    it sends (at most TRUST_SECONDS; nothing after a clean stop, which clears it).
    Frozen leader: taken over after at most LEASE + RETRY + TRUST = 9 s."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.role = "standby"
        self._conn: asyncpg.Connection | None = None
        self._trusted_until = 0.0  # time.monotonic()
        self._renewed = asyncio.Event()  # set at each heartbeat answered

    async def acquire(self, stopped: asyncio.Event) -> bool:
        """Wait until this instance leads (True) or ``stopped`` is set (False)."""
        told = False
        while not stopped.is_set():
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await connect(self.url)
                    await self._conn.execute(
                        f"SET idle_session_timeout = '{int(LEASE_SECONDS * 1000)}ms'")
                sent = time.monotonic()
                if await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_KEY,
                                             timeout=TRUST_SECONDS):
                    left = min(TRUST_SECONDS, await self._conn.fetchval(_LEFT) or 0.0)
                    if left > 0:
                        log.info("took the leader's lock; waiting %.1f s for the earlier "
                                 "leader to stop", left)
                    if not await self._wait_out(stopped, time.monotonic() + left):
                        await self._drop()
                        return False
                    sent = time.monotonic()
                    await self._conn.execute(_PROVE, TRUST_SECONDS)
                    self._trusted_until = sent + TRUST_SECONDS
                    self.role = "leader"
                    log.info("this instance is the leader")
                    return True
            except (TimeoutError, ConnectionError, OSError, asyncpg.PostgresError,
                    asyncpg.InterfaceError) as exc:
                log.warning("leadership: cannot ask the database (%s)", type(exc).__name__)
                await self._drop()
            if not told:
                log.info("another instance leads; this one is the standby")
                told = True
            try:
                await asyncio.wait_for(stopped.wait(), RETRY_SECONDS)
            except TimeoutError:
                pass
        return False

    async def _wait_out(self, stopped: asyncio.Event, until: float) -> bool:
        """Hold the lock (heartbeats) until ``until``; False if stopped meanwhile."""
        assert self._conn is not None
        while (left := until - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(stopped.wait(), min(left, HEARTBEAT_SECONDS))
                return False
            except TimeoutError:
                pass
            await self._conn.fetchval("SELECT 1", timeout=HEARTBEAT_SECONDS)
        return True

    def trusted(self) -> bool:
        return self.role == "leader" and time.monotonic() < self._trusted_until

    async def fence(self) -> None:
        """Return at once while this instance may send; wait while a heartbeat is late;
        never return once the lock is lost (the process is stepping down)."""
        while not self.trusted():
            self._renewed.clear()
            await self._renewed.wait()

    async def hold(self) -> None:
        """Heartbeat until the lock is lost, then return (the caller steps down)."""
        while True:
            sent = time.monotonic()
            try:
                assert self._conn is not None
                await self._conn.execute(_PROVE, TRUST_SECONDS, timeout=HEARTBEAT_SECONDS)
                self._trusted_until = sent + TRUST_SECONDS
                self._renewed.set()
            except (TimeoutError, OSError, AssertionError, asyncpg.PostgresError,
                    asyncpg.InterfaceError) as exc:
                self.role = "lost"
                log.error("lost the leadership (%s): stopping", type(exc).__name__)
                await self._drop()
                return
            await asyncio.sleep(max(0.0, sent + HEARTBEAT_SECONDS - time.monotonic()))

    async def release(self) -> None:
        """Step down cleanly (the caller has stopped sending): the next leader need not
        wait for this one."""
        if self.role == "leader" and self._conn is not None and not self._conn.is_closed():
            with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError,
                                     asyncpg.InterfaceError):
                await self._conn.execute("DELETE FROM kv WHERE key = 'leader_trusted_until'",
                                         timeout=HEARTBEAT_SECONDS)
        await self._drop()
        if self.role == "leader":
            self.role = "standby"

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()


class Solo:
    """SQLite: one process per file (storage/lock.py), always the leader."""

    role = "leader"

    async def acquire(self, stopped: asyncio.Event) -> bool:
        return True

    def trusted(self) -> bool:
        return True

    async def fence(self) -> None:
        return None

    async def hold(self) -> None:
        await asyncio.Event().wait()

    async def release(self) -> None:
        return None
