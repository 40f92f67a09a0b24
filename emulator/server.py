"""The HTTP face of the emulator and the ``Emulator`` object tests drive.

The bot talks to it over real HTTP exactly as to api.telegram.org
(``ApplicationBuilder().base_url(emu.base_url)``), so what is tested is the bot's real
request/parse path, not a mock of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from .errors import (
    INTERNAL,
    METHOD_NOT_FOUND,
    UNAUTHORIZED,
    ApiError,
    bad_request,
    too_many_requests,
)
from .faults import Faults
from .limits import Limits, RateLimiter, is_counted
from .methods import BotApi
from .people import SimGroup, SimUser
from .spec import Method, Spec, load_spec
from .state import Call, Chat, Notifier, World

DEFAULT_LIMITS = Limits()
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


def _webhook_port(url: str) -> int | None:
    try:
        return urlsplit(url).port or 443
    except ValueError:
        return None


def _make_token() -> tuple[int, str]:
    bot_id = 100_000 + secrets.randbelow(900_000)
    return bot_id, f"{bot_id}:{secrets.token_urlsafe(32)[:35]}"


class _Dropped(Exception):
    """Raised after closing the connection for an injected "drop" fault."""


class Emulator:
    """A local Telegram Bot API server plus the simulated people who talk to the bot."""

    def __init__(
        self,
        token: str | None = None,
        bot_username: str = "qorgau_bot",
        bot_name: str = "Qorgau",
        limits: Limits | None = DEFAULT_LIMITS,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        if token is None:
            self.bot_id, self.token = _make_token()
        else:
            head = token.split(":", 1)[0]
            self.token = token
            self.bot_id = int(head) if head.isdigit() else 100_001
        self.bot_username = bot_username
        self.bot_name = bot_name
        self.faults = faults
        self.host = host
        self.port = port
        self.spec: Spec = load_spec()
        self.world = World()
        self.bot_user: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
        }
        self.api = BotApi(self.world, self.bot_user)
        self.calls: list[Call] = []
        # update_id -> time.monotonic() when the bot was first handed that update (the
        # getUpdates answer, or the webhook POST that it accepted): where latency starts.
        self.update_handed_at: dict[int, float] = {}
        self._stats = {
            "calls": 0,
            "sent_messages": 0,
            "edits": 0,
            "rate_limited": 0,
            "faults_injected": 0,
            "http_429": 0,
        }
        self._limiter: RateLimiter | None = None
        self.limits = limits
        self._next_user_id = 700_000_001
        self._next_group_id = -1_001_000_000_001
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_max_connections = 40
        self.webhook_last_error: tuple[int, str] | None = None
        # (update_id, HTTP status; 0: no answer) of every webhook POST, for tests to read.
        self.webhook_answers: list[tuple[int, int]] = []
        # What a TLS-terminating reverse proxy does in production: a webhook URL starting
        # with a key is posted to the value instead (https://bot.example -> http://127...).
        self.webhook_forward: dict[str, str] = {}
        self._webhook_changed = Notifier()
        self._poll_token: asyncio.Future[None] | None = None
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        # Extra routes on the same server (the playground page), added when it starts.
        self.setup_app: list[Callable[[web.Application], None]] = []

    # ----- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on host:port (port 0 picks a free one) and start webhook delivery."""
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        for setup in self.setup_app:
            setup(app)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        addresses = self._runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        self._closing = False
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._webhook_task = asyncio.create_task(self._deliver_webhooks())

    async def stop(self) -> None:
        """Stop serving; wakes long polls so shutdown is immediate."""
        self._closing = True
        self.world.updates_changed.notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def limits(self) -> Limits | None:
        """Flood limits in force (None: unlimited); assigning resets the counters."""
        return self._limits

    @limits.setter
    def limits(self, value: Limits | None) -> None:
        self._limits = value
        self._limiter = RateLimiter(value) if value else None

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What python-telegram-bot's ``base_url`` wants (it appends the token)."""
        return f"{self.api_url}/bot"

    # ----- people and inspection ------------------------------------------------------------

    def user(
        self,
        first_name: str = "Aida",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> SimUser:
        """A new person with a private chat with the bot (chat id == user id)."""
        uid = self._next_user_id
        self._next_user_id += 1
        chat = Chat(
            id=uid,
            type="private",
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        self.world.chats[uid] = chat
        return SimUser(self, chat)

    def group(self, title: str = "Press Freedom KZ", bot_admin: bool = False) -> SimGroup:
        """A new supergroup the bot is a member (optionally an administrator) of."""
        gid = self._next_group_id
        self._next_group_id -= 1
        chat = Chat(id=gid, type="supergroup", title=title, language_code=None)
        if bot_admin:
            chat.admins.add(self.bot_id)
        self.world.chats[gid] = chat
        return SimGroup(self, chat)

    def block(self, user: SimUser) -> None:
        """The person blocked the bot: sends to them now fail with 403."""
        user.chat.blocked = True

    def unblock(self, user: SimUser) -> None:
        user.chat.blocked = False

    @property
    def stats(self) -> dict[str, int]:
        return dict(self._stats)

    def sent(self, chat_id: int | None = None, method: str | None = None) -> list[Call]:
        """Successful calls, optionally only those to one chat and/or of one method."""
        low = method.lower() if method else None
        return [
            c
            for c in self.calls
            if c.status == 200
            and (chat_id is None or c.chat_id == chat_id)
            and (low is None or c.method.lower() == low)
        ]

    def updates_pending(self) -> int:
        """Updates the bot has not confirmed yet (getUpdates offset or webhook 2xx)."""
        return len(self.world.updates)

    # ----- HTTP ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        name = request.match_info["method"]
        method = self.spec.method(name)
        call = Call(time=started, method=method.name if method else name, params={}, status=0)
        self.calls.append(call)
        self._stats["calls"] += 1
        try:
            if request.match_info["token"] != self.token:
                raise UNAUTHORIZED
            if method is None:
                raise METHOD_NOT_FOUND
            raw = await self._read_params(request, method)
            call.params = raw
            params = self.spec.validate(method, raw)
            call.params = params
            call.chat_id = self.api.target_chat_id(params)
            result = await self._run(request, method, params, call)
        except _Dropped:
            # the connection is already closed; aiohttp discards whatever is returned
            return web.Response(status=500)
        except ApiError as err:
            call.status, call.error = err.status, err.description
            if err.status == 429:
                self._stats["http_429"] += 1  # limits and injected 429s alike
            return web.json_response(err.body(), status=err.status)
        call.status, call.result = 200, result
        return web.json_response({"ok": True, "result": result})

    async def _read_params(self, request: web.Request, method: Method) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if not request.body_exists:
            return params
        ctype = request.content_type
        if ctype == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad_request("can't parse JSON body") from None
            if body is None:
                return params
            if not isinstance(body, dict):
                raise bad_request("JSON body must be an object")
            params.update(body)
            return params
        if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            uploads: dict[str, Any] = {}
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    uploads[key] = {"_upload": value.filename, "size": len(value.file.read())}
                else:
                    params[key] = value
            referenced = " ".join(str(v) for v in params.values())
            for key, upload in uploads.items():
                if key in method.fields or f"attach://{key}" not in referenced:
                    params[key] = upload
            return params
        await request.read()
        return params

    async def _run(
        self, request: web.Request, method: Method, params: dict[str, Any], call: Call
    ) -> Any:
        faults = self.faults
        fault = faults.pick(method.name) if faults else None
        if fault is not None and faults is not None:
            call.fault = fault
            self._stats["faults_injected"] += 1
            if fault == "429":
                raise too_many_requests(1)
            if fault == "500":
                raise INTERNAL
            if fault == "drop":
                if request.transport is not None:
                    request.transport.close()
                raise _Dropped()
            await asyncio.sleep(faults.slow_seconds)
        special = _SPECIAL.get(method.name.lower())
        if special is not None:
            return await special(self, params)
        counted = self._limiter is not None and is_counted(method.name)
        if counted and self._limiter is not None:
            wait = self._limiter.check(call.chat_id, time.monotonic())
            if wait:
                self._stats["rate_limited"] += 1
                raise too_many_requests(wait)
        result = self.api.call(method, params)
        if counted and self._limiter is not None:
            self._limiter.record(call.chat_id, time.monotonic())
        low = method.name.lower()
        if isinstance(result, dict) and "message_id" in result:
            if low.startswith("edit") or low == "stopmessagelivelocation":
                self._stats["edits"] += 1
            else:
                self._stats["sent_messages"] += 1
        return result

    # ----- methods that touch the transport (updates, webhooks, session) -------------------

    async def _get_me(self, p: Mapping[str, Any]) -> Any:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, p: Mapping[str, Any]) -> Any:
        if self.webhook_url:
            raise ApiError(409, CONFLICT_WEBHOOK)
        world = self.world
        if "allowed_updates" in p:
            world.set_allowed(list(p["allowed_updates"]))
        if "offset" in p:
            world.confirm(int(p["offset"]))
        limit = min(max(int(p.get("limit", 100)), 1), 100)
        timeout = max(float(p.get("timeout", 0)), 0.0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        mine: asyncio.Future[None] = loop.create_future()
        previous, self._poll_token = self._poll_token, mine
        if previous is not None and not previous.done():
            previous.set_result(None)  # an older long poll is now superseded
        try:
            while True:
                if world.updates:
                    batch = [dict(u) for u in world.updates[:limit]]
                    handed = time.monotonic()
                    for update in batch:
                        self.update_handed_at.setdefault(update["update_id"], handed)
                    return batch
                remaining = deadline - loop.time()
                if remaining <= 0 or self._closing:
                    return []
                wake = world.updates_changed.future()
                await asyncio.wait(
                    {wake, mine}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                wake.cancel()
                if mine.done():
                    raise ApiError(409, CONFLICT_POLL)
        finally:
            if self._poll_token is mine:
                self._poll_token = None

    async def _set_webhook(self, p: Mapping[str, Any]) -> Any:
        url = str(p["url"]).strip()
        if not url:
            return await self._delete_webhook(p)
        # As Telegram: https only, on one of four ports. A test's local http receiver is
        # reached through ``webhook_forward``, as a real one is through a reverse proxy.
        if not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if _webhook_port(url) not in (443, 80, 88, 8443):
            raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 "
                              "or 8443")
        secret = p.get("secret_token")
        if secret is not None and not _SECRET_RE.match(str(secret)):
            raise bad_request("bad webhook: secret token contains unallowed characters")
        max_conn = int(p.get("max_connections", 40))
        if not 1 <= max_conn <= 100:
            raise bad_request("bad webhook: max_connections must be 1-100")
        if "allowed_updates" in p:
            self.world.set_allowed(list(p["allowed_updates"]))
        if p.get("drop_pending_updates"):
            self.world.updates.clear()
        self.webhook_url, self.webhook_secret = url, (str(secret) if secret else None)
        self.webhook_max_connections = max_conn
        self.webhook_last_error = None
        self._webhook_changed.notify()
        if self._poll_token is not None and not self._poll_token.done():
            self._poll_token.set_result(None)
        return True

    async def _delete_webhook(self, p: Mapping[str, Any]) -> Any:
        if p.get("drop_pending_updates"):
            self.world.updates.clear()
        self.webhook_url = self.webhook_secret = None
        self.webhook_last_error = None
        self._webhook_changed.notify()
        return True

    async def _get_webhook_info(self, p: Mapping[str, Any]) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.world.updates),
        }
        if self.webhook_url:
            info["max_connections"] = self.webhook_max_connections
            if self.world.allowed_updates:
                info["allowed_updates"] = sorted(self.world.allowed_updates)
        if self.webhook_last_error:
            info["last_error_date"], info["last_error_message"] = self.webhook_last_error
        return info

    async def _ok(self, p: Mapping[str, Any]) -> Any:
        return True

    async def _deliver_webhooks(self) -> None:
        """POST pending updates one by one to the webhook, retrying until a 2xx."""
        backoff = 0.05
        while True:
            url, world = self.webhook_url, self.world
            if not url or not world.updates:
                waits = {self._webhook_changed.future(), world.updates_changed.future()}
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for fut in waits:
                    fut.cancel()
                continue
            update = world.updates[0]
            headers = (
                {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret}
                if self.webhook_secret
                else {}
            )
            error: str | None = None
            posted = time.monotonic()
            for public, local in self.webhook_forward.items():
                if url.startswith(public):
                    url = local + url[len(public):]
            status = 0
            try:
                assert self._session is not None
                async with self._session.post(url, json=update, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
                    if not 200 <= resp.status < 300:
                        error = f"Wrong response from the webhook: {resp.status} {resp.reason}"
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                error = f"Connection failed: {exc!r}"
            self.webhook_answers.append((update["update_id"], status))
            if error is None:
                self.update_handed_at.setdefault(update["update_id"], posted)
                world.updates = [u for u in world.updates if u["update_id"] != update["update_id"]]
                backoff = 0.05
            else:
                self.webhook_last_error = (int(time.time()), error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)


_SPECIAL = {
    "getme": Emulator._get_me,
    "getupdates": Emulator._get_updates,
    "setwebhook": Emulator._set_webhook,
    "deletewebhook": Emulator._delete_webhook,
    "getwebhookinfo": Emulator._get_webhook_info,
    "logout": Emulator._ok,
    "close": Emulator._ok,
}
