"""The storage interface (the only module with SQL), written once in SQLite's dialect.

One connection is shared by the whole process; an asyncio lock gives each domain step its
own transaction (SQLite: ``BEGIN IMMEDIATE``), so steps never interleave and a write never
waits on a lock held by a half-finished read. The connection is a driver
(storage/driver.py): aiosqlite for a file, asyncpg for a ``postgresql://`` URL, which
translates the same statements and migrations (storage/postgres.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from storage import personal, postgres, rekey
from storage.crypto import PERSONAL, Codec, DataKeyError
from storage.driver import Driver, SqliteDriver
from storage.records import (
    Alert,
    AuditEntry,
    Board,
    CheckIn,
    Due,
    Event,
    HeldInput,
    LiveShare,
    OutboxRow,
    Person,
    Phone,
    PinState,
    SmsCandidate,
    SmsOut,
    Timer,
)

_PERSON_COLUMNS = {
    "role", "display_name", "region", "language", "serves_regions", "speaks",
    "share_location", "step", "on_call", "on_call_until", "discreet",
}
# The placeholder reporter of anonymised alerts (see migration 0008): Telegram has no user 0.
ERASED = 0
_ALERT_COLUMNS = {
    "state", "region", "lat", "lon", "accuracy_m", "located_at", "urgent", "wave",
    "acknowledged_by", "acknowledged_at", "claimed_by", "claimed_at", "last_update_at",
    "safe_at", "closed_at", "outcome", "duress_at",
    "concealed", "missed_checkin_at",
}
_PIN_COLUMNS = {
    "pin_hash", "duress_hash", "pending_hash", "awaiting", "awaiting_alert", "awaiting_since",
    "fake", "failures", "first_failure_at", "locked_until",
}

_PHONE_COLUMNS = {"code_word", "code_hash", "code_sent_at", "code_failures", "confirmed_at",
                  "sms_paging"}


def _migrations() -> list[tuple[int, str]]:
    """The numbered ``NNNN_*.sql`` files shipped in storage/migrations, in order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def _person(row: dict[str, Any]) -> Person:
    return Person(
        user_id=row["user_id"], role=row["role"], display_name=row["display_name"],
        region=row["region"], language=row["language"],
        serves_regions=tuple(r for r in row["serves_regions"].split(",") if r),
        speaks=tuple(s for s in row["speaks"].split(",") if s),
        share_location=bool(row["share_location"]), step=row["step"],
        on_call=bool(row["on_call"]), on_call_until=row["on_call_until"],
        created_at=row["created_at"], discreet=bool(row["discreet"]),
    )


def _alert(data: dict[str, Any]) -> Alert:
    data["urgent"] = bool(data["urgent"])
    data["concealed"] = bool(data.get("concealed"))
    return Alert(**data)


def _phone(row: dict[str, Any]) -> Phone:
    return Phone(row["user_id"], row["number"], row["code_word"], row["code_hash"],
                 row["code_sent_at"], row["code_failures"], row["confirmed_at"],
                 row["sms_paging"])


def _sms(row: dict[str, Any]) -> SmsOut:
    return SmsOut(row["id"], row["user_id"], row["alert_id"], row["kind"], row["number"],
                  row["text"], row["state"], row["attempts"], row["created_at"])


def _outbox(row: dict[str, Any]) -> OutboxRow:
    return OutboxRow(
        id=row["id"], chat_id=row["chat_id"], alert_id=row["alert_id"], kind=row["kind"],
        priority=row["priority"], state=row["state"], payload=row["payload"],
        target_id=row["target_id"], attempts=row["attempts"], not_before=row["not_before"],
        created_at=row["created_at"], message_id=row["message_id"],
    )


def _one_per_message(rows: list[OutboxRow]) -> list[OutboxRow]:
    """The first row of each Telegram message (a bundle is several rows, one message)."""
    first: dict[int | None, OutboxRow] = {}
    for r in rows:
        first.setdefault(r.message_id, r)
    return list(first.values())


def _values(fields: dict[str, Any], allowed: set[str]) -> list[Any]:
    """Column values, checked against the known columns (names are put into SQL text)."""
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown columns: {sorted(unknown)}")
    return [",".join(v) if isinstance(v, tuple) else v for v in fields.values()]


def _assignments(fields: dict[str, Any], allowed: set[str]) -> tuple[str, list[Any]]:
    return ", ".join(f"{k} = ?" for k in fields), _values(fields, allowed)


