"""Building and running the bot: one Application, the domain services, the delivery worker,
the timer loop and the update poller, started and stopped together."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from telegram import Update
from telegram.error import InvalidToken, NetworkError, TimedOut
from telegram.ext import Application, ApplicationBuilder

from bot.clock import Clock
from bot.delivery.outbox import OutboxWorker
from bot.delivery.pacing import Limits, Pacer
from bot.delivery.transport import TelegramTransport
from bot.delivery.updates import UpdatePoller, sleep_or_stop
from bot.domain.facade import Domain
from bot.domain.notify import say
from bot.domain.services import Services
from bot.i18n import lang_of, t
from bot.logs import redact_secret
from bot.settings import Settings, SettingsError
from bot.timers import TimerLoop
from handlers import register
from storage import Codec, Storage

# python-telegram-bot 22 warns when RetryAfter.retry_after is an int; opt into timedelta.
os.environ.setdefault("PTB_TIMEDELTA", "1")

log = logging.getLogger(__name__)


@dataclass
class Qorgau:
    """The running parts: the domain handlers call, and the loops that deliver and fire timers."""

    domain: Domain
    worker: OutboxWorker
    timers: TimerLoop
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def svc(self) -> Services:
        return self.domain.svc


def build_application(settings: Settings) -> Application:
    """The python-telegram-bot Application with every handler registered."""
    token = settings.token()
    redact_secret(token)
    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.base_url)
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .updater(None)  # our poller commits the offset only after processing
        .connection_pool_size(64)
        # Telegram can be slow on a bad day; a send that times out may still arrive, so give
        # answers time rather than resend (the long poll sets its own timeout).
        .read_timeout(15.0)
        .write_timeout(15.0)
        .build()
    )
    register(app)
    return app


def wire(app: Application, storage: Storage, settings: Settings,
         clock: Clock | None = None) -> Qorgau:
    svc = Services(settings, storage, clock)
    svc.bot_username = app.bot.username
    domain = Domain.build(svc)
    pacer = Pacer(Limits(settings.rate_private_per_second, settings.rate_group_per_minute,
                         settings.rate_global_per_second))
    worker = OutboxWorker(svc, TelegramTransport(app.bot), pacer, coalesce=settings.coalesce,
                          on_undeliverable=domain.casework.undeliverable,
                          on_failed=domain.casework.delivery_failed)
    timers = TimerLoop(svc, domain.timer_handlers())
    app.bot_data["domain"] = domain
    return Qorgau(domain, worker, timers)


def apologise(q: Qorgau) -> Callable[[Update], Awaitable[None]]:
    """What the poller does when an update keeps failing: tell its sender calmly."""

    async def tell(update: Update) -> None:
        if update.effective_user is None:
            return
        try:
            async with q.svc.storage.transaction() as tx:
                person = await tx.person(update.effective_user.id)
            lang = lang_of(person)
            await say(q.svc, update.effective_user.id, t(
                lang, "Sorry, something went wrong on our side. If you are in danger, tap "
                      "the SOS button again."))
        except Exception:  # the answer is a courtesy; never let it raise again
            log.exception("could not tell the sender about the failure")

    return tell


class StartAborted(Exception):
    """Stopped while still waiting for the Bot API to answer."""


class Runner:
    """The running bot: storage, Application, worker, timers and poller, in one object so
    that tests, the demo and the benchmark can start and stop it like ``qorgau run`` does."""

    def __init__(self, settings: Settings, clock: Clock | None = None,
                 poll_timeout: int = 10, codec: Codec | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.poll_timeout = poll_timeout
        self.stopped = asyncio.Event()
        self.storage = Storage(settings.database, codec or settings.codec())
        self.app: Application | None = None
        self.q: Qorgau | None = None
        self.crashed = False  # a loop died: the process should exit non-zero

    async def start(self) -> Qorgau:
        await self.storage.open()
        await self.storage.migrate()
        self.app = build_application(self.settings)
        await self._connect(self.app)
        q = wire(self.app, self.storage, self.settings, self.clock)
        await self.app.start()
        q.tasks = [
            asyncio.create_task(q.worker.run(), name="outbox"),
            asyncio.create_task(q.timers.run(), name="timers"),
            asyncio.create_task(UpdatePoller(self.app, self.stopped, self.poll_timeout,
                                             apologise(q), q.svc, q.domain.flood).run(),
                                name="updates"),
        ]
        self.q = q
        log.info("Qorgau is running as @%s", self.app.bot.username)
        return q

    async def _connect(self, app: Application) -> None:
        """getMe until it answers: a wrong token ends the program in one line; an
        unreachable Bot API (a blocked network on a protest day) is retried, not fatal."""
        failures = 0
        while True:
            try:
                await app.initialize()
                return
            except InvalidToken:
                raise SettingsError(
                    "QORGAU_BOT_TOKEN: rejected by the Bot API (revoked or mistyped)") from None
            except (NetworkError, TimedOut) as exc:
                failures += 1
                delay = min(60.0, 2.0 ** min(failures, 6))
                log.warning("cannot reach the Bot API at %s (%s); retrying in %.0f s",
                            self.settings.telegram_api_url, type(exc).__name__, delay)
                await sleep_or_stop(self.stopped, delay)
                if self.stopped.is_set():
                    raise StartAborted from None

    async def wait(self) -> None:
        """Until stopped, or until one of the loops dies (then stop the rest)."""
        assert self.q is not None
        waiter = asyncio.create_task(self.stopped.wait())
        done, _ = await asyncio.wait([waiter, *self.q.tasks],
                                     return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiter and not task.cancelled():
                self.crashed = True
                log.error("%s stopped: %r", task.get_name(), task.exception())
        waiter.cancel()

    async def stop(self) -> None:
        """In order: stop taking updates (finishing and confirming the batch at hand), then
        the timers, then the deliveries in flight; what is still pending stays pending."""
        self.stopped.set()
        if self.q is not None:
            poller = next((t for t in self.q.tasks if t.get_name() == "updates"), None)
            if poller is not None:
                await asyncio.wait({poller}, timeout=30.0)
            self.q.timers.stop()
            await self.q.worker.stop()
            for task in self.q.tasks:
                task.cancel()
            await asyncio.gather(*self.q.tasks, return_exceptions=True)
            self.q = None
        if self.app is not None:
            if self.app.running:
                await self.app.stop()
            await self.app.shutdown()
            self.app = None
        await self.storage.close()


async def run(settings: Settings, stop: asyncio.Event | None = None,
              codec: Codec | None = None) -> None:
    """Run the bot until ``stop`` is set (``codec``: the benchmark's, instead of the
    data key's)."""
    runner = Runner(settings, codec=codec)
    if stop is not None:
        link = asyncio.create_task(stop.wait())
        link.add_done_callback(lambda _: runner.stopped.set())
    try:
        await runner.start()
        await runner.wait()
    except StartAborted:
        pass
    finally:
        await runner.stop()
    if runner.crashed:
        raise RuntimeError("a part of the bot stopped unexpectedly; see the log above")
