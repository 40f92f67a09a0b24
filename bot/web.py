"""The bot's small HTTP face: /healthz, /metrics and, in webhook mode, the webhook.

Built as in python-telegram-bot's custom-webhook example (Starlette served by uvicorn in the
bot's own event loop), with two differences that keep the poller's guarantees: an update is
answered 200 only after its effects are committed (``Intake.take``), so Telegram sends again
whatever crashed; and a request without the right secret header is refused (403) before its
body is read, so a stranger can neither feed the bot updates nor fill the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import socket
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from bot.delivery.updates import Intake
from bot.metrics import TELEGRAM, Metrics
from bot.settings import SettingsError

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
REFUSAL_LOG_EVERY = 60.0  # seconds between log lines about refused webhook requests
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def webhook_path(url: str) -> str:
    """The path Telegram posts to: the webhook URL's, as a reverse proxy passes it on."""
    return urlsplit(url).path or "/"


@dataclass
class Lane:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class Webhook:
    """Takes one update per request, in order per sender, answering only once it is done."""

    def __init__(self, app: Application, secret: str) -> None:
        self.app = app
        self.secret = secret
        # Set once the bot runs as the leader; until then 503, so Telegram sends it again
        # (and a load balancer, told by /healthz?leader, sends it to the leader).
        self.intake: Intake | None = None
        self._lanes: dict[int, Lane] = {}  # one person's updates, one at a time
        self._refusals = 0  # not yet logged: a flood of forged requests is one line a minute
        self._refusal_logged_at = -REFUSAL_LOG_EVERY

    async def take(self, request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            self._refused(request, "wrong" if given else "no")
            return Response(status_code=403)
        intake = self.intake
        if intake is None:
            return Response(status_code=503)  # starting, or a standby: not taken here
        try:
            update = Update.de_json(json.loads(await request.body()), self.app.bot)
            if not isinstance(update, Update):
                raise TypeError("not an object")
        except Exception as exc:  # not JSON, not an update: no retry will make it one
            log.warning("webhook request is not an update (%s); ignored", type(exc).__name__)
            return Response(status_code=200)
        sender = update.effective_user.id if update.effective_user else 0
        lane = self._lanes.setdefault(sender, Lane())
        lane.users += 1
        try:
            async with lane.lock:
                retry = await intake.take([update])
        finally:
            lane.users -= 1
            if not lane.users:
                self._lanes.pop(sender, None)
        if retry:
            return Response(status_code=500)  # Telegram sends it again, later
        return Response(status_code=200)

    def _refused(self, request: Request, why: str) -> None:
        self._refusals += 1
        now = time.monotonic()
        if now - self._refusal_logged_at < REFUSAL_LOG_EVERY:
            return
        log.warning("webhook request refused: %s secret token (from %s; %d refused since the "
                    "last such line)", why, request.client.host if request.client else "?",
                    self._refusals)
        self._refusal_logged_at, self._refusals = now, 0


def http_app(metrics: Metrics, webhook: Webhook | None = None, path: str = "/") -> Starlette:
    async def healthz(request: Request) -> Response:
        failing = await metrics.failing()
        role = metrics.role()
        # "/healthz?leader" is for a load balancer in front of several instances' webhooks:
        # only the leader takes updates (a standby answers the webhook 503), so there a
        # healthy standby is 503 too. Plain /healthz keeps a standby 200: it is well, and a
        # supervisor must not restart it for waiting. Telegram out of reach does not count
        # for "?leader": every instance reaches it alike, and a balancer that took the only
        # leader out for one timed-out send would refuse every update, an SOS included.
        if "leader" in request.query_params:
            unfit = role != "leader" or any(not p.startswith(TELEGRAM) for p in failing)
        else:
            unfit = bool(failing)
        return JSONResponse({"ok": not failing, "failing": failing, "role": role},
                            status_code=503 if unfit else 200)

    async def prometheus(_: Request) -> Response:
        try:
            body = await metrics.exposition()
        except Exception as exc:  # the database did not answer: say so, briefly
            return PlainTextResponse(f"database: {type(exc).__name__}\n", status_code=503)
        return Response(body, media_type=PROMETHEUS_TEXT)

    routes = [Route("/healthz", healthz, methods=["GET"]),
              Route("/metrics", prometheus, methods=["GET"])]
    if webhook is not None:
        routes.append(Route(path, webhook.take, methods=["POST"]))
    return Starlette(routes=routes)


def bind(host: str, port: int) -> socket.socket:
    """Take the port now, so that one in use ends the start in one line (exit 2) instead of
    uvicorn's own exit from inside the event loop."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        raise SettingsError(f"QORGAU_HTTP_HOST/QORGAU_HTTP_PORT: cannot listen on "
                            f"{host}:{port} ({exc.strerror or type(exc).__name__})") from None
    sock.setblocking(False)
    return sock


class Server(uvicorn.Server):
    """uvicorn inside our loop: the bot's own SIGTERM handling stops it, not uvicorn's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def server(app: Starlette) -> Server:
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                            server_header=False, timeout_graceful_shutdown=30)
    return Server(config)
