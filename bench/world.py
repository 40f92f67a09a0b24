"""The cast and the stage: people known to both the emulator and the database, seeded
directly through the storage interface, and the bot started as a real subprocess.

Seeding skips the registration conversations on purpose: they are not what is measured, and
200 reporters registering through the flows would take minutes under Telegram's limits.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bot.domain.regions import BY_KEY, nearest_region
from emulator import Emulator, SimGroup, SimUser
from storage import Codec, Storage
from storage.crypto import new_key, parse_key

# Five regions whose centres are far apart, so a point near one is routed to it.
BURST_REGIONS = ("almaty", "astana", "shymkent", "aktobe", "pavlodar")
JITTER_DEG = 0.05  # about 5 km: "near" the centre, never nearer another one
# The data key of every benchmark database: a throwaway, shared with the bot process.
BENCH_KEY = new_key()


def codec(encrypted: bool = True) -> Codec:
    """The benchmark's codec; without encryption, bench.plain_bot's pass-through one."""
    from bench.plain_bot import PlainCodec

    return Codec(parse_key(BENCH_KEY)) if encrypted else PlainCodec()


@dataclass
class Cast:
    """Everyone in a scenario, with the regions they belong to."""

    coordinator: SimUser
    lawyers: list[SimUser]
    lawyer_regions: dict[int, str]  # lawyer id -> the region they serve
    reporters: list[SimUser]
    reporter_regions: dict[int, str]
    groups: list[SimGroup]

    def lawyers_of(self, region: str) -> list[int]:
        return [uid for uid, r in self.lawyer_regions.items() if r == region]


def make_cast(emu: Emulator, lawyers: int, reporters: int, groups: int,
              regions: tuple[str, ...]) -> Cast:
    """Lawyers and reporters spread round-robin over ``regions``; chats exist in the
    emulator so that the bot's sends to them succeed."""
    coordinator = emu.user(first_name="Coordinator")
    law = [emu.user(first_name=f"Lawyer {i:03d}") for i in range(lawyers)]
    rep = [emu.user(first_name=f"Reporter {i:04d}") for i in range(reporters)]
    return Cast(
        coordinator=coordinator,
        lawyers=law,
        lawyer_regions={u.id: regions[i % len(regions)] for i, u in enumerate(law)},
        reporters=rep,
        reporter_regions={u.id: regions[i % len(regions)] for i, u in enumerate(rep)},
        groups=[emu.group(title=f"Press Freedom {i}") for i in range(groups)],
    )


async def seed(db: Path | str, cast: Cast, encrypted: bool = True,
               with_codec: Codec | None = None) -> None:
    """Registered, on-call lawyers; registered reporters; connected groups (``with_codec``:
    a database of the tests, with their key)."""
    now = time.time()
    async with (Storage(db, with_codec or codec(encrypted)) as storage,
                storage.transaction() as tx):
        await tx.ensure_person(cast.coordinator.id, now, "en", "coordinator")
        await tx.update_person(cast.coordinator.id, now, display_name="Coordinator",
                               step="done")
        for user in cast.lawyers:
            await tx.ensure_person(user.id, now, "en", "lawyer")
            await tx.update_person(user.id, now, display_name=user.first_name, step="done",
                                   on_call=1, serves_regions=(cast.lawyer_regions[user.id],),
                                   speaks=("ru", "kk"))
        for user in cast.reporters:
            await tx.ensure_person(user.id, now, "en", "reporter")
            await tx.update_person(user.id, now, display_name=user.first_name, step="done",
                                   region=cast.reporter_regions[user.id], share_location=1)
        for group in cast.groups:
            await tx.connect_group(group.id, cast.coordinator.id, now)
            await tx.set_group_language(group.id, "en")  # the bench reads English notices


async def stored_alerts(db: Path | str, encrypted: bool = True) -> dict[int, int]:
    """Alert id -> reporter id, read after the bot has stopped."""
    async with Storage(db, codec(encrypted)) as storage, storage.transaction() as tx:
        return {a.id: a.reporter_id for a in await tx.alerts_since(0.0)}


def near(region: str, rng: random.Random) -> tuple[float, float]:
    """A point a few km from the region's centre that still routes to that region."""
    centre = BY_KEY[region]
    lat = centre.lat + rng.uniform(-JITTER_DEG, JITTER_DEG)
    lon = centre.lon + rng.uniform(-JITTER_DEG, JITTER_DEG)
    assert nearest_region(lat, lon) == region
    return lat, lon


async def send_location(emu: Emulator, user: SimUser, lat: float, lon: float) -> int:
    """The one-tap SOS; returns the update id the emulator queued for it."""
    await user.send_location(lat, lon, horizontal_accuracy=25.0)
    return int(emu.world.updates[-1]["update_id"])  # queued synchronously just now


class BotProcess:
    """``python -m bot`` against the emulator, configured only through QORGAU_* variables,
    so the process measured is the one that would run in production."""

    def __init__(self, emu: Emulator, db: Path | str, workdir: Path, admin: int,
                 coalesce: bool, encrypted: bool = True, code: Path | None = None,
                 module: str | None = None, args: tuple[str, ...] = ()) -> None:
        """``code``: a source tree to run the bot from (an older commit, ``--before``);
        ``module`` and ``args``: another bot run the same way (bench.minimal_bot)."""
        self.emu = emu
        self.module = module or ("bot" if encrypted else "bench.plain_bot")
        self.args = args
        self.log = workdir / f"{self.module}-{'coalesce' if coalesce else 'single'}.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("QORGAU_")}
        self.env.update({
            "QORGAU_BOT_TOKEN": emu.token,
            "QORGAU_TELEGRAM_API_URL": emu.api_url,
            "QORGAU_DATABASE": str(db),
            "QORGAU_DATA_KEY": BENCH_KEY,
            "QORGAU_ADMIN_IDS": str(admin),
            "QORGAU_COALESCE": "true" if coalesce else "false",
            # Escalation waves (180 s by default) are not part of what is measured.
            "QORGAU_ACK_TIMEOUT_SECONDS": "3600",
            # Alerts are timed with the undo window off (its default): a window would only
            # add its own length to every figure.
            "QORGAU_UNDO_SECONDS": "0",
            "PTB_TIMEDELTA": "1",
        })
        if code is not None:
            self.env["PYTHONPATH"] = str(code)
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, within: float = 30.0) -> None:
        """Start it and wait until its first getUpdates reaches the emulator."""
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", self.module, *self.args, cwd=self.workdir, env=self.env,
                stdout=out, stderr=out, stdin=asyncio.subprocess.DEVNULL)
        deadline = time.monotonic() + within
        while not any(c.method == "getUpdates" for c in self.emu.calls):
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bot did not start; its log:\n{self.tail()}")
            await asyncio.sleep(0.05)

    def peak_rss_mb(self) -> float:
        """VmHWM (the resident set's high-water mark) of the running bot, in MB."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
        return float("nan")

    async def stop(self) -> float:
        """SIGTERM (the bot's own clean shutdown); returns the peak RSS read just before."""
        assert self.proc is not None
        try:
            rss = self.peak_rss_mb()
        except OSError:
            rss = float("nan")
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout=20.0)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        return rss

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
