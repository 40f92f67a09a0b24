"""Building and running the bot: one Application, the domain services, the delivery worker,
the timer loop and the update poller, started and stopped together."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from telegram import Bot, BotCommand, Update
from telegram.error import BadRequest, InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder

from bot.clock import Clock, SystemClock
from bot.delivery.botapi import ApiHealth, MeteredRequest
from bot.delivery.fencing import FencedTransport
from bot.delivery.outbox import OutboxWorker
from bot.delivery.pacing import Limits, Pacer
from bot.delivery.sms import SmsGateway
from bot.delivery.transport import TelegramTransport
from bot.delivery.updates import ALLOWED_UPDATES, Intake, UpdatePoller, sleep_or_stop
from bot.domain import discreet, menus
from bot.domain.facade import Domain
from bot.domain.notify import say
from bot.domain.outage import Outage
from bot.domain.services import Services
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES, lang_of, pick_language, t
from bot.logs import redact_secret
from bot.metrics import Metrics
from bot.settings import Settings, SettingsError
from bot.timers import TimerLoop
from bot.web import Server, Webhook, bind, http_app, server, webhook_path
from handlers import register
from storage import Codec, Storage
from storage.lock import InstanceLock

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
    sms: SmsGateway | None = None  # gammu-smsd's folders, when QORGAU_SMS_* are set

    @property
    def svc(self) -> Services:
        return self.domain.svc


WEBHOOK_SECRET = "webhook_secret"  # kv key of the secret generated when none is set
PROBE_AFTER = 30.0  # clock seconds without an answer from the Bot API before getMe asks


def build_application(settings: Settings, api: ApiHealth | None = None) -> Application:
    """The python-telegram-bot Application with every handler registered. Every request,
    the long poll's included, goes through ``QORGAU_PROXY_URL`` when it is set, and is
    counted in ``api``."""
    token = settings.token()
    redact_secret(token)
    api = api or ApiHealth(SystemClock().now)
    proxy = settings.proxy_url
    if proxy is not None:
        redact_secret(urlsplit(proxy).password or "")  # user:password@ never reaches a log
    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.base_url)
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .updater(None)  # our poller commits the offset only after processing
        # Telegram can be slow on a bad day; a send that times out may still arrive, so give
        # answers time rather than resend (the long poll sets its own timeout).
        .request(MeteredRequest(api, connection_pool_size=64, read_timeout=15.0,
                                write_timeout=15.0, proxy=proxy))
        .get_updates_request(MeteredRequest(api, connection_pool_size=2, proxy=proxy))
        .build()
    )
    register(app)
    return app


def wire(app: Application, storage: Storage, settings: Settings,
         clock: Clock | None = None,
         fence: Callable[[], Awaitable[None]] | None = None) -> Qorgau:
    svc = Services(settings, storage, clock)
    svc.bot_username = app.bot.username
    domain = Domain.build(svc)
    pacer = Pacer(Limits(settings.rate_private_per_second, settings.rate_group_per_minute,
                         settings.rate_global_per_second))
    transport = TelegramTransport(app.bot) if fence is None else FencedTransport(app.bot, fence)
    worker = OutboxWorker(svc, transport, pacer, coalesce=settings.coalesce,
                          on_undeliverable=domain.casework.undeliverable,
                          on_failed=domain.delivery_failed)
    timers = TimerLoop(svc, domain.timer_handlers())
    app.bot_data["domain"] = domain
    return Qorgau(domain, worker, timers)


def pinned(app: Application) -> Callable[[int], Awaitable[int | None]]:
    """A group's pinned message id, as getChat tells it (the live board checks its own)."""
    async def ask(chat_id: int) -> int | None:
        chat = await app.bot.get_chat(chat_id)
        return chat.pinned_message.message_id if chat.pinned_message else None
    return ask