class Tx:
    """One transaction: every query the domain needs, by what it means, not how it is stored."""

    def __init__(self, db: Driver, codec: Codec) -> None:
        self._db = db  # aiosqlite or asyncpg behind one interface (storage/driver.py)
        self.written_events: list[tuple[int, str]] = []  # (alert, kind) written: logged on commit
        self._codec = codec

    def _seal(self, table: str, column: str, value: Any) -> Any:
        if value is None or column not in PERSONAL[table]:
            return value
        text = repr(float(value)) if PERSONAL[table][column] is float else str(value)
        return self._codec.seal(text, f"{table}.{column}")

    def _sealed(self, table: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Column values on their way into ``table``, personal ones sealed."""
        return {k: self._seal(table, k, v) for k, v in fields.items()}

    def _opened(self, table: str, row: aiosqlite.Row) -> dict[str, Any]:
        """A row of ``table`` as a dict, personal columns opened to their plain type."""
        data = dict(row)
        for column, kind in PERSONAL[table].items():
            value = data.get(column)
            if value is not None:
                data[column] = kind(self._codec.open(value, f"{table}.{column}"))
        return data

    async def _one(self, sql: str, args: Sequence[Any] = ()) -> aiosqlite.Row | None:
        return next(iter(await self._all(sql, args)), None)

    async def _all(self, sql: str, args: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        return await self._db.fetch(sql, args)

    async def _exec(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement; return the rows it changed (or the new row id for INSERT)."""
        return await self._db.run(sql, args)

    # --- people -------------------------------------------------------------------------

    async def person(self, user_id: int) -> Person | None:
        row = await self._one("SELECT * FROM people WHERE user_id = ?", (user_id,))
        return _person(self._opened("people", row)) if row else None

    async def ensure_person(self, user_id: int, now: float, language: str, role: str) -> Person:
        """The person's row, created (unregistered) on first contact."""
        await self._exec(
            "INSERT OR IGNORE INTO people (user_id, role, language, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (user_id, role, language, now, now),
        )
        person = await self.person(user_id)
        assert person is not None
        return person

    async def update_person(self, user_id: int, now: float, **fields: Any) -> None:
        sets, values = _assignments(self._sealed("people", fields), _PERSON_COLUMNS)
        await self._exec(
            f"UPDATE people SET {sets}, updated_at = ? WHERE user_id = ?",
            (*values, now, user_id),
        )

    async def pin_state(self, user_id: int) -> PinState | None:
        row = await self._one("SELECT * FROM pins WHERE user_id = ?", (user_id,))
        if row is None:
            return None
        data = dict(row)
        data["fake"] = bool(data["fake"])
        return PinState(**data)

    async def update_pins(self, user_id: int, **fields: Any) -> None:
        """Change a person's PIN row (created on first use)."""
        sets, values = _assignments(fields, _PIN_COLUMNS)
        await self._exec("INSERT OR IGNORE INTO pins (user_id) VALUES (?)", (user_id,))
        await self._exec(f"UPDATE pins SET {sets} WHERE user_id = ?", (*values, user_id))

    async def staff(self) -> list[Person]:
        """Registered lawyers and coordinators: everyone an alert may be routed to."""
        rows = await self._all(
            "SELECT * FROM people WHERE step = 'done' AND role IN ('lawyer', 'coordinator')"
            " ORDER BY user_id"
        )
        return [_person(self._opened("people", r)) for r in rows]

    async def people(self, role: str | None = None) -> list[Person]:
        """Registered people, optionally of one role."""
        sql, args = "SELECT * FROM people WHERE step = 'done'", list[Any]()
        if role is not None:
            sql += " AND role = ?"
            args.append(role)
        return [_person(self._opened("people", r))
                for r in await self._all(sql + " ORDER BY user_id", args)]

    # --- alerts -------------------------------------------------------------------------

    async def alert(self, alert_id: int) -> Alert | None:
        row = await self._one("SELECT * FROM alerts WHERE id = ?", (alert_id,))
        return _alert(self._opened("alerts", row)) if row else None

    async def open_alert_of(self, reporter_id: int) -> Alert | None:
        row = await self._one(
            "SELECT * FROM alerts WHERE reporter_id = ? AND state != 'closed'", (reporter_id,)
        )
        return _alert(self._opened("alerts", row)) if row else None

    async def open_alerts(self) -> list[Alert]:
        rows = await self._all("SELECT * FROM alerts WHERE state != 'closed' ORDER BY id")
        return [_alert(self._opened("alerts", r)) for r in rows]

    async def alerts_since(self, since: float) -> list[Alert]:
        rows = await self._all("SELECT * FROM alerts WHERE created_at >= ? ORDER BY id", (since,))
        return [_alert(self._opened("alerts", r)) for r in rows]

    async def unreached_alerts(self) -> list[Alert]:
        """Alerts that paged nobody because no lawyer or coordinator existed, and that
        coordinators were not yet told of (an ``unreached_told`` event marks the telling; a
        ``held`` alert was left to coordinators on purpose and told to them then)."""
        rows = await self._all(
            "SELECT * FROM alerts a WHERE NOT EXISTS"
            " (SELECT 1 FROM alert_recipients r WHERE r.alert_id = a.id) AND NOT EXISTS"
            " (SELECT 1 FROM alert_events e WHERE e.alert_id = a.id"
            " AND e.kind IN ('unreached_told', 'held')) ORDER BY id")
        return [_alert(self._opened("alerts", r)) for r in rows]

    async def create_alert(self, reporter_id: int, now: float, **fields: Any) -> int:
        names = ["reporter_id", "created_at", *fields]
        marks = ", ".join("?" for _ in names)
        return await self._exec(
            f"INSERT INTO alerts ({', '.join(names)}) VALUES ({marks})",
            (reporter_id, now, *_values(self._sealed("alerts", fields), _ALERT_COLUMNS)),
        )

    async def update_alert(self, alert_id: int, **fields: Any) -> None:
        sets, values = _assignments(self._sealed("alerts", fields), _ALERT_COLUMNS)
        await self._exec(f"UPDATE alerts SET {sets} WHERE id = ?", (*values, alert_id))

    async def acknowledge(self, alert_id: int, lawyer_id: int, now: float) -> bool:
        """Record the first acknowledgement; False if someone already acknowledged."""
        changed = await self._exec(
            "UPDATE alerts SET state = CASE WHEN state = 'open' THEN 'acknowledged' ELSE state END,"
            " acknowledged_by = ?, acknowledged_at = ?"
            " WHERE id = ? AND acknowledged_by IS NULL AND state != 'closed'",
            (lawyer_id, now, alert_id),
        )
        return changed == 1

    async def claim(self, alert_id: int, lawyer_id: int, now: float) -> bool:
        """Atomically make ``lawyer_id`` the one holder; False if the case is taken or closed."""
        changed = await self._exec(
            "UPDATE alerts SET state = 'claimed', claimed_by = ?, claimed_at = ?,"
            " last_update_at = ?,"
            " acknowledged_by = COALESCE(acknowledged_by, ?),"
            " acknowledged_at = COALESCE(acknowledged_at, ?)"
            " WHERE id = ? AND claimed_by IS NULL AND state != 'closed'",
            (lawyer_id, now, now, lawyer_id, now, alert_id),
        )
        return changed == 1

    # --- timeline and recipients --------------------------------------------------------

    async def add_event(
        self, alert_id: int, at: float, kind: str, actor_id: int | None = None,
        **detail: Any,
    ) -> None:
        await self._exec(
            "INSERT INTO alert_events (alert_id, at, kind, actor_id, detail) VALUES (?,?,?,?,?)",
            (alert_id, at, kind, actor_id, self._detail(detail)),
        )
        self.written_events.append((alert_id, kind))

    def _detail(self, detail: dict[str, Any]) -> str:
        return str(self._seal("alert_events", "detail", json.dumps(detail, ensure_ascii=False)))

    async def events(self, alert_id: int) -> list[Event]:
        rows = await self._all(
            "SELECT * FROM alert_events WHERE alert_id = ? ORDER BY id", (alert_id,)
        )
        return [
            Event(r["id"], r["alert_id"], r["at"], r["kind"], r["actor_id"],
                  json.loads(r["detail"]))
            for r in (self._opened("alert_events", row) for row in rows)
        ]

    async def payloads_for(self, alert_id: int, chat_id: int, kind: str) -> list[str]:
        """What was queued for one chat about one alert, of one kind, in any state: lets a
        step see what a person was already given (e.g. which media were copied to them)."""
        rows = await self._all(
            "SELECT payload FROM outbox WHERE alert_id = ? AND chat_id = ? AND kind = ?"
            " ORDER BY id", (alert_id, chat_id, kind),
        )
        return [self._codec.open(r[0], "outbox.payload") for r in rows]

    async def add_recipients(
        self, alert_id: int, user_ids: Iterable[int], wave: int, now: float
    ) -> None:
        await self._db.executemany(
            "INSERT OR IGNORE INTO alert_recipients (alert_id, user_id, wave, added_at)"
            " VALUES (?, ?, ?, ?)",
            [(alert_id, uid, wave, now) for uid in user_ids],
        )

    async def recipients(self, alert_id: int) -> list[int]:
        rows = await self._all(
            "SELECT user_id FROM alert_recipients WHERE alert_id = ? ORDER BY added_at, user_id",
            (alert_id,),
        )
        return [r[0] for r in rows]

    async def was_notified(self, alert_id: int, user_id: int) -> bool:
        row = await self._one(
            "SELECT 1 FROM alert_recipients WHERE alert_id = ? AND user_id = ?",
            (alert_id, user_id),
        )
        return row is not None

    # --- outbox -------------------------------------------------------------------------

    async def enqueue(
        self, chat_id: int, kind: str, priority: int, payload: str, now: float,
        alert_id: int | None = None, target_id: int | None = None,
    ) -> int:
        """Write one outgoing message as pending. An edit supersedes older pending edits."""
        if target_id is not None:
            await self._exec(
                "UPDATE outbox SET state = 'superseded'"
                " WHERE target_id = ? AND state = 'pending'",
                (target_id,),
            )
        return await self._exec(
            "INSERT INTO outbox (chat_id, alert_id, kind, priority, payload, target_id,"
            " not_before, created_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
            (chat_id, alert_id, kind, priority, self._seal("outbox", "payload", payload),
             target_id, now),
        )

    async def enqueue_many(
        self, messages: Sequence[tuple[int, str, int, str]], now: float, alert_id: int | None
    ) -> None:
        """Write many new messages (chat, kind, priority, payload) in one statement. Equal
        payloads (the same pin for 50 lawyers) are sealed once: the same ciphertext in
        several rows tells nothing their kind and alert did not, and it halves an alert's
        encryption cost."""
        sealed = {p: self._seal("outbox", "payload", p) for p in {m[3] for m in messages}}
        await self._db.executemany(
            "INSERT INTO outbox (chat_id, alert_id, kind, priority, payload, not_before,"
            " created_at) VALUES (?, ?, ?, ?, ?, 0, ?)",
            [(chat, alert_id, kind, prio, sealed[payload], now)
             for chat, kind, prio, payload in messages],
        )

    async def outbox_row(self, row_id: int) -> OutboxRow | None:
        row = await self._one("SELECT * FROM outbox WHERE id = ?", (row_id,))
        return _outbox(self._opened("outbox", row)) if row else None

    async def outbox_rows(self, row_ids: Sequence[int]) -> list[OutboxRow]:
        marks = ",".join("?" for _ in row_ids)
        rows = await self._all(f"SELECT * FROM outbox WHERE id IN ({marks}) ORDER BY id",
                               list(row_ids))
        return [_outbox(self._opened("outbox", r)) for r in rows]

    async def sent_rows(self, alert_id: int, kind: str | None = None) -> list[OutboxRow]:
        """Rows already delivered for an alert (e.g. to edit the notices in place)."""
        sql = "SELECT * FROM outbox WHERE alert_id = ? AND state IN ('sent', 'pending')"
        args: list[Any] = [alert_id]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        return [_outbox(self._opened("outbox", r))
                for r in await self._all(sql + " ORDER BY id", args)]

    async def rows_with_message(self, chat_id: int, message_id: int) -> list[OutboxRow]:
        """The (possibly coalesced) rows that became one Telegram message."""
        rows = await self._all(
            "SELECT * FROM outbox WHERE chat_id = ? AND message_id = ? AND target_id IS NULL"
            " ORDER BY id",
            (chat_id, message_id),
        )
        return [_outbox(self._opened("outbox", r)) for r in rows]

    async def record_incoming(self, chat_id: int, message_id: int, now: float) -> None:
        """Keep the id of a message a person sent, so that it can be deleted later like one
        of the bot's own (discreet mode): a row already 'sent', never sent by the worker."""
        await self._exec(
            "INSERT INTO outbox (chat_id, kind, priority, state, payload, not_before,"
            " created_at, message_id) VALUES (?, 'incoming', 0, 'sent', ?, 0, ?, ?)",
            (chat_id, self._seal("outbox", "payload", "{}"), now, message_id),
        )

    async def take_chat_messages(self, chat_id: int, since: float) -> list[OutboxRow]:
        """Every message in a private chat the bot may still delete (its own, and those a
        person sent that were kept), one row per Telegram message, re-kinded 'cleared' so
        that they are taken once; those older than ``since`` are taken too but not returned
        (Telegram no longer lets them be deleted). What is still queued for the chat is
        never sent (deletions queued before, of the bot's or the person's messages, excepted)."""
        await self._exec(
            "UPDATE outbox SET state = 'superseded', error = 'cleared'"
            " WHERE chat_id = ? AND state = 'pending' AND kind NOT IN ('delete', 'erase')",
            (chat_id,))
        rows = [_outbox(self._opened("outbox", r)) for r in await self._all(
            "SELECT * FROM outbox WHERE chat_id = ? AND state = 'sent' AND target_id IS NULL"
            " AND message_id IS NOT NULL AND kind != 'cleared' ORDER BY id",
            (chat_id,),
        )]
        await self._db.executemany("UPDATE outbox SET kind = 'cleared' WHERE id = ?",
                                   [(r.id,) for r in rows])
        return [r for r in _one_per_message(rows) if r.created_at > since]

    async def forget_cleared(self, chat_id: int) -> int:
        """Forget the message ids of a chat's cleared messages once no deletion of them is
        still queued; returns how many deletions are still queued (then ask again later)."""
        left = await self._one(
            "SELECT COUNT(*) FROM outbox WHERE chat_id = ? AND kind = 'delete'"
            " AND state = 'pending'", (chat_id,))
        if left and left[0]:
            return int(left[0])
        await self._exec(
            "UPDATE outbox SET message_id = NULL WHERE chat_id = ? AND message_id IS NOT NULL"
            " AND (kind = 'cleared' OR (kind = 'delete' AND target_id IN"
            " (SELECT id FROM outbox WHERE chat_id = ? AND kind = 'cleared')))",
            (chat_id, chat_id))
        return 0

    async def forget_incoming(self, chat_id: int) -> None:
        """Forget the kept ids of what a person sent (discreet mode turned off)."""
        await self._exec("UPDATE outbox SET message_id = NULL WHERE chat_id = ?"
                         " AND kind = 'incoming'", (chat_id,))

    async def retire_rows(self, kind: str, *, alert_id: int | None = None,
                          chat_id: int | None = None) -> list[OutboxRow]:
        """Messages of one kind (of an alert, or in a chat) about to change for the last
        time: returned (sent, or still pending: perhaps in flight) and re-kinded
        'withdrawn', so that nothing else edits them again."""
        where = "kind = ?"
        args: list[Any] = [kind]
        if alert_id is not None:
            where, args = where + " AND alert_id = ?", [*args, alert_id]
        if chat_id is not None:
            where, args = where + " AND chat_id = ?", [*args, chat_id]
        rows = [_outbox(self._opened("outbox", r)) for r in await self._all(
            f"SELECT * FROM outbox WHERE {where} AND state IN ('sent', 'pending')"
            " AND target_id IS NULL ORDER BY id", args)]
        await self._db.executemany("UPDATE outbox SET kind = 'withdrawn' WHERE id = ?",
                                   [(r.id,) for r in rows])
        return rows

    async def mark_sent(self, row_ids: Sequence[int], message_id: int | None, now: float) -> None:
        await self._db.executemany(
            "UPDATE outbox SET state = 'sent', message_id = ?, sent_at = ?, error = NULL,"
            " attempts = attempts + 1 WHERE id = ? AND state = 'pending'",
            [(message_id, now, i) for i in row_ids],
        )

    async def mark_retry(self, row_ids: Sequence[int], not_before: float, error: str) -> None:
        await self._db.executemany(
            "UPDATE outbox SET state = 'pending', not_before = ?, error = ?,"
            " attempts = attempts + 1 WHERE id = ? AND state = 'pending'",
            [(not_before, error, i) for i in row_ids],
        )

    async def mark_failed(self, row_ids: Sequence[int], error: str) -> None:
        await self._db.executemany(
            "UPDATE outbox SET state = 'failed', error = ?, attempts = attempts + 1"
            " WHERE id = ? AND state = 'pending'",
            [(error, i) for i in row_ids],
        )

    async def set_payload(self, row_id: int, payload: str) -> None:
        # A new payload (an edit landed on a redacted message) is redacted again by the purge.
        await self._exec("UPDATE outbox SET payload = ?, redacted = 0 WHERE id = ?",
                         (self._seal("outbox", "payload", payload), row_id))

    async def outbox_counts(self) -> dict[str, int]:
        rows = await self._all("SELECT state, COUNT(*) FROM outbox GROUP BY state")
        return {r[0]: r[1] for r in rows}

    async def oldest_pending_at(self) -> float | None:
        """When the oldest message still waiting to go was written (None: nothing waits)."""
        row = await self._one("SELECT MIN(created_at) FROM outbox WHERE state = 'pending'")
        return float(row[0]) if row and row[0] is not None else None

    async def alerts_raised_between(self, start: float, end: float) -> int:
        row = await self._one(
            "SELECT COUNT(*) FROM alerts WHERE created_at >= ? AND created_at <= ?",
            (start, end))
        return int(row[0]) if row else 0

    async def alert_counts(self) -> dict[str, int]:
        rows = await self._all("SELECT state, COUNT(*) FROM alerts GROUP BY state")
        return {r[0]: r[1] for r in rows}

    async def alert_response_times(self) -> tuple[list[float], list[float]]:
        """Seconds from each alert to its acknowledgement, and to its claim (for the
        /metrics histograms; an alert neither acknowledged nor claimed is in neither)."""
        rows = await self._all(
            "SELECT acknowledged_at - created_at, claimed_at - created_at FROM alerts"
            " WHERE acknowledged_at IS NOT NULL OR claimed_at IS NOT NULL")
        return ([max(0.0, r[0]) for r in rows if r[0] is not None],
                [max(0.0, r[1]) for r in rows if r[1] is not None])

    async def set_board(self, chat_id: int, by: int, message_row: int, now: float) -> None:
        """A group's board is (now) this message; a second /board replaces the first."""
        await self._exec(
            "INSERT INTO boards (chat_id, set_by, message_row, page, drawn_at)"
            " VALUES (?, ?, ?, 0, ?) ON CONFLICT (chat_id) DO UPDATE SET"
            " set_by = excluded.set_by, message_row = excluded.message_row, page = 0,"
            " drawn_at = excluded.drawn_at",
            (chat_id, by, message_row, now))

    async def board(self, chat_id: int) -> Board | None:
        row = await self._one("SELECT * FROM boards WHERE chat_id = ?", (chat_id,))
        return Board(**dict(row)) if row else None

    async def boards(self) -> list[Board]:
        return [Board(**dict(r)) for r in await self._all("SELECT * FROM boards ORDER BY chat_id")]

    async def update_board(self, chat_id: int, **fields: Any) -> None:
        sets, values = _assignments(fields, {"message_row", "page", "drawn_at"})
        await self._exec(f"UPDATE boards SET {sets} WHERE chat_id = ?", (*values, chat_id))

    async def was_pinned(self, target_id: int) -> bool:
        """Whether Telegram took a request to pin this outbox row's message."""
        row = await self._one("SELECT 1 FROM outbox WHERE target_id = ? AND kind = ?"
                              " AND state = 'sent'", (target_id, "pin_message"))
        return row is not None

    async def drop_board(self, chat_id: int) -> None:
        await self._exec("DELETE FROM boards WHERE chat_id = ?", (chat_id,))

    async def last_actions(self) -> dict[int, float]:
        """When each person last did something on an alert's timeline (a lawyer's last
        response, for /lawyers)."""
        rows = await self._all("SELECT actor_id, MAX(at) FROM alert_events"
                               " WHERE actor_id IS NOT NULL GROUP BY actor_id")
        return {int(r[0]): float(r[1]) for r in rows}

    async def delete_value(self, key: str) -> None:
        await self._exec("DELETE FROM kv WHERE key = ?", (key,))

    async def outbox_since(self, after_id: int, limit: int) -> tuple[list[Due], int]:
        """The pending ones among the next ``limit`` rows written after ``after_id``, without
        payloads, and the highest id looked at. The delivery worker keeps its queue in
        memory and reads each new row once, by a range of the primary key, instead of
        rescanning every pending row on each pass."""
        rows = await self._all(
            "SELECT id, chat_id, kind, priority, target_id, attempts, length(payload),"
            " not_before, alert_id, created_at, state = 'pending' FROM outbox WHERE id > ?"
            " ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [self._due(r[:10]) for r in rows if r[10]], (rows[-1][0] if rows else after_id)

    async def pending_outbox(self) -> tuple[list[Due], int]:
        """Every pending row, without payloads, and the highest id in the outbox (the
        worker's periodic re-read of its whole queue)."""
        rows = await self._all(
            "SELECT id, chat_id, kind, priority, target_id, attempts, length(payload),"
            " not_before, alert_id, created_at FROM outbox WHERE state = 'pending' ORDER BY id"
        )
        last = await self._one("SELECT MAX(id) FROM outbox")
        return [self._due(r) for r in rows], int(last[0] or 0) if last else 0

    def _due(self, r: Sequence[Any]) -> Due:
        """A planning row; its size is the plain payload's, estimated from the sealed one."""
        return Due(r[0], r[1], r[2], r[3], r[4], r[5], self._codec.plain_size(r[6]), r[7], r[8],
                   r[9])

    async def pending_edits(self, target_id: int) -> int:
        """Edits of one message still queued (or in flight)."""
        row = await self._one(
            "SELECT COUNT(*) FROM outbox WHERE target_id = ? AND state = 'pending'",
            (target_id,),
        )
        return int(row[0]) if row else 0

    async def pending_for(self, chat_id: int, alert_id: int, kind: str) -> int:
        """Messages of one kind about one alert still queued for one chat (a pin asked for
        twice goes once)."""
        row = await self._one(
            "SELECT COUNT(*) FROM outbox WHERE chat_id = ? AND alert_id = ? AND kind = ?"
            " AND state = 'pending'",
            (chat_id, alert_id, kind),
        )
        return int(row[0]) if row else 0

    # --- timers -------------------------------------------------------------------------

    async def set_timer(self, kind: str, subject_id: int, due_at: float) -> None:
        await self._exec(
            "INSERT INTO timers (kind, subject_id, due_at) VALUES (?, ?, ?)"
            " ON CONFLICT (kind, subject_id) DO UPDATE SET due_at = excluded.due_at",
            (kind, subject_id, due_at),
        )

    async def clear_timer(self, kind: str, subject_id: int) -> None:
        await self._exec("DELETE FROM timers WHERE kind = ? AND subject_id = ?", (kind, subject_id))

    async def timer(self, kind: str, subject_id: int) -> Timer | None:
        row = await self._one(
            "SELECT * FROM timers WHERE kind = ? AND subject_id = ?", (kind, subject_id)
        )
        return Timer(row["kind"], row["subject_id"], row["due_at"]) if row else None

    async def is_due(self, kind: str, subject_id: int, now: float, take: bool = True) -> bool:
        """Whether this timer row is still there and due (not cleared or moved later by
        what happened meanwhile); ``take``: and clear it, as the step that handles it."""
        timer = await self.timer(kind, subject_id)
        if timer is None or timer.due_at > now:
            return False
        if take:
            await self.clear_timer(kind, subject_id)
        return True

    # --- check-in timers and live shares --------------------------------------------------

    async def start_checkin(self, user_id: int, now: float, due_at: float) -> int:
        """A new running check-in for ``user_id`` (the caller ended any earlier one)."""
        return await self._exec(
            "INSERT INTO checkins (user_id, started_at, due_at) VALUES (?, ?, ?)",
            (user_id, now, due_at),
        )

    async def checkin_of(self, user_id: int) -> CheckIn | None:
        row = await self._one("SELECT * FROM checkins WHERE user_id = ?", (user_id,))
        return CheckIn(row["id"], row["user_id"], row["started_at"], row["due_at"]) \
            if row else None

    async def checkin(self, checkin_id: int) -> CheckIn | None:
        row = await self._one("SELECT * FROM checkins WHERE id = ?", (checkin_id,))
        return CheckIn(row["id"], row["user_id"], row["started_at"], row["due_at"]) \
            if row else None

    async def move_checkin(self, checkin_id: int, due_at: float) -> None:
        await self._exec("UPDATE checkins SET due_at = ? WHERE id = ?", (due_at, checkin_id))

    async def end_checkin(self, checkin_id: int) -> None:
        """Forget a check-in and its due times (the row is not kept once it ended)."""
        await self._exec("DELETE FROM checkins WHERE id = ?", (checkin_id,))
        await self._exec(
            "DELETE FROM timers WHERE kind IN ('checkin_due', 'checkin_remind')"
            " AND subject_id = ?", (checkin_id,))

    async def live_share(self, user_id: int) -> LiveShare | None:
        row = await self._one("SELECT * FROM live_shares WHERE user_id = ?", (user_id,))
        return LiveShare(**self._opened("live_shares", row)) if row else None

    async def store_live_share(self, user_id: int, lat: float, lon: float,
                               accuracy_m: float | None, located_at: float, stored_at: float,
                               live_until: float | None) -> None:
        """The newest position of a person's live share (which is live again)."""
        await self._exec(
            "INSERT INTO live_shares (user_id, lat, lon, accuracy_m, located_at, stored_at,"
            " live_until, state) VALUES (?, ?, ?, ?, ?, ?, ?, 'live')"
            " ON CONFLICT (user_id) DO UPDATE SET lat = excluded.lat, lon = excluded.lon,"
            " accuracy_m = excluded.accuracy_m, located_at = excluded.located_at,"
            " stored_at = excluded.stored_at, live_until = excluded.live_until,"
            " state = 'live'",
            (user_id, *self._sealed("live_shares", {"lat": lat, "lon": lon,
                                                    "accuracy_m": accuracy_m}).values(),
             located_at, stored_at, live_until),
        )

    async def set_live_state(self, user_id: int, state: str) -> None:
        await self._exec("UPDATE live_shares SET state = ? WHERE user_id = ?", (state, user_id))

    async def forget_live_share(self, user_id: int) -> None:
        await self._exec("DELETE FROM live_shares WHERE user_id = ?", (user_id,))
        await self._exec("DELETE FROM timers WHERE kind = 'live_check' AND subject_id = ?",
                         (user_id,))

    async def due_timers(self, now: float, limit: int = 100) -> list[Timer]:
        rows = await self._all(
            "SELECT * FROM timers WHERE due_at <= ? ORDER BY due_at LIMIT ?", (now, limit)
        )
        return [Timer(r["kind"], r["subject_id"], r["due_at"]) for r in rows]

    async def next_timer_time(self) -> float | None:
        row = await self._one("SELECT MIN(due_at) FROM timers")
        return row[0] if row else None

    # --- invites, groups, kv ------------------------------------------------------------

    async def add_invite(
        self, code_hash: str, role: str, created_by: int, now: float, expires_at: float
    ) -> None:
        await self._exec(
            "INSERT INTO invites (code_hash, role, created_by, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (code_hash, role, created_by, now, expires_at),
        )

    async def use_invite(self, code_hash: str, user_id: int, now: float) -> str | None:
        """Spend a valid code and return its role; None if wrong, used or expired."""
        row = await self._one(
            "SELECT role FROM invites WHERE code_hash = ? AND used_by IS NULL AND expires_at > ?",
            (code_hash, now),
        )
        if row is None:
            return None
        await self._exec(
            "UPDATE invites SET used_by = ?, used_at = ? WHERE code_hash = ?",
            (user_id, now, code_hash),
        )
        return str(row["role"])

    async def expire_invites_of(self, created_by: int, now: float) -> None:
        """Unused invites of someone whose role was revoked stop working."""
        await self._exec(
            "UPDATE invites SET expires_at = ? WHERE created_by = ? AND used_by IS NULL"
            " AND expires_at > ?",
            (now, created_by, now),
        )

    async def invite_role(self, code_hash: str, now: float) -> str | None:
        """The role a valid code would grant, without spending it (a refused redemption
        leaves the link usable by the person it was meant for)."""
        row = await self._one(
            "SELECT role FROM invites WHERE code_hash = ? AND used_by IS NULL AND expires_at > ?",
            (code_hash, now),
        )
        return str(row["role"]) if row else None

    async def add_audit(self, at: float, kind: str, actor_id: int | None,
                        subject_id: int | None, role: str | None, **detail: Any) -> None:
        await self._exec(
            "INSERT INTO staff_audit (at, kind, actor_id, subject_id, role, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (at, kind, actor_id, subject_id, role, json.dumps(detail, ensure_ascii=False)),
        )

    async def audit_since(self, since: float, limit: int = 200) -> list[AuditEntry]:
        """The newest ``limit`` audit lines since ``since``, oldest first."""
        rows = await self._all(
            "SELECT * FROM (SELECT * FROM staff_audit WHERE at >= ? ORDER BY id DESC LIMIT ?)"
            " AS newest ORDER BY id",
            (since, limit),
        )
        return [AuditEntry(r["id"], r["at"], r["kind"], r["actor_id"], r["subject_id"],
                           r["role"], json.loads(r["detail"])) for r in rows]

    async def cancel_pending_to(self, chat_id: int, reason: str) -> int:
        """Messages still queued for a person cut off from the team are never sent."""
        return await self._exec(
            "UPDATE outbox SET state = 'superseded', error = ?"
            " WHERE chat_id = ? AND state = 'pending'",
            (reason, chat_id),
        )

    async def withdraw_case_messages(self, chat_id: int) -> list[OutboxRow]:
        """Every message delivered to a person about an alert (cards, contact messages,
        forwarded texts, pins, media copies), re-kinded 'withdrawn' so that no later
        refresh of a case ever touches them again. One row per Telegram message is
        returned; a bundle's other parts lose their message id, so the one edit of that
        message shows only what the caller writes into the returned row."""
        rows = [_outbox(self._opened("outbox", r)) for r in await self._all(
            "SELECT * FROM outbox WHERE chat_id = ? AND state = 'sent' AND alert_id IS NOT NULL"
            " AND target_id IS NULL AND kind != 'withdrawn' AND message_id IS NOT NULL"
            " ORDER BY id",
            (chat_id,),
        )]
        first = _one_per_message(rows)
        keep = {r.id for r in first}
        await self._db.executemany(
            "UPDATE outbox SET kind = 'withdrawn', message_id = ? WHERE id = ?",
            [(r.message_id if r.id in keep else None, r.id) for r in rows])
        return first

    async def reassign(self, alert_id: int, from_id: int, to_id: int, now: float) -> bool:
        """Move a held case from one lawyer to another; False if it is no longer
        ``from_id``'s (taken over, released or closed meanwhile)."""
        changed = await self._exec(
            "UPDATE alerts SET claimed_by = ?, claimed_at = ?, last_update_at = ?"
            " WHERE id = ? AND claimed_by = ? AND state = 'claimed'",
            (to_id, now, now, alert_id, from_id),
        )
        return changed == 1

    async def connect_group(self, chat_id: int, by: int, now: float) -> bool:
        changed = await self._exec(
            "INSERT OR IGNORE INTO groups (chat_id, connected_by, connected_at) VALUES (?, ?, ?)",
            (chat_id, by, now),
        )
        return changed != 0

    async def group_language(self, chat_id: int) -> str | None:
        """A connected group's language; None for a group that is not connected."""
        row = await self._one("SELECT language FROM groups WHERE chat_id = ?", (chat_id,))
        return None if row is None else str(row[0])

    async def set_group_language(self, chat_id: int, language: str) -> bool:
        return await self._exec("UPDATE groups SET language = ? WHERE chat_id = ?",
                                (language, chat_id)) == 1

    async def supersede_pending(self, chat_id: int, kind: str) -> int:
        """Drop a chat's queued rows of one kind that a newer row replaces (a command menu)."""
        return await self._exec(
            "UPDATE outbox SET state = 'superseded', error = 'replaced'"
            " WHERE chat_id = ? AND kind = ? AND state = 'pending'", (chat_id, kind))

    async def group_languages(self) -> dict[int, str]:
        """Every connected group's chat id and language."""
        return {int(r[0]): str(r[1]) for r in await self._all(
            "SELECT chat_id, language FROM groups ORDER BY chat_id")}

    async def disconnect_group(self, chat_id: int) -> bool:
        return await self._exec("DELETE FROM groups WHERE chat_id = ?", (chat_id,)) == 1

    async def groups(self) -> list[int]:
        return [r[0] for r in await self._all("SELECT chat_id FROM groups ORDER BY chat_id")]

    async def get_value(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM kv WHERE key = ?", (key,))
        return str(row[0]) if row else None

    async def set_value(self, key: str, value: str) -> None:
        await self._exec(
            "INSERT INTO kv (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def keep_after_delivery(self, residues: Sequence[tuple[int, str]]) -> None:
        """Replace delivered rows' payloads (row id, what the row keeps): a message no
        later edit needs keeps almost nothing of what it said (an invite link: nothing)."""
        await self._db.executemany(
            "UPDATE outbox SET payload = ? WHERE id = ?",
            [(self._seal("outbox", "payload", residue), i) for i, residue in residues])

    # --- processed updates and held input (floods) --------------------------------------

    async def record_updates(self, update_ids: Sequence[int], now: float) -> None:
        """These updates' effects commit with this transaction: never process them again."""
        await self._db.executemany(
            "INSERT OR IGNORE INTO processed_updates (update_id, at) VALUES (?, ?)",
            [(uid, now) for uid in update_ids],
        )

    async def recorded_updates(self, update_ids: Sequence[int]) -> set[int]:
        if not update_ids:
            return set()
        marks = ",".join("?" for _ in update_ids)
        rows = await self._all(
            f"SELECT update_id FROM processed_updates WHERE update_id IN ({marks})",
            list(update_ids))
        return {r[0] for r in rows}

    async def forget_updates(self, before: float) -> int:
        return await self._exec("DELETE FROM processed_updates WHERE at < ?", (before,))

    # --- retention and erasure: storage.personal lists what is personal -----------------

    async def alerts_to_anonymise(self, closed_before: float, limit: int) -> list[int]:
        """Closed alerts, closed before the given time, still linked to their reporter."""
        rows = await self._all(
            "SELECT id FROM alerts WHERE state = 'closed' AND closed_at < ?"
            " AND reporter_id != ? ORDER BY id LIMIT ?", (closed_before, ERASED, limit))
        return [r[0] for r in rows]

    async def closed_alerts_of(self, reporter_id: int) -> list[int]:
        rows = await self._all(
            "SELECT id FROM alerts WHERE reporter_id = ? AND state = 'closed' ORDER BY id",
            (reporter_id,))
        return [r[0] for r in rows]

    async def anonymise_alert(self, alert_id: int, now: float) -> int | None:
        """Remove everything personal about one closed alert: its position, the personal
        fields of its timeline (a recorded redaction the triggers allow), the rows of
        ``personal.ALERT_TABLES``, and the messages to its reporter about it; the alert
        then points at the placeholder reporter 0. Returns the former reporter, or None if
        the alert is open, unknown or anonymous already."""
        alert = await self.alert(alert_id)
        if alert is None or alert.is_open or alert.reporter_id == ERASED:
            return None
        await self._exec(
            "INSERT OR IGNORE INTO people (user_id, role, step, created_at, updated_at)"
            " VALUES (?, 'reporter', 'erased', 0, 0)", (ERASED,))
        nulls = "".join(f", {c} = NULL" for c in personal.ALERT_COLUMNS)
        await self._exec(f"UPDATE alerts SET reporter_id = ?{nulls} WHERE id = ?",
                         (ERASED, alert_id))
        rows = await self._all(
            "SELECT id, actor_id, detail FROM alert_events WHERE alert_id = ?"
            " AND redacted_at IS NULL", (alert_id,))
        await self._db.executemany(
            "UPDATE alert_events SET detail = ?, actor_id = ?, redacted_at = ? WHERE id = ?",
            [(self._detail(personal.redact_detail(json.loads(
                self._opened("alert_events", r)["detail"]))),
              None if r["actor_id"] == alert.reporter_id else r["actor_id"], now, r["id"])
             for r in rows])
        for table, column in personal.ALERT_TABLES.items():
            await self._exec(f"DELETE FROM {table} WHERE {column} = ?", (alert_id,))
        await self._forget_settled("chat_id = ? AND alert_id = ?", (alert.reporter_id, alert_id))
        await self._redact_payloads("o.alert_id = ?", (alert_id,), limit=-1)
        return alert.reporter_id

    async def redact_sent_payloads(self, limit: int) -> int:
        """Settled outbox rows of anonymised alerts (those still pending when their alert
        was anonymised) keep only the shape of their message; returns how many were
        redacted in this batch."""
        return await self._redact_payloads("a.reporter_id = ?", (ERASED,), limit)

    async def _redact_payloads(self, where: str, args: Sequence[Any], limit: int) -> int:
        rows = await self._all(
            "SELECT o.id, o.payload FROM outbox o JOIN alerts a ON a.id = o.alert_id"
            f" WHERE ({where}) AND o.redacted = 0 AND o.state != 'pending' LIMIT ?",
            (*args, limit))
        await self._db.executemany(
            "UPDATE outbox SET payload = ?, redacted = 1 WHERE id = ?",
            [(self._seal("outbox", "payload", personal.redact_payload(
                self._opened("outbox", r)["payload"])), r["id"]) for r in rows])
        return len(rows)

    async def forget_erased_chats(self) -> int:
        """Blank what was still being sent at an erasure: settled messages to people who
        were erased (such as the confirmation, sent after it), and to a reporter about an
        anonymised alert (only its own reporter gets those)."""
        return await self._forget_settled(
            "chat_id > 0 AND (NOT EXISTS (SELECT 1 FROM people p WHERE p.user_id = chat_id"
            " AND p.step != 'erased') OR (alert_id IN (SELECT id FROM alerts WHERE"
            " reporter_id = ?) AND EXISTS (SELECT 1 FROM people p WHERE p.user_id = chat_id"
            " AND p.role = 'reporter')))", (ERASED,))

    async def _forget_settled(self, where: str, args: Sequence[Any]) -> int:
        """Settled outbox rows matching ``where`` keep nothing of their chat or message:
        rows are blanked, not deleted, so that ids never go back (the delivery worker reads
        new rows by id); a row a queued edit still refers to waits for the next purge."""
        return await self._exec(
            "UPDATE outbox SET chat_id = 0, payload = ?, redacted = 1, message_id = NULL,"
            f" error = NULL WHERE state != 'pending' AND ({where}) AND id NOT IN ("
            " SELECT target_id FROM outbox WHERE state = 'pending' AND target_id IS NOT NULL)",
            (self._seal("outbox", "payload", personal.redact_payload("")), *args))

    async def erase_person(self, user_id: int) -> None:
        """Erase a person: the rows of ``personal.PERSON_TABLES``, their timers, the settled
        messages to them (blanked), and their profile; a former lawyer still named as the one who
        acknowledged or claimed an alert keeps an empty row (the alert refers to it)."""
        for table, column in personal.PERSON_TABLES.items():
            await self._exec(f"DELETE FROM {table} WHERE {column} = ?", (user_id,))
        marks = ",".join("?" for _ in personal.PERSON_TIMERS)
        await self._exec(f"DELETE FROM timers WHERE subject_id = ? AND kind IN ({marks})",
                         (user_id, *personal.PERSON_TIMERS))
        await self._forget_settled("chat_id = ?", (user_id,))
        referenced = await self._one(
            "SELECT 1 FROM alerts WHERE reporter_id = ? OR acknowledged_by = ?"
            " OR claimed_by = ? LIMIT 1", (user_id, user_id, user_id))
        if referenced is None:
            await self._exec("DELETE FROM people WHERE user_id = ?", (user_id,))
        else:
            sets = "".join(f", {c} = ?" for c in personal.PERSON_COLUMNS)
            await self._exec(
                f"UPDATE people SET role = 'reporter', step = 'erased'{sets} WHERE user_id = ?",
                (*personal.PERSON_COLUMNS.values(), user_id))

    # --- SMS (issue 13) --------------------------------------------------------------

    def number_hash(self, number: str) -> str:
        """The keyed hash an SMS sender is looked up by (no row is opened to find it)."""
        return self._codec.lookup_hash(number, "phones.number")

    def sms_file_hash(self, name: str) -> str:
        """The keyed hash an inbox file is remembered by (its name holds the number)."""
        return self._codec.lookup_hash(name, "sms_seen.file")

    async def phone(self, user_id: int) -> Phone | None:
        row = await self._one("SELECT * FROM phones WHERE user_id = ?", (user_id,))
        return _phone(self._opened("phones", row)) if row else None

    async def phone_by_number(self, number: str) -> Phone | None:
        """The confirmed phone with this number (the newest confirmation wins)."""
        rows = await self._all(
            "SELECT * FROM phones WHERE number_hash = ? AND confirmed_at IS NOT NULL"
            " ORDER BY confirmed_at DESC", (self.number_hash(number),))
        for row in rows:  # a hash collision is all but impossible, but the number decides
            phone = _phone(self._opened("phones", row))
            if phone.number == number:
                return phone
        return None

    async def set_phone(self, user_id: int, number: str, code_word: str | None,
                        code_hash: str, now: float) -> None:
        """A new number waiting for its code. It replaces the person's number at once,
        unconfirmed: a number they no longer trust must not keep receiving pages."""
        fields = self._sealed("phones", {"number": number, "code_word": code_word})
        await self._exec(
            "INSERT INTO phones (user_id, number, number_hash, code_word, code_hash,"
            " code_sent_at, code_failures, confirmed_at) VALUES (?, ?, ?, ?, ?, ?, 0, NULL)"
            " ON CONFLICT (user_id) DO UPDATE SET number = excluded.number,"
            " number_hash = excluded.number_hash, code_word = excluded.code_word,"
            " code_hash = excluded.code_hash, code_sent_at = excluded.code_sent_at,"
            " code_failures = 0, confirmed_at = NULL",
            (user_id, fields["number"], self.number_hash(number), fields["code_word"],
             code_hash, now))

    async def update_phone(self, user_id: int, **fields: Any) -> None:
        sets, values = _assignments(self._sealed("phones", fields), _PHONE_COLUMNS)
        await self._exec(f"UPDATE phones SET {sets} WHERE user_id = ?", (*values, user_id))

    async def forget_phone(self, user_id: int) -> None:
        await self._exec("DELETE FROM phones WHERE user_id = ?", (user_id,))

    async def take_sms_file(self, name: str, now: float) -> bool:
        """Record an inbox file as taken in; False if it was already (then it changes
        nothing: its effects committed with the first record)."""
        file_hash = self.sms_file_hash(name)
        if await self._one("SELECT 1 FROM sms_seen WHERE file_hash = ?", (file_hash,)):
            return False
        await self._exec("INSERT INTO sms_seen (file_hash, at) VALUES (?, ?)", (file_hash, now))
        return True

    async def sms_file_taken(self, name: str) -> bool:
        row = await self._one("SELECT 1 FROM sms_seen WHERE file_hash = ?",
                              (self.sms_file_hash(name),))
        return row is not None

    async def add_sms(self, user_id: int, number: str, text: str, kind: str, now: float,
                      alert_id: int | None = None) -> int:
        """Queue one outgoing SMS, written as a file by the SMS gateway after the commit."""
        sealed = self._sealed("sms_out", {"number": number, "text": text})
        return await self._exec(
            "INSERT INTO sms_out (user_id, alert_id, kind, number, text, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (user_id, alert_id, kind, sealed["number"], sealed["text"], now))

    async def sms_due(self, now: float, limit: int) -> list[SmsOut]:
        """Pending SMS whose time has come: pages first, then alerts' confirmations, then
        the rest, oldest first (a modem sends a few a minute; a page must not wait behind
        a queue of answers)."""
        rows = await self._all(
            "SELECT * FROM sms_out WHERE state = 'pending' AND not_before <= ?"
            " ORDER BY CASE kind WHEN 'page' THEN 0 WHEN 'received' THEN 1 ELSE 2 END, id"
            " LIMIT ?", (now, limit))
        return [_sms(self._opened("sms_out", r)) for r in rows]

    async def sms_rows(self, state: str) -> list[SmsOut]:
        rows = await self._all("SELECT * FROM sms_out WHERE state = ? ORDER BY id", (state,))
        return [_sms(self._opened("sms_out", r)) for r in rows]

    async def sms_written_since(self, since: float) -> int:
        row = await self._one("SELECT COUNT(*) FROM sms_out WHERE written_at >= ?", (since,))
        return int(row[0]) if row else 0

    async def set_sms_state(self, sms_id: int, state: str, now: float | None = None,
                            not_before: float | None = None, attempt: bool = False) -> None:
        await self._exec(
            "UPDATE sms_out SET state = ?, written_at = COALESCE(?, written_at),"
            " not_before = COALESCE(?, not_before), attempts = attempts + ? WHERE id = ?",
            (state, now, not_before, int(attempt), sms_id))

    async def sms_sent_to(self, alert_id: int, user_id: int, kind: str) -> bool:
        row = await self._one(
            "SELECT 1 FROM sms_out WHERE alert_id = ? AND user_id = ? AND kind = ?",
            (alert_id, user_id, kind))
        return row is not None

    async def sms_page_candidates(self, alert_id: int) -> list[SmsCandidate]:
        """Who was paged for the alert, has a confirmed number and SMS paging on, and has
        not had its SMS page yet; with whether their Telegram card was delivered."""
        rows = await self._all(
            "SELECT r.user_id, r.added_at, p.sms_paging, EXISTS (SELECT 1 FROM outbox o"
            " WHERE o.alert_id = r.alert_id AND o.chat_id = r.user_id AND o.kind = 'alert'"
            " AND o.state = 'sent') AS delivered FROM alert_recipients r"
            " JOIN phones p ON p.user_id = r.user_id WHERE r.alert_id = ?"
            " AND p.confirmed_at IS NOT NULL AND p.sms_paging != 'never'"
            " AND NOT EXISTS (SELECT 1 FROM sms_out s WHERE s.alert_id = r.alert_id"
            " AND s.user_id = r.user_id AND s.kind = 'page') ORDER BY r.added_at, r.user_id",
            (alert_id,))
        return [SmsCandidate(r[0], r[1], r[2], bool(r[3])) for r in rows]

    async def add_events(self, events: Sequence[tuple[int, float, str, int | None,
                                                      dict[str, Any]]]) -> None:
        """Many timeline events (alert, at, kind, actor, detail) in one statement."""
        await self._db.executemany(
            "INSERT INTO alert_events (alert_id, at, kind, actor_id, detail) VALUES (?,?,?,?,?)",
            [(a, at, kind, actor, self._detail(detail))
             for a, at, kind, actor, detail in events],
        )
        self.written_events.extend((a, kind) for a, _, kind, _, _ in events)

    async def hold_input(self, user_id: int, count: int, now: float) -> HeldInput:
        """Count ``count`` more messages held from this person; return the running total."""
        await self._exec(
            "INSERT INTO held_input (user_id, held, first_at, last_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET held = held_input.held + excluded.held,"
            " last_at = excluded.last_at",
            (user_id, count, now, now),
        )
        held = await self.held_input(user_id)
        assert held is not None
        return held

    async def held_input(self, user_id: int) -> HeldInput | None:
        row = await self._one("SELECT * FROM held_input WHERE user_id = ?", (user_id,))
        return HeldInput(row["user_id"], row["held"], row["first_at"], row["last_at"]) \
            if row else None

    async def clear_held_input(self, user_id: int) -> None:
        await self._exec("DELETE FROM held_input WHERE user_id = ?", (user_id,))

    async def trim_pending_replies(self, chat_id: int, keep: int, min_priority: int) -> int:
        """Supersede a chat's oldest pending answers (of at least ``min_priority``) beyond
        the newest ``keep``: a flooding person gets the latest answers, not thousands."""
        return await self._exec(
            "UPDATE outbox SET state = 'superseded' WHERE id IN ("
            " SELECT id FROM outbox WHERE chat_id = ? AND state = 'pending' AND kind = 'reply'"
            " AND priority >= ? AND target_id IS NULL ORDER BY id DESC LIMIT -1 OFFSET ?)",
            (chat_id, min_priority, keep),
        )


class StorageError(Exception):
    """The database cannot be opened or used at all (a bad path, not a database file)."""


class BackupError(StorageError):
    """A problem with the backup file named on the command line, not with the database."""


class Storage:
    """The storage interface: open, migrate, and run domain steps as transactions.

    ``codec`` seals personal values with the data key; without one the database is not
    opened at all (there is no plain-text mode). ``exclusive``: hold the file alone until
    closed, and refuse if the bot (or anything else) has it open: for key rotation and
    restore, which must not race a running bot."""

    def __init__(self, path: Path | str, codec: Codec | None,
                 exclusive: bool = False) -> None:
        # A postgresql:// URL selects PostgreSQL (storage/postgres.py); a path, SQLite.
        self.url = str(path) if postgres.is_url(path) else None
        self.path = Path(path) if self.url is None else Path()
        self.codec = codec
        self.exclusive = exclusive
        self._db: aiosqlite.Connection | None = None
        self._drv: Driver | None = None
        self._lock = asyncio.Lock()

    def leadership(self) -> postgres.Leadership | postgres.Solo:
        """Who of several instances runs the bot: on PostgreSQL the holder of the leader's
        lock; on SQLite this one process (storage/lock.py keeps a second one out)."""
        return postgres.Leadership(self.url) if self.url else postgres.Solo()

    def describe(self) -> str:
        """The database for messages: the file, or the server without its password."""
        return postgres.safe_url(self.url) if self.url else str(self.path)

    async def open(self) -> None:
        """Open (creating if missing, readable by this user only) the database file;
        StorageError if it cannot be, DataKeyError if there is no key."""
        if self.url is not None:
            await self._open_postgres()
            return
        if self.codec is None:
            check, _ = rekey.stored_check(self.path)
            raise DataKeyError(
                "QORGAU_DATA_KEY: missing; this database holds encrypted data: set the key "
                "it was created with" if check else
                "QORGAU_DATA_KEY: missing; run `qorgau keygen` and set QORGAU_DATA_KEY to "
                "the key it prints (keep a copy: without it the data cannot be read)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            private(self.path)
            # Tried with plain sqlite3 first: aiosqlite's thread outlives a failed connect and
            # prints a traceback when the program then exits with its one-line error.
            await asyncio.to_thread(_probe, self.path)
            db = await aiosqlite.connect(self.path, isolation_level=None)
        except OSError as exc:
            raise StorageError(f"cannot open the database file ({exc.strerror})") from None
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the database file ({exc})") from None
        try:
            await db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error as exc:
            await db.close()
            raise StorageError(f"cannot use the database file: {exc}") from None
        db.row_factory = aiosqlite.Row
        # FULL, not NORMAL: in WAL mode NORMAL survives a killed process but may lose the last
        # commits on power loss; an alert we told the reporter we received must survive both.
        # The cost is one fsync per commit, far below Telegram's own limits.
        await db.execute("PRAGMA synchronous = FULL")
        await db.execute("PRAGMA foreign_keys = ON")
        # Deleted rows are overwritten, not left in free pages for a seized disk to give up.
        await db.execute("PRAGMA secure_delete = ON")
        await db.execute("PRAGMA busy_timeout = 5000")
        if self.exclusive:
            await _hold_alone(db)
        self._db = db
        self._drv = SqliteDriver(db)

    async def _open_postgres(self) -> None:
        assert self.url is not None
        if self.codec is None:
            raise DataKeyError("QORGAU_DATA_KEY: missing; set the key this database was "
                               "created with (or, for a new one, run `qorgau keygen`)")
        try:
            self._drv = postgres.PgDriver(await postgres.open_connection(self.url), self.url)
        except ConnectionError as exc:
            raise StorageError(str(exc)) from None
        if self.exclusive and not await self._drv.conn.fetchval(
                "SELECT pg_try_advisory_lock($1)", postgres.LEADER_KEY):
            # Held by a running bot; held by us, it keeps every bot a standby meanwhile.
            await self.close()
            raise StorageError("the database is in use: stop the bot first")

    async def close(self) -> None:
        if self._drv is not None:
            await self._drv.close()
        self._drv = self._db = None

    async def __aenter__(self) -> Storage:
        await self.open()
        try:
            await self.migrate()
        except BaseException:  # an open connection's thread would keep the process alive
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def migrate(self) -> int:
        """Apply every migration newer than PRAGMA user_version, then check the data key
        (sealing an older database's plain values on first start); return the version."""
        version = await self._schema()
        async with self._lock:
            await self._check_key()
        return version

    async def _check_key(self) -> None:
        """The key must open the stored verification value; a database without one is
        new or older than encryption, and its plain values are sealed now, before the
        verification value is written (an interrupted upgrade simply runs again)."""
        db, codec = self._driver(), self._codec()
        if await rekey.kv(db, rekey.KEY_NEXT) is not None:
            raise DataKeyError("QORGAU_DATA_KEY: a key rotation was interrupted; run "
                               "`qorgau rotate-key` again with the same two keys")
        check = await rekey.kv(db, rekey.KEY_CHECK)
        if check is None:
            if await rekey.reseal(db, codec, plain_ok=True):
                await rekey.forget_old_pages(db)
            await db.begin()
            await rekey.set_kv(db, rekey.KEY_CHECK, rekey.sealed_check(codec))
            await db.commit()
        elif codec.sealed_with(check) != codec.key_id or not rekey.opens(codec, check):
            raise DataKeyError("QORGAU_DATA_KEY: not the key this database was encrypted "
                               "with; nothing was changed")

    async def rotate(self, batch: int = 500) -> int:
        """Re-seal every personal value with the codec's current key (its older key opens
        the old values); return the rows changed. Resumable: the target key is recorded
        first, and a rerun with the same keys continues."""
        await self._schema()
        db, codec = self._driver(), self._codec()
        async with self._lock:
            check = await rekey.kv(db, rekey.KEY_CHECK)
            target = await rekey.kv(db, rekey.KEY_NEXT)
            if check is None:
                raise DataKeyError("QORGAU_DATA_KEY_OLD: this database was never encrypted; "
                                   "start the bot once with the old key first")
            if target is not None and target != codec.key_id:
                raise DataKeyError(f"QORGAU_DATA_KEY: an interrupted rotation was moving to "
                                   f"key {target}; give that key")
            if not rekey.opens(codec, check):
                raise DataKeyError("QORGAU_DATA_KEY_OLD: not the key this database was "
                                   "encrypted with; nothing was changed")
            await db.begin()
            await rekey.set_kv(db, rekey.KEY_NEXT, codec.key_id)
            await db.commit()
            changed = await rekey.reseal(db, codec, batch)
            await db.begin()
            await rekey.set_kv(db, rekey.KEY_CHECK, rekey.sealed_check(codec))
            await rekey.set_kv(db, rekey.KEY_NEXT, None)
            await db.commit()
            await rekey.forget_old_pages(db)
            return changed

    async def backup(self, dest: Path) -> None:
        """A consistent copy of the open database at ``dest`` (a new file, this user's
        only), taken with SQLite's online backup API while the bot may be writing. It is
        written beside ``dest`` and renamed when complete: a killed backup leaves no file
        at ``dest`` that looks like a good copy."""
        self._file_only("backup")
        partial = _new_file(dest)
        async with aiosqlite.connect(partial) as target:
            await self._require().backup(target)
        os.replace(partial, dest)

    async def restore_from(self, source: Path) -> None:
        """Replace this (exclusively held) database with ``source``, a backup, after
        checking that the data key opens it; nothing is replaced if it does not."""
        self._file_only("restore")
        check, pending = rekey.stored_check(source)
        if check is None or pending is not None:
            raise BackupError(f"{source} is not a complete Qorgau backup")
        codec = self._codec()
        if codec.sealed_with(check) != codec.key_id or not rekey.opens(codec, check):
            raise DataKeyError("QORGAU_DATA_KEY: not the key this backup was encrypted "
                               "with; nothing was replaced")
        async with aiosqlite.connect(f"file:{source}?mode=ro", uri=True) as src:
            await src.backup(self._require())

    def _codec(self) -> Codec:
        assert self.codec is not None  # open() refuses to open without one
        return self.codec

    async def _schema(self) -> int:
        """Apply every migration newer than PRAGMA user_version; return the new version."""
        if self.url is not None:
            return await self._schema_postgres()
        db = self._require()
        async with self._lock:
            async with db.execute("PRAGMA user_version") as cur:
                row = await cur.fetchone()
            version = int(row[0]) if row else 0
            known = _migrations()
            latest = known[-1][0] if known else 0
            if version > latest:  # never run old code on data it does not understand
                raise StorageError(
                    f"the database is at schema version {version}, newer than this Qorgau "
                    f"knows ({latest}); run the newer Qorgau, or restore a backup made with "
                    "this one")
            for number, sql in known:
                if number <= version:
                    continue
                await db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _split_sql(sql):
                        await db.execute(statement)
                    await db.execute(f"PRAGMA user_version = {number:d}")
                    await db.execute("COMMIT")
                except sqlite3.DatabaseError as exc:
                    if db.in_transaction:
                        await db.execute("ROLLBACK")
                    raise StorageError(f"cannot use the database file: {exc}") from None
                except BaseException:
                    if db.in_transaction:
                        await db.execute("ROLLBACK")
                    raise
                version = number
            return version

    async def _schema_postgres(self) -> int:
        """The same numbered migrations, translated (storage/postgres.py), each in its own
        transaction; one instance migrates at a time, the other finds it done."""
        conn = self._pg()
        async with self._lock, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", postgres.MIGRATION_KEY)
            version = await postgres.schema_version(conn)
        known = _migrations()
        latest = known[-1][0] if known else 0
        if version > latest:
            raise StorageError(
                f"the database is at schema version {version}, newer than this Qorgau "
                f"knows ({latest}); run the newer Qorgau")
        async with self._lock:
            for number, sql in known:
                if number <= version:
                    continue
                try:
                    script = postgres.migration_script(number, sql, _split_sql(sql))
                except ValueError as exc:
                    raise StorageError(str(exc)) from None
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)",
                                       postgres.MIGRATION_KEY)
                    if await postgres.schema_version(conn) >= number:
                        continue  # another instance did it meanwhile
                    for statement in script:
                        await conn.execute(statement)
                    await conn.execute("INSERT INTO qorgau_schema (version) VALUES ($1)",
                                       number)
                version = number
        return version

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """One domain step: committed on success, rolled back on any exception."""
        db = self._driver()
        async with self._lock:
            await db.begin()
            try:
                yield Tx(db, self._codec())
                await db.commit()
            except BaseException:
                await db.rollback()  # a failed COMMIT must not leave the connection stuck
                raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """Reads only, without BEGIN/COMMIT: one connection and the lock mean no write can
        come between them, and the hot paths (the delivery worker's scan) save two round
        trips to the database thread. Writing through it is a bug."""
        db = self._driver()
        async with self._lock:
            yield Tx(db, self._codec())

    async def checkpoint(self) -> bool:
        """Move the WAL into the database file and empty it: after a purge, the old
        versions of the pages it overwrote must not survive in the WAL. False if another
        reader (a backup, an auditor's copy) kept it from finishing."""
        if self.url is not None:
            return True  # no WAL file of ours: the server keeps its own
        db = self._require()
        async with self._lock, db.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cur:
            row = await cur.fetchone()
        return row is not None and row[0] == 0

    def _require(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("storage is not open" if self.url is None else
                               "a SQLite file operation on a PostgreSQL database")
        return self._db

    def _file_only(self, what: str) -> None:
        if self.url is not None:
            raise StorageError(f"{what} works on a SQLite file; for PostgreSQL use pg_dump "
                               "and pg_restore, or `qorgau copy-db`")

    def _driver(self) -> Driver:
        if self._drv is None:
            raise RuntimeError("storage is not open")
        return self._drv

    def _pg(self) -> Any:
        assert isinstance(self._drv, postgres.PgDriver)
        return self._drv.conn


def _probe(path: Path) -> None:
    """Open and close the file: sqlite3.Error or OSError if it cannot be a database."""
    sqlite3.connect(path).close()
def private(path: Path) -> None:
    """Create ``path`` readable and writable by this user only, or make it so (SQLite
    gives the WAL and shared-memory files the database file's mode)."""
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if file.exists():
            with contextlib.suppress(OSError):  # not ours to change: SQLite will say
                os.chmod(file, 0o600)


def _new_file(path: Path) -> Path:
    """The private file a backup is written to before it becomes ``path``. A backup never
    overwrites: an old copy may be the only good one."""
    if path.exists():
        raise BackupError(f"{path} exists; choose a new file for the backup")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)  # from a backup killed half-way
    private(partial)
    return partial


async def _hold_alone(db: aiosqlite.Connection) -> None:
    """Take the file for this connection alone until it closes; a running bot keeps a
    lock on it (WAL mode), so this fails fast instead of changing data under it."""
    await db.execute("PRAGMA busy_timeout = 200")
    await db.execute("PRAGMA locking_mode = EXCLUSIVE")
    try:
        await db.execute("BEGIN EXCLUSIVE")
        await db.execute("COMMIT")
    except sqlite3.OperationalError:
        await db.close()
        raise StorageError("the database is in use: stop the bot first") from None
    await db.execute("PRAGMA busy_timeout = 5000")


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (sqlite3.complete_statement keeps triggers whole)."""
    import sqlite3

    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()
    ):
        statements.append(buffer.strip())
    return statements
