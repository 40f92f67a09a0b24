"""A fuzzer of random and hostile updates against the real bot process, with kill -9 restarts.

Everyone plays at once, with a fixed seed: reporters raise alerts (odd positions included),
write odd texts, send media, say they are safe; lawyers press their real buttons and forged
or mutated ones, write notes, go on and off call with garbage durations, raise alerts of
their own; coordinators assign, revoke, read; strangers send locations and commands. The
bot is killed with SIGKILL three times on the way. Then the invariants the core loop
promises are read off the database and the emulator's record of calls:

- every holder is a lawyer and never the alert's own reporter;
- a case is closed only by its holder, a coordinator, the safe/auto close (no actor), or
  its own reporter withdrawing it (PIN or undo window);
- nobody has a staff role except through an invite or the settings;
- the emulator never refused a call with 400 (the bot only sends what Telegram accepts);
- a revoked person gets nothing about any case after the revocation;
- no update was given up and no handler failed.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import os
import random
import re
import time
from collections.abc import Iterator
from typing import Any

from emulator import BotMessage, Call, Emulator, SimUser
from emulator.state import CALLBACK_TTL
from tests.harness import ALMATY, ASTANA, SHYMKENT, BotProcess, World, rows

SEED = int(os.environ.get("QORGAU_FUZZ_SEED", "20261127"))  # another seed: another run
ACTIONS = 3000
KILLS = 3
CITIES = [ALMATY, ASTANA, SHYMKENT, (0.0, 0.0), (0.0, 76.9), (43.2, 0.0), (-89.9, 179.9)]
NASTY = [
    "HELP they are arresting me", "police van 777", "a\nb\nc", "\u202eevil\u202c name",
    "🚓" * 700, "x" * 5000, "<b>bold</b> & <i>", "", " ", "/", "#1", "\x00\x01\x7f",
    "Case #1 closed: released", "Reporter: Bob\nClaimed by: you", "‮‭", "𝕏" * 1500,
]
COMMANDS = ["/start", "/help", "/language", "/oncall", "/offcall", "/note", "/close",
            "/invite", "/people", "/revoke", "/open", "/case", "/stats", "/assign",
            "/audit", "/connect", "/disconnect", "/nonsense", "/sos", "/checkin"]
ARGS = ["", "1", "2", "-1", "0", "99999999999", "abc", "1 x", "0.0000001h", "9999h",
        "25:99", "18:30", "4h", "lawyer", "coordinator", "kk", "ru", "xx", "#1 note",
        "1 " + "🙂" * 900, "1 line\nbreak", "%s%n", "1;DROP TABLE alerts"]
FORGED = ["claim:{n}", "ack:{n}", "out:{n}:rel", "out:{n}:safe", "out:{n}:zzz", "close:{n}",
          "assign:{n}", "asg:{n}:{u}", "serve:almaty", "speak:ru", "agree", "region:almaty",
          "share:1", "decl:{n}", "decl:{n}:busy", "decl:{n}:zzz", "mv:{n}:{u}:{u}",
          "leave", "sos", "x" * 64, "claim:{n}:{n}", "chk:ok:{n}", "chk:ext:{n}",
          "chk:set:{n}", "chk:set:60"]


class _Result(list[tuple[Any, ...]]):
    def fetchone(self) -> tuple[Any, ...] | None:
        return self[0] if self else None


class _Reader:
    """Reads like a sqlite3 connection, on either backend (tests.harness.rows)."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def execute(self, sql: str) -> _Result:
        return _Result(rows(self.db, sql))


@contextlib.contextmanager
def reading(db: Any) -> Iterator[_Reader]:
    yield _Reader(db)


def mutate(data: str, rng: random.Random) -> str:
    """A real button's data, bent: another number, a cut, or junk appended."""
    choice = rng.randrange(4)
    if choice == 0:
        return "".join(str(rng.randrange(10)) if c.isdigit() else c for c in data)
    if choice == 1:
        return data[: rng.randrange(len(data) + 1)] or "x"
    if choice == 2:
        return (data + rng.choice([":1", "0", ":", "::", "\u0000"]))[:64]
    return data


