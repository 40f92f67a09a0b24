"""Driving the real bot against the emulator over HTTP: start and stop it, and walk people
through the same buttons a person would press. Nothing of our code is mocked."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.app import Qorgau, Runner
from bot.clock import Clock
from bot.settings import Settings
from emulator import Emulator, Limits, SimGroup, SimUser
from storage.crypto import PERSONAL, Codec, DataKeyError, new_key, parse_key

os.environ.setdefault("PTB_TIMEDELTA", "1")
# The storages every test with a database runs on: both by default, SQLite and PostgreSQL (a
# private cluster the tests start themselves, tests/pgcluster.py); QORGAU_TEST_BACKEND=sqlite
# or =postgresql runs one of them while working on something.
BACKENDS = tuple(b for b in ("sqlite", "postgresql")
                 if os.environ.get("QORGAU_TEST_BACKEND", b) == b)

# Functional tests run the limits 20x faster on both sides: the bot's pacing is still
# enforced by the emulator, but a registration does not take seconds. Delivery tests use
# Telegram's real figures.
FAST_LIMITS = Limits(per_chat=20, per_chat_window=1.0, per_group=60, per_group_window=60.0,
                     overall=200, overall_window=1.0)
FAST_RATES = {"rate_private_per_second": 20.0, "rate_group_per_minute": 60.0,
              "rate_global_per_second": 200.0}

# Every test database is encrypted with this throwaway key (the bot in-process and
# BotProcess alike); a test reading raw rows opens them with ``data_codec()``.
TEST_KEY = new_key()

ALMATY = (43.2567, 76.9286)
ASTANA = (51.1282, 71.4307)
SHYMKENT = (42.3155, 69.5869)


def make_settings(emu: Emulator, db: Path | str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bot_token": emu.token, "telegram_api_url": emu.api_url, "database": db,
        "data_key": TEST_KEY, **FAST_RATES, **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class World:
    """An emulator, a coordinator who is an administrator, and the bot."""

    def __init__(self, emu: Emulator, tmp: Path) -> None:
        self.emu = emu
        self.tmp = tmp
        self.db: Any = tmp / "qorgau.db"  # or a postgresql:// URL (conftest.py)
        self.coordinator = emu.user(first_name="Coordinator", language_code="en")
        self.runner: Runner | None = None
        self.overrides: dict[str, Any] = {}
        self.watch_every = 3600.0  # the health probe and outage watch: off unless a test asks

    @property
    def q(self) -> Qorgau:
        assert self.runner is not None and self.runner.q is not None
        return self.runner.q

    async def start(self, clock: Clock | None = None, **overrides: Any) -> Qorgau:
        self.overrides.update(overrides)
        settings = make_settings(self.emu, self.db, admin_ids=str(self.coordinator.id),
                                 **self.overrides)
        self.runner = Runner(settings, clock=clock, poll_timeout=1,
                             watch_every=self.watch_every)
        return await self.runner.start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.stop()
            self.runner = None

    async def restart(self, clock: Clock | None = None) -> Qorgau:
        await self.stop()
        return await self.start(clock)

    # --- people, registered through the real flows ------------------------------------

    async def register_coordinator(self, name: str = "Dana") -> SimUser:
        c = self.coordinator
        await c.send_command("/start")
        await c.wait_for("What name should others see?")
        await c.send_text(name)
        await c.wait_for("Registered as coordinator")
        return c

    async def register_reporter(self, name: str, region: str = "Almaty", share: bool = False,
                                language: str = "en", discreet: bool = False) -> SimUser:
        """A reporter registered through the buttons; discreet mode (on by default for a
        real reporter) is turned off here unless asked for, so most tests read the plain
        wording."""
        user = self.emu.user(first_name=name, language_code=language)
        await user.send_command("/start")
        await user.wait_for("What we store")
        await user.press("I agree")
        await user.wait_for("What name should lawyers see?")
        await user.send_text(name)
        await user.wait_for("Where are you based?")
        await user.press(region)
        await user.wait_for("May press-freedom groups see")
        await user.press("Yes, share it" if share else "No, region only")
        await user.wait_for("You are registered")
        await user.wait_for("Optional: a PIN")  # offered last; skipped by not answering
        if not discreet:
            await user.press("Turn discreet mode off",
                             message=await user.wait_for("Discreet mode is on"))
            await user.wait_for("Discreet mode is off")
        return user

    async def invite_link(self, role: str = "lawyer") -> str:
        c = self.coordinator
        mark = c.mark()
        await c.send_command("/invite", role)
        msg = await c.wait_for("https://t.me/", after=mark)
        assert msg.text is not None
        return msg.text.split("start=")[1].split()[0]

    async def register_lawyer(self, name: str, regions: tuple[str, ...] = ("Almaty",),
                              on_call: bool = True) -> SimUser:
        code = await self.invite_link("lawyer")
        user = self.emu.user(first_name=name, language_code="en")
        await user.send_command("/start", code)
        await user.wait_for("invited as a lawyer")
        await user.send_text(name)
        picker = await user.wait_for("Which regions do you serve?")
        for region in regions:
            await user.press(region, message=picker)
        await user.press("Done", message=picker)
        langs = await user.wait_for("Which languages")
        await user.press("Русский", message=langs)
        await user.press("Done", message=langs)
        await user.wait_for("Registered as lawyer")
        if on_call:
            mark = user.mark()
            await user.send_command("/oncall")
            await user.wait_for("You are on call", after=mark)
        return user

    async def connect_group(self, title: str = "Press Freedom KZ") -> SimGroup:
        group = self.emu.group(title=title)
        mark = group.mark()
        await group.send_command(self.coordinator, "/connect", "en")  # tests read English
        await group.wait_for("receives Qorgau alert notices", after=mark)
        return group

    async def drain(self) -> None:
        assert await self.q.worker.drain(30.0), "outbox did not drain"


async def card_for(user: SimUser, alert_id: int, after: int = 0) -> Any:
    """The lawyer's message that carries the buttons of this alert."""
    label = f"Claim the case #{alert_id}"
    return await user.wait_for(predicate=lambda m: label in m.buttons, after=after)