def apologise(q: Qorgau) -> Callable[[Update], Awaitable[None]]:
    """What the poller does when an update keeps failing: tell its sender calmly."""

    async def tell(update: Update) -> None:
        if update.effective_user is None:
            return
        try:
            async with q.svc.storage.transaction() as tx:
                person = await tx.person(update.effective_user.id)
            lang = lang_of(person) if person else pick_language(
                update.effective_user.language_code)
            await say(q.svc, update.effective_user.id, t(
                lang, "Sorry, something went wrong on our side. If you are in danger, tap "
                      "the SOS button again."))
        except Exception:  # the answer is a courtesy; never let it raise again
            log.exception("could not tell the sender about the failure")

    return tell


async def describe(bot: Bot) -> None:
    """The bot's description and short description, in neutral words (discreet mode): a
    seized phone's chat list and the bot's profile must not say it is about detentions.
    A refusal is logged, never fatal: alerts matter more than a profile text."""
    try:
        for code, lang in [("", DEFAULT_LANGUAGE), *((each, each) for each in LANGUAGES)]:
            await bot.set_my_description(t(lang, discreet.DESCRIPTION), language_code=code)
            await bot.set_my_short_description(t(lang, discreet.SHORT_DESCRIPTION),
                                               language_code=code)
            # The reporters' command menu, the one everyone without a menu of their own
            # sees (menus.py): per app language, and without one in the default language.
            await bot.set_my_commands([BotCommand(name, text) for name, text in
                                       menus.commands("reporter", lang)], language_code=code)
    except (TelegramError, OSError) as exc:
        log.warning("could not set the bot's description or menu (%s)", type(exc).__name__)
def _answered_a_page(exc: BaseException) -> bool:
    """python-telegram-bot raises a bare TelegramError ("Invalid server response") when an
    answer is not JSON, and chains it under what the HTTP status made of it."""
    cause: BaseException | None = exc
    while cause is not None:
        if type(cause) is TelegramError:
            return True
        cause = cause.__cause__
    return False


class StartAborted(Exception):
    """Stopped while still waiting for the Bot API to answer."""