class Fuzzer:
    def __init__(self, world: World, rng: random.Random) -> None:
        self.world = world
        self.emu: Emulator = world.emu
        self.rng = rng
        self.reporters: list[SimUser] = []
        self.lawyers: list[SimUser] = []
        self.strangers: list[SimUser] = []
        self.revoked: dict[int, float] = {}  # user id -> when the revocation was sent
        # When the bot was started again after each kill (monotonic, as the emulator): what
        # the emulator handled before that came from the killed process, even a request
        # it read only after the kill (the emulator runs in this test's event loop).
        self.restarts: list[float] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.live: list[tuple[SimUser, dict[str, Any]]] = []  # live shares, to move

    def alert_ids(self) -> list[int]:
        with reading(self.world.db) as db:
            return [r[0] for r in db.execute("SELECT id FROM alerts")] or [1]

    def spawn(self, coro: Any) -> None:
        """Fire and forget: a press may time out while the bot is dead; that is fine."""
        async def guarded() -> None:
            with contextlib.suppress(TimeoutError, LookupError, ValueError):
                await coro
        task = asyncio.create_task(guarded())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def press_something(self, user: SimUser) -> None:
        rng = self.rng
        with_buttons = [m for m in user.inbox[-30:] if m.inline_rows]
        if with_buttons and rng.random() < 0.6:
            msg: BotMessage = rng.choice(with_buttons)
            buttons = [d for row in msg.inline_rows for _, d in row if d]
            data = mutate(rng.choice(buttons), rng) if buttons else "nonsense"
        else:
            if not user.inbox:
                return
            msg = user.inbox[-1]
            n = rng.choice([*self.alert_ids(), 0, 999])
            data = rng.choice(FORGED).format(n=n, u=rng.choice(self.everyone()).id)[:64]
        self.spawn(user.press_data(msg, data, timeout=3.0))

    async def share_live(self, user: SimUser, lat: float, lon: float) -> None:
        self.live.append((user, await user.send_location(lat, lon, live_period=3600)))

    def everyone(self) -> list[SimUser]:
        return [self.world.coordinator, *self.reporters, *self.lawyers, *self.strangers]

    def command(self, user: SimUser) -> None:
        cmd = self.rng.choice(COMMANDS)
        arg = self.rng.choice(ARGS)
        if cmd in ("/note", "/close", "/case", "/assign") and self.rng.random() < 0.6:
            arg = f"{self.rng.choice(self.alert_ids())} {self.rng.choice(NASTY)[:200]}"
        if cmd == "/revoke":
            return  # revocations are played on purpose below, so the invariant knows them
        self.spawn(user.send_command(cmd, arg or None))

    def act(self) -> None:
        rng = self.rng
        who = rng.random()
        if who < 0.45:
            user = rng.choice(self.reporters)
        elif who < 0.8:
            user = rng.choice([u for u in self.lawyers if u.id not in self.revoked]
                              or self.reporters)
        elif who < 0.9:
            user = self.world.coordinator
        else:
            user = rng.choice(self.strangers)
        what = rng.random()
        if what < 0.15:
            lat, lon = rng.choice(CITIES)
            if rng.random() < 0.1:
                lat, lon = rng.choice([(91.0, 10.0), (10.0, 181.0), (-1e9, 5.0)])
            labels = [b for row in (user.keyboard or []) for b in row]
            sos = next((b for b in labels if "SOS" in b and "📍" in b), None)
            if self.live and rng.random() < 0.3:  # a live share moves
                sharer, live = rng.choice(self.live)
                self.spawn(sharer.edit_live_location(live, lat, lon))
            elif rng.random() < 0.1:  # a live share starts
                self.spawn(self.share_live(user, lat, lon))
            elif sos is not None and rng.random() < 0.8:
                self.spawn(user.tap(sos, location=(lat, lon)))
            else:
                self.spawn(user.send_location(lat, lon, horizontal_accuracy=rng.choice(
                    [None, 5.0, 1500.0])))
        elif what < 0.3:
            labels = [b for row in (user.keyboard or []) for b in row if "📍" not in b]
            if labels:
                self.spawn(user.tap(rng.choice(labels)))
            else:
                self.spawn(user.send_text(rng.choice(NASTY)))
        elif what < 0.5:
            self.spawn(user.send_text(rng.choice(NASTY) or "hi"))
        elif what < 0.6:
            if rng.random() < 0.5:
                self.spawn(user.send_photo(caption=rng.choice([None, *NASTY[:8]])))
            else:
                self.spawn(user.send_voice())
        elif what < 0.8:
            self.press_something(user)
        else:
            self.command(user)


