"""``qorgau playground``: the emulator, the real bot and the playground page in one process.

The page (emulator/playground.html, served by the emulator's own aiohttp server) shows a
phone per person: Dana the coordinator, Marat a lawyer, Aida a reporter, and a
press-freedom group. "Set up coordinator and first lawyer" registers Dana and Marat through
the same buttons a person presses (the demo's cast does it), puts Marat on call for Almaty
and connects the group, so a visitor can go straight to being Aida. Nothing is mocked and
nothing leaves the machine: the database is a temporary file, removed on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable

from bot.app import Runner
from emulator import Emulator, Limits
from emulator.playground import Playground

from .scene import Actor, Cast, Stage, demo_settings, temporary_database

SETUP = "Set up coordinator and first lawyer"


class Setup:
    """The one-click setup, once: a second click only says it is done."""

    def __init__(self, cast: Cast, group_title: str) -> None:
        self.cast = cast
        self.group_title = group_title
        self.done = False
        self.lock = asyncio.Lock()

    async def __call__(self) -> None:
        async with self.lock:
            if self.done:
                return
            cast = self.cast
            await cast.register_coordinator()
            code = await cast.invite()
            await cast.register_lawyer(cast.lawyers["Marat"], code, "Almaty")
            group = next(g for g in cast.groups if g.title == self.group_title)
            await cast.connect(group)
            self.done = True


async def open_playground(emu: Emulator, runner_for: Callable[[int], Runner],
                          ) -> tuple[Playground, Runner]:
    """The page's phones and the bot, started; the coordinator's id is known before the
    bot starts because it is the bot's admin (QORGAU_ADMIN_IDS)."""
    play = Playground(emu)
    stage = Stage(quiet=True)
    dana = play.add_person("Dana", "coordinator")
    marat = play.add_person("Marat", "lawyer")
    play.add_person("Aida", "reporter")
    group = play.add_group("Press Freedom KZ")
    cast = Cast(emu, stage, coordinator=Actor(dana, "Dana", stage))
    cast.lawyers["Marat"] = Actor(marat, "Marat", stage)
    cast.groups.append(group)
    play.add_action(SETUP, Setup(cast, group.title))
    await emu.start()
    runner = runner_for(dana.id)
    await runner.start()
    return play, runner


async def serve(host: str = "127.0.0.1", port: int = 8090,
                until: Callable[[], Awaitable[None]] | None = None) -> int:
    """Serve until interrupted (or until ``until`` returns, for tests)."""
    with temporary_database() as db:
        emu = Emulator(host=host, port=port, limits=Limits())

        def runner_for(admin: int) -> Runner:
            return Runner(demo_settings(emu, db, admin, speed=1.0, ack_seconds=60.0),
                          poll_timeout=1)

        try:
            play, runner = await open_playground(emu, runner_for)
        except OSError as exc:  # the port is taken, or the address is not this machine's
            await emu.stop()
            print(f"qorgau playground: cannot listen on {host}:{port}: "
                  f"{os.strerror(exc.errno) if exc.errno else exc}", file=sys.stderr)
            return 2
        try:
            print(f"Qorgau playground: open http://{host}:{emu.port}/ in a browser "
                  "(Ctrl-C stops it; nothing leaves this machine).", flush=True)
            await (until() if until is not None else _interrupted())
        finally:
            await play.stop()
            await runner.stop()
            await emu.stop()
    return 0


async def _interrupted() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