class Runner:
    """The running bot: storage, Application, worker, timers, and the poller or the webhook,
    in one object so that tests, the demo and the benchmark can start and stop it like
    ``qorgau run`` does."""

    def __init__(self, settings: Settings, clock: Clock | None = None,
                 poll_timeout: int = 10, watch_every: float = 10.0,
                 codec: Codec | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.poll_timeout = poll_timeout
        self.watch_every = watch_every  # real seconds between probes and outage checks
        self.stopped = asyncio.Event()
        self.storage = Storage(settings.database, codec or settings.codec())
        # SQLite: one process per file. PostgreSQL: any number, one leading (start()).
        self.lock = InstanceLock(settings.database) \
            if isinstance(settings.database, Path) else None
        self.leader = self.storage.leadership()
        self.app: Application | None = None
        self.q: Qorgau | None = None
        self.api = ApiHealth(self.clock.now)
        self.metrics: Metrics | None = None
        self.http: Server | None = None
        self.http_task: asyncio.Task[None] | None = None
        self._board_check: asyncio.Task[None] | None = None  # one look at the boards' pins
        self.crashed = False  # a loop died: the process should exit non-zero
        # How long a stop waits for sends in flight: longer than a request may take (its
        # read timeout), short enough for a container's grace period before SIGKILL.
        self.stop_sends_within = 20.0

    async def start(self) -> Qorgau:
        settings = self.settings
        await self.storage.open()
        if self.lock is not None:
            self.lock.acquire()  # a second instance stops here, naming the first
        # Take the port next: one in use is a one-line stop, before any slow step.
        port = settings.listen_port
        sock = bind(settings.http_host, port) if port is not None else None
        try:
            await self.storage.migrate()
            await self._warn_if_nobody_can_invite()
            self.app = build_application(settings, self.api)
            hook = None if settings.webhook_url is None else Webhook(
                self.app, await self._secret())
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        self.metrics = Metrics(self.storage, self.clock.now, self.api)
        self.metrics.role = lambda: self.leader.role
        if sock is not None:  # /healthz answers from now on, "starting" until all runs
            self.http = server(http_app(self.metrics, hook, webhook_path(
                settings.webhook_url or "/")))
            self.http_task = asyncio.create_task(self.http.serve(sockets=[sock]),
                                                 name="updates" if hook else "http")
        # A standby waits here (its /healthz says so) until the leader is gone.
        if not await self.leader.acquire(self.stopped):
            raise StartAborted
        await self._connect(self.app)
        await describe(self.app.bot)
        q = wire(self.app, self.storage, settings, self.clock, self.leader.fence)
        async with q.svc.step() as tx:  # a release with other commands: staff menus anew
            await menus.refresh_all_if_changed(tx, q.svc.now())
        await self.app.start()
        intake = Intake(self.app, self.stopped, apologise(q), q.svc, q.domain.flood)
        outage = Outage(q.svc)
        await self._look_for_outage(outage)  # before the worker sends what waited meanwhile
        q.tasks = [asyncio.create_task(q.worker.run(), name="outbox"),
                   asyncio.create_task(q.timers.run(), name="timers")]
        if settings.sms_enabled:
            q.sms = SmsGateway(q.svc, q.domain.sms, settings)
            q.tasks.append(asyncio.create_task(q.sms.run(), name="sms"))
        if self.http_task is not None:
            q.tasks.append(self.http_task)
        self.q = q
        self._board_check = asyncio.create_task(q.domain.boards.check_pins(pinned(self.app)),
                                                name="boards")
        if hook is not None:
            hook.intake = intake
            await self._register_webhook(hook.secret)
        else:
            await self._polling_only()
            q.tasks.append(asyncio.create_task(UpdatePoller(intake, self.poll_timeout).run(),
                                               name="updates"))
        self.metrics.started(intake, q.tasks)
        q.tasks.append(asyncio.create_task(self._watch(outage), name="watch"))
        # Returns only when the leadership is lost: then the whole bot stops (and exits
        # non-zero, for its supervisor to start it again as a standby).
        q.tasks.append(asyncio.create_task(self.leader.hold(), name="leadership"))
        log.info("Qorgau is running as @%s (%s)", self.app.bot.username,
                 "webhook" if hook else "polling")
        return q

    async def _secret(self) -> str:
        """QORGAU_WEBHOOK_SECRET, or the random one generated at the first webhook start and
        kept in the database (a restart must not make Telegram's retries unwelcome)."""
        if self.settings.webhook_secret is not None:
            secret = self.settings.webhook_secret.get_secret_value()
        else:
            async with self.storage.transaction() as tx:
                secret = await tx.get_value(WEBHOOK_SECRET) or secrets.token_urlsafe(48)
                await tx.set_value(WEBHOOK_SECRET, secret)
        redact_secret(secret)
        return secret

    async def _register_webhook(self, secret: str) -> None:
        """setWebhook, retried while the Bot API is out of reach; refused: one line, exit 2."""
        assert self.app is not None and self.settings.webhook_url is not None
        failures = 0
        while not self.stopped.is_set():
            try:
                await self.app.bot.set_webhook(self.settings.webhook_url, secret_token=secret,
                                               allowed_updates=ALLOWED_UPDATES)
                return
            except BadRequest as exc:
                raise SettingsError(f"QORGAU_WEBHOOK_URL: refused by the Bot API "
                                    f"({exc.message})") from None
            except TelegramError as exc:
                failures += 1
                delay = min(60.0, 2.0 ** min(failures, 6))
                log.warning("could not register the webhook (%s); retrying in %.0f s",
                            type(exc).__name__, delay)
                await sleep_or_stop(self.stopped, delay)

    async def _polling_only(self) -> None:
        """Polling after a webhook run: Telegram refuses getUpdates while a webhook is set,
        so it is removed (the updates waiting for it stay and are polled)."""
        assert self.app is not None
        try:
            info = await self.app.bot.get_webhook_info()
            if info.url:
                await self.app.bot.delete_webhook()
                log.info("removed the webhook of an earlier run; polling")
        except TelegramError as exc:  # the poller's own retries will say more
            log.warning("could not check for a webhook (%s)", type(exc).__name__)

    async def _watch(self, outage: Outage) -> None:
        """Keep the health verdict honest and notice an outage: ask getMe when nothing has
        reached the Bot API for a while (a quiet webhook makes no calls), then look at the
        outbox and the Bot API for a sickness that began or ended."""
        assert self.app is not None
        while True:
            await sleep_or_stop(self.stopped, self.watch_every)
            if self.stopped.is_set():
                return
            last = self.api.last_ok_at
            if last is None or self.api.down_since is not None or (
                    self.clock.now() - last > PROBE_AFTER):
                try:
                    await self.app.bot.get_me()
                except TelegramError:
                    pass  # counted by the request; the verdict says it
            await self._look_for_outage(outage)

    async def _look_for_outage(self, outage: Outage) -> None:
        try:
            await outage.check(self.api.down_since)
        except Exception:  # e.g. the database; next round
            log.exception("could not check for an outage")
    async def _warn_if_nobody_can_invite(self) -> None:
        """Lawyers join only through a coordinator's invite: with no QORGAU_ADMIN_IDS and no
        coordinator in the database, alerts would page nobody, and nobody could fix that."""
        if self.settings.admin_ids:
            return
        async with self.storage.read() as tx:
            coordinators = await tx.people("coordinator")
        if not coordinators:
            log.warning("QORGAU_ADMIN_IDS is empty and no coordinator is registered: nobody "
                        "can invite lawyers, so alerts reach nobody; set QORGAU_ADMIN_IDS")

    async def _connect(self, app: Application) -> None:
        """getMe until it answers: a wrong token ends the program in one line; an
        unreachable Bot API (a blocked network on a protest day, a proxy's or a block page
        answering instead) is retried, not fatal, with one short line per try."""
        failures = 0
        url = self.settings.telegram_api_url
        while True:
            try:
                await app.initialize()
                return
            except InvalidToken as exc:
                if _answered_a_page(exc):  # a 404/401 that is not JSON: not a Bot API
                    raise SettingsError(
                        f"QORGAU_TELEGRAM_API_URL: {url} does not answer like a Bot API "
                        "(an error page instead); check the URL") from None
                raise SettingsError(
                    "QORGAU_BOT_TOKEN: rejected by the Bot API (revoked or mistyped)") from None
            except TelegramError as exc:
                failures += 1
                delay = min(60.0, 2.0 ** min(failures, 6))
                why = type(exc).__name__
                if type(exc) is TelegramError:  # "Invalid server response": not JSON
                    why = "it answered with a page that is not the Bot API's, e.g. a proxy's"
                via = " through QORGAU_PROXY_URL" if self.settings.proxy_url else ""
                log.warning("cannot reach the Bot API at %s%s (%s); retrying in %.0f s",
                            url, via, why, delay)
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
        if self.http is not None:  # finish the requests at hand, then close the port
            self.http.should_exit = True
        taking = {t for t in (self.q.tasks if self.q else []) if t.get_name() == "updates"}
        if self.http_task is not None:
            taking.add(self.http_task)
        if taking:
            await asyncio.wait(taking, timeout=30.0)
        if self.http_task is not None and self.q is None:  # stopped while starting
            self.http_task.cancel()
        if self._board_check is not None:
            self._board_check.cancel()
            await asyncio.gather(self._board_check, return_exceptions=True)
        if self.q is not None:
            self.q.timers.stop()
            # A lost leader's sends wait at its fence forever: do not wait for them at all.
            await self.q.worker.stop(within=0.0 if self.leader.role == "lost"
                                     else self.stop_sends_within)
            for task in self.q.tasks:
                task.cancel()
            await asyncio.gather(*self.q.tasks, return_exceptions=True)
            self.q = None
        if self.app is not None:
            if self.app.running:
                await self.app.stop()
            await self.app.shutdown()
            self.app = None
        self.http = self.http_task = None
        await self.leader.release()
        await self.storage.close()
        if self.lock is not None:
            self.lock.release()


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