def invariants(world: World, fuzz: Fuzzer) -> list[str]:
    problems: list[str] = []
    with reading(world.db) as db:
        roles = dict(db.execute("SELECT user_id, role FROM people"))
        for aid, reporter, holder, state in db.execute(
                "SELECT id, reporter_id, claimed_by, state FROM alerts"
                " WHERE claimed_by IS NOT NULL"):
            if holder == reporter:
                problems.append(f"alert {aid} is held by its own reporter")
            # A closed case keeps its last holder, who may have left the team since.
            if state != "closed" and roles.get(holder) != "lawyer":
                problems.append(f"open alert {aid} is held by a {roles.get(holder)}")
        for aid, actor, holder, acked, safe, outcome, reporter in db.execute(
                "SELECT e.alert_id, e.actor_id, a.claimed_by, a.acknowledged_by, a.safe_at, "
                "a.outcome, a.reporter_id FROM alert_events e JOIN alerts a"
                " ON a.id = e.alert_id WHERE e.kind = 'closed'"):
            # The one exception by design: the reporter said "I'm safe", nobody holds the
            # case, and the lawyer who acknowledged it confirms (they were asked to).
            confirms_safe = (outcome == "safe" and safe is not None and holder is None
                             and actor == acked)
            # Issue 15: the reporter withdraws it themself, with their PIN or within the
            # undo window (the outcome says which).
            withdrawn = actor == reporter and outcome in ("cancelled by reporter",
                                                          "withdrawn in the undo window")
            if (actor is not None and actor != holder and roles.get(actor) != "coordinator"
                    and not confirms_safe and not withdrawn):
                problems.append(f"alert {aid} closed by {actor}, neither holder nor coordinator")
        invited = {r[0] for r in db.execute(
            "SELECT used_by FROM invites WHERE used_by IS NOT NULL")}
        for uid, role in roles.items():
            if role != "reporter" and uid not in invited and uid != world.coordinator.id:
                problems.append(f"user {uid} is a {role} without an invite")
    opened = world.emu.world.callback_opened

    def process(at: float) -> int:
        """Which bot process the emulator heard at ``at``: 0 the first, k after k kills."""
        return bisect.bisect_right(fuzz.restarts, at)

    def repeats_a_killed_process(call: Call) -> bool:
        """The very same request succeeded in an earlier process, and no process since
        tried it: the first repeat after the kill that cut off its record (the processes
        between may have been killed before they got to it, e.g. while a PostgreSQL
        leader waits out the old one's trust)."""
        now = process(call.time)
        same = [c for c in world.emu.calls
                if c is not call and c.method == call.method and c.params == call.params]
        done = [process(c.time) for c in same if c.status == 200 and process(c.time) < now]
        return bool(done) and not any(max(done) < process(c.time) < now for c in same)

    for call in world.emu.calls:
        # A request that reached Telegram just before a kill, and was not yet recorded as
        # done, goes again after the restart: an edit is then "not modified", a deletion
        # "message to delete not found" (and the bot takes either answer as done). Allowed
        # only as that repeat: the very same request (method and parameters) had succeeded
        # in a process killed before the one that repeats it was started, and no process
        # tried it since: however long the restart took (on PostgreSQL the new process
        # first waits out the old leader's trust), and even if the emulator read the first
        # one only after the kill. So is a press answered again when its update is read
        # again after the kill ("query is too old ... or query ID is invalid": Telegram
        # takes one answer). Any other 400, a repeat within one process or of a request a
        # later process had already repeated, is a bug.
        error = call.error or ""
        replayed = ("not modified" in error or "message to delete not found" in error
                    or "query is too old" in error) and repeats_a_killed_process(call)
        # A press read late (the bot was restarting, or behind after a restart's backlog)
        # can no longer be answered once Telegram's 15 s are over; the bot then says it
        # as a message. Allowed for a query that old, never for a second answer (Telegram
        # refuses that with the same words).
        query = str(call.params.get("callback_query_id", ""))
        replayed = replayed or ("query is too old" in error and query in opened
                                and call.time - opened[query] > CALLBACK_TTL
                                and not any(c.method == call.method and c.status == 200
                                            and str(c.params.get("callback_query_id")) == query
                                            for c in world.emu.calls))
        if call.status == 400 and not replayed:
            problems.append(f"emulator refused {call.method}: {call.error}")
    # When the bot carried out each revocation (its audit trail, in wall-clock time), on
    # the emulator's monotonic clock; a request already in flight then may still land.
    shift = time.monotonic() - time.time()
    with reading(world.db) as db:
        # (a forged "leave" press may have taken them off the team first: the same cut)
        cut = dict(db.execute("SELECT subject_id, MIN(at) FROM staff_audit "
                              "WHERE kind IN ('revoked', 'left') GROUP BY subject_id"))
        own = {(r, a) for a, r in db.execute("SELECT id, reporter_id FROM alerts")}
    for uid in fuzz.revoked:
        if uid not in cut:
            problems.append(f"revocation of {uid} was never carried out")
            continue
        for call in world.emu.sent(chat_id=uid):
            if call.time <= cut[uid] + shift + 0.5:
                continue
            # After the cut: answers to what they themselves send are fine (a refusal may
            # name a number), and so is news of their own alert (they are a reporter now).
            # Case content is not: a card or a relay ("Alert #N · ..."), a pin, a copy of a
            # reporter's media, a contact link, or buttons acting on someone else's alert.
            text = str(call.params.get("text") or call.params.get("caption") or "")
            if "no longer" in text.lower():
                continue
            markup = call.params.get("reply_markup") or ""
            markup = markup if isinstance(markup, str) else json.dumps(markup)
            named = {int(n) for n in re.findall(r"Alert #(\d+) ·", text)}
            named |= {int(n) for n in re.findall(r'"callback_data": ?"[a-z]+:(\d+)', markup)}
            if any((uid, a) not in own for a in named) or "tg://user" in text or \
                    call.method in ("sendVenue", "sendLocation", "copyMessage"):
                problems.append(f"revoked {uid} was sent {call.method}: {text[:60]!r}")
    return problems