def data_codec() -> Codec:
    return Codec(parse_key(TEST_KEY))


def rows(db: Path | str, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Read the bot's database as an auditor with the key would (tests only; the bot never
    does this): ``plain(column)`` in the SQL opens a sealed value."""
    import sqlite3

    if isinstance(db, str):
        return _pg_rows(db, sql, args)
    codec = data_codec()

    def plain(value: object) -> object:
        if not isinstance(value, str):
            return value
        for table, columns in PERSONAL.items():
            for column in columns:
                with contextlib.suppress(DataKeyError):
                    return codec.open(value, f"{table}.{column}")
        raise DataKeyError("not sealed with the test key")

    with contextlib.closing(sqlite3.connect(db)) as conn:  # closed: no lock left behind
        conn.create_function("plain", 1, plain)
        return conn.execute(sql, args).fetchall()


def _pg_rows(url: str, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
    """``rows`` on PostgreSQL: the same SQL (translated like the bot's), each
    ``plain(...)`` value marked in the query and opened here, in Python."""
    import re
    from concurrent.futures import ThreadPoolExecutor

    import asyncpg

    from storage.postgres import translate

    mark = "plain\x1f"  # then CAST(plain(x) AS type)'s type or round(plain(x), n)'s n
    sql = re.sub(r"\bCAST\(\s*plain\(([^()]*)\)\s+AS\s+(\w+)\s*\)",
                 f"('{mark}" + r"\2" + "\x1f' || (" + r"\1))", sql, flags=re.I)
    sql = re.sub(r"\bround\(\s*plain\(([^()]*)\)\s*,\s*(\d+)\s*\)",
                 f"('{mark}ROUND" + r"\2" + "\x1f' || (" + r"\1))", sql, flags=re.I)
    text = translate(re.sub(r"\bplain\(([^()]*)\)", f"('{mark}\x1f' || (" + r"\1))", sql))
    casts = {"": str, "REAL": float, "INTEGER": int, "TEXT": str}

    async def fetch() -> list[Any]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(text, *args))
        finally:
            await conn.close()

    def opened(value: object) -> object:
        if not (isinstance(value, str) and value.startswith(mark)):
            return value
        cast, value = value[len(mark):].split("\x1f", 1)
        for table, columns in PERSONAL.items():
            for column in columns:
                with contextlib.suppress(DataKeyError):
                    plain = codec.open(value, f"{table}.{column}")
                    if cast.upper().startswith("ROUND"):
                        return round(float(plain), int(cast[5:]))
                    return casts[cast.upper()](plain)
        raise DataKeyError("not sealed with the test key")

    codec = data_codec()
    with ThreadPoolExecutor(1) as pool:  # the test's event loop is busy running the test
        records = pool.submit(lambda: asyncio.run(fetch())).result()
    return [tuple(opened(v) for v in r) for r in records]


async def start_with_lawyer(world: World, clock: Clock) -> SimUser:
    """The bot on ``clock``, a registered coordinator and one on-call Almaty lawyer, Marat."""
    await world.start(clock=clock)
    await world.register_coordinator()
    return await world.register_lawyer("Marat", ("Almaty",))


async def raise_alert(world: World, name: str, where: tuple[float, float]) -> tuple[SimUser, int]:
    """Register a reporter, tap SOS at ``where``, and return them with the alert number."""
    reporter = await world.register_reporter(name)
    mark = reporter.mark()
    await reporter.tap("📍 SOS: send my location", location=where)
    msg = await reporter.wait_for("received and saved", after=mark)
    assert msg.text is not None
    return reporter, int(msg.text.split("#")[1].split()[0])


class BotProcess:
    """`python -m bot` as a separate process, killed with SIGKILL like a crashed server."""

    def __init__(self, world: World, **env: str) -> None:
        self.world = world
        self.extra_env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = world.tmp / "bot.log"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QORGAU_")}
        env.update({
            "QORGAU_BOT_TOKEN": self.world.emu.token,
            "QORGAU_TELEGRAM_API_URL": self.world.emu.api_url,
            "QORGAU_DATABASE": str(self.world.db),
            "QORGAU_DATA_KEY": TEST_KEY,
            "QORGAU_ADMIN_IDS": str(self.world.coordinator.id),
            "QORGAU_ACK_TIMEOUT_SECONDS": "3600",
            "PTB_TIMEDELTA": "1",
            **{f"QORGAU_{k.upper()}": str(v) for k, v in FAST_RATES.items()},
            **self.extra_env,
        })
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot"], env=env,
                                         stdout=out, stderr=out, cwd=self.world.tmp)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    async def stop(self) -> None:
        """SIGTERM, then wait without blocking the event loop: the emulator lives in it, and
        a stopping bot still talks to it (it confirms the updates it processed)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        for _ in range(400):
            if self.proc.poll() is not None:
                return
            await asyncio.sleep(0.05)
        self.proc.kill()
        self.proc.wait(5)


async def claim(lawyer: SimUser, alert_id: int) -> None:
    """The lawyer presses Claim on their card of this alert and holds the case."""
    card = await card_for(lawyer, alert_id)
    await lawyer.press(f"Claim the case #{alert_id}", message=card)
    await lawyer.wait_for(f"You hold case #{alert_id}")