async def test_fuzz_invariants_hold_through_kills(emu: Emulator, world: World) -> None:
    rng = random.Random(SEED)
    bot = BotProcess(world, QORGAU_ACK_TIMEOUT_SECONDS="2", QORGAU_REPEAT_SECONDS="3",
                     QORGAU_CLAIM_TIMEOUT_SECONDS="4", QORGAU_SAFE_AUTOCLOSE_SECONDS="5",
                     QORGAU_LIVE_MIN_INTERVAL_SECONDS="0.2", QORGAU_LIVE_STALE_SECONDS="2")
    bot.start()
    fuzz = Fuzzer(world, rng)
    try:
        await world.register_coordinator()
        fuzz.lawyers = [await world.register_lawyer(n, regs) for n, regs in (
            ("Marat", ("Almaty",)), ("Aigul", ("Almaty", "Astana")), ("Ali", ("Astana",)),
            ("Saule", ("Shymkent",)))]
        fuzz.reporters = [await world.register_reporter(n, region=r) for n, r in (
            ("Aida", "Almaty"), ("Bek", "Astana"), ("Dina", "Shymkent"), ("Erlan", "Almaty"),
            ("Gulnar", "Almaty"))]
        fuzz.strangers = [emu.user(first_name=f"Stranger{i}", language_code="ru")
                          for i in range(4)]
        # The revocations come from a second coordinator who does nothing else. The first
        # one types like a flood (some 80 messages per 1000 steps, hundreds a minute), and
        # past the staff allowance (flood.STAFF_FACTOR times the limit: 120 a minute by
        # default) the flood screen holds a person's further messages, commands included,
        # by design (bot/domain/flood.py): a /revoke sent there may be held and never
        # carried out. What must never be lost is an order typed at a person's pace (the
        # screen counts messages by Telegram's date, so a backlog read at once after a
        # restart is not a flood: test_flood.py).
        code = await world.invite_link("coordinator")
        revoker = emu.user(first_name="Revoker", language_code="en")
        await revoker.send_command("/start", code)
        await revoker.wait_for("You are now a coordinator")
        await revoker.send_text("Revoker")
        await revoker.wait_for("Registered as coordinator")
        kills = sorted(rng.sample(range(300, ACTIONS - 300), KILLS))
        revokes = {ACTIONS // 3: fuzz.lawyers[3], (2 * ACTIONS) // 3: fuzz.lawyers[1]}
        for step in range(ACTIONS):
            fuzz.act()
            if step in revokes:
                victim = revokes[step]
                fuzz.revoked[victim.id] = time.monotonic()
                fuzz.spawn(revoker.send_command("/revoke", str(victim.id)))
            if step in kills:
                bot.kill()
                await asyncio.sleep(0.2)
                fuzz.restarts.append(time.monotonic())
                bot.start()
            if step % 20 == 0:
                await asyncio.sleep(0.05)
        # let everything settle: the bot drains its outbox, the presses get answers
        await asyncio.sleep(8.0)
        for _ in range(120):  # up to a minute for the last updates to be confirmed
            if not emu.updates_pending():
                break
            await asyncio.sleep(0.5)
        await asyncio.gather(*fuzz.tasks, return_exceptions=True)
    finally:
        await bot.stop()
    log = bot.log.read_text(encoding="utf-8", errors="replace")
    problems = invariants(world, fuzz)
    if "giving up on update" in log:
        problems.append("an update was given up")
    if "handler failed" in log:
        problems.append("a handler failed: " + log[log.index("handler failed"):][:300])
    assert not emu.updates_pending(), "updates left unconfirmed"
    # The run reached what it means to test: many updates, alerts claimed and closed.
    with reading(world.db) as db:
        states = dict(db.execute("SELECT state, COUNT(*) FROM alerts GROUP BY state"))
        claims = db.execute("SELECT COUNT(*) FROM alert_events WHERE kind = 'claimed'").fetchone()
    assert sum(states.values()) >= 5 and claims[0] >= 1, (states, claims)
    assert not problems, "\n".join(sorted(set(problems))[:40])
