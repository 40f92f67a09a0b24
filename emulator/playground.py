"""The playground: a web page on the emulator's own server where a person plays every phone.

``qorgau emulator`` serves only the bot's side of the API; this is the user side, for people
rather than tests: a column per phone (a person's private chat or a group), each drawn like
Telegram (bubbles, inline buttons, the reply keyboard, pins, edits in place), with a text
box, locations by map click or coordinates, and a live location that moves. Every action
goes through the same ``SimUser``/``SimGroup`` code the tests use, so what the page does is
exactly what a test can do. Plain HTML and a little JavaScript (``playground.html``), no
build step and nothing fetched from outside. The emulator imports nothing of the bot's: a
host adds its own one-click actions with :meth:`Playground.add_action`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from .markup import button_label
from .people import SimGroup, SimUser
from .server import Emulator
from .state import BotMessage, Chat

PAGE = Path(__file__).with_name("playground.html")
LIVE_STEP_SECONDS = 12.0  # a moving phone reports about this often (Telegram: ~every 10 s+)
LIVE_STEP_DEGREES = 0.002  # ~200 m a step, north-east: enough to see it move on a map
LIVE_PERIOD = 8 * 3600
ANSWER_WAIT = 10.0
MAX_PHONES = 24

Action = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class Phone:
    """One column of the page: a person's private chat, or a group seen by its members."""

    sim: SimUser | SimGroup
    role: str
    live: asyncio.Task[None] | None = None
    notices: list[str] = field(default_factory=list)  # callback answers shown as toasts

    @property
    def chat(self) -> Chat:
        return self.sim.chat


class Playground:
    """The phones on the page and the HTTP routes that show and drive them."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.phones: list[Phone] = []
        self.actions: dict[str, Action] = {}
        self.busy: set[asyncio.Task[Any]] = set()
        emu.setup_app.append(self.routes)

    # ----- what the host sets up -----------------------------------------------------------

    def add_person(self, name: str, role: str = "person") -> SimUser:
        sim = self.emu.user(first_name=name, language_code="en")
        self.phones.append(Phone(sim, role))
        for phone in self.phones:  # everyone may write in every group shown
            if isinstance(phone.sim, SimGroup):
                phone.chat.members.add(sim.id)
        return sim

    def add_group(self, title: str) -> SimGroup:
        group = self.emu.group(title=title)
        for phone in self.phones:
            if isinstance(phone.sim, SimUser):
                group.chat.members.add(phone.sim.id)
        self.phones.append(Phone(group, "group"))
        return group

    def add_action(self, label: str, action: Action) -> None:
        """A button in the page's header that runs ``action`` (e.g. a one-click setup)."""
        self.actions[label] = action

    def phone(self, chat_id: int) -> Phone:
        for phone in self.phones:
            if phone.chat.id == chat_id:
                return phone
        raise web.HTTPNotFound(text="no such phone")

    def person(self, user_id: int) -> SimUser:
        sim = self.phone(user_id).sim
        if not isinstance(sim, SimUser):
            raise web.HTTPBadRequest(text="not a person")
        return sim

    async def stop(self) -> None:
        """Stop the moving phones and wait for actions still running."""
        for phone in self.phones:
            if phone.live is not None:
                phone.live.cancel()
        tasks = [p.live for p in self.phones if p.live is not None] + list(self.busy)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ----- HTTP ----------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._page)
        app.router.add_get("/playground", self._page)
        app.router.add_get("/playground/state", self._state)
        app.router.add_post("/playground/act", self._act)
        app.router.add_get("/favicon.ico", self._nothing)  # browsers ask; keep logs quiet

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=PAGE.read_text(encoding="utf-8"), content_type="text/html")

    async def _nothing(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    async def _state(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({
            "phones": [self._show(p) for p in self.phones],
            "actions": list(self.actions),
        })

    async def _act(self, request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/json":
            # a page elsewhere can post a form here, but not JSON without the browser
            # asking first (CORS), which this server never allows
            raise web.HTTPUnsupportedMediaType(text="send application/json")
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="expected a JSON object") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        try:
            answer = await self.act(body)
        except KeyError as exc:  # a field the action needs is missing
            return web.json_response({"ok": False, "error": f"missing field {exc}"}, status=400)
        except (ValueError, TypeError, LookupError) as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        except TimeoutError as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=504)
        return web.json_response({"ok": True, "answer": answer})

    # ----- what a phone does ---------------------------------------------------------------

    async def act(self, body: dict[str, Any]) -> str | None:
        """One action of the page; returns the bot's answer to a pressed button, if any."""
        kind = str(body["action"])
        if kind in ("add_person", "add_group") and len(self.phones) >= MAX_PHONES:
            raise ValueError(f"at most {MAX_PHONES} phones fit on the page")
        if kind == "add_person":
            self.add_person(_name(body.get("name"), "Person"), "person")
            return None
        if kind == "add_group":
            self.add_group(_name(body.get("name"), "Group"))
            return None
        if kind == "run":
            label = str(body["label"])
            if label not in self.actions:
                raise LookupError(f"no action {label!r}")
            task = asyncio.create_task(self.actions[label]())
            self.busy.add(task)
            task.add_done_callback(self.busy.discard)
            await task
            return None
        phone = self.phone(int(body["chat"]))
        sim = phone.sim
        sender = self.person(int(body["as"])) if isinstance(sim, SimGroup) else sim
        if kind == "text":
            text = str(body["text"]).strip()
            if not text:
                raise ValueError("empty message")
            if isinstance(sim, SimGroup):
                await sim.send_text(sender, text)
            else:
                await sim.send_text(text)
            return None
        if kind == "press":
            message = _message(phone.chat, int(body["message_id"]))
            data = message.button_data(str(body["label"]))
            answer = await sim._press(sender.chat, message, data, ANSWER_WAIT)
            return answer.text
        if not isinstance(sim, SimUser):
            raise ValueError("only a person's phone can share a location")
        lat, lon = _coordinates(body)
        if kind == "location":
            await sim.send_location(lat, lon)
            return None
        if kind == "live":
            self._stop_live(phone)
            phone.live = asyncio.create_task(self._move(sim, lat, lon))
            return None
        if kind == "stop_live":
            self._stop_live(phone)
            return None
        raise ValueError(f"unknown action {kind!r}")

    def _stop_live(self, phone: Phone) -> None:
        if phone.live is not None:
            phone.live.cancel()
            phone.live = None

    async def _move(self, sim: SimUser, lat: float, lon: float) -> None:
        """Share a live location, then move it a little every few seconds, as a phone in a
        walking person's pocket does."""
        shared = await sim.send_location(lat, lon, live_period=LIVE_PERIOD)
        while True:
            await asyncio.sleep(LIVE_STEP_SECONDS)
            lat, lon = lat + LIVE_STEP_DEGREES, lon + LIVE_STEP_DEGREES
            await sim.edit_live_location(shared, lat, lon)

    # ----- what a phone shows --------------------------------------------------------------

    def _show(self, phone: Phone) -> dict[str, Any]:
        chat = phone.chat
        bot_id = self.emu.bot_id
        keyboard = [
            [{"text": button_label(b),
              "location": bool(isinstance(b, dict) and b.get("request_location"))}
             for b in row]
            for row in (chat.keyboard or {}).get("keyboard", [])
        ]
        return {
            "id": chat.id,
            "kind": "group" if isinstance(phone.sim, SimGroup) else "person",
            "title": chat.title or chat.first_name or str(chat.id),
            "role": phone.role,
            "keyboard": keyboard,
            "live": phone.live is not None,
            "pinned": chat.pinned[-1] if chat.pinned else None,
            "messages": [_bubble(raw, bot_id, chat) for _, raw in sorted(chat.messages.items())],
        }


def _bubble(raw: dict[str, Any], bot_id: int, chat: Chat) -> dict[str, Any]:
    """One message as the page draws it (the bot's with its inline buttons)."""
    sender = raw.get("from") or {}
    out: dict[str, Any] = {
        "id": raw["message_id"],
        "mine": sender.get("id") != bot_id,
        "from": sender.get("first_name", ""),
        "text": raw.get("text") or raw.get("caption") or "",
        "edited": "edit_date" in raw,
        "buttons": [],
    }
    place = raw.get("location") or (raw.get("venue") or {}).get("location")
    if place:
        out["location"] = {"lat": place["latitude"], "lon": place["longitude"],
                           "live": "live_period" in place}
        out["text"] = out["text"] or (raw.get("venue") or {}).get("title", "")
    for kind in ("photo", "voice", "video", "video_note", "document"):
        if kind in raw:
            out["text"] = f"[{kind.replace('_', ' ')}] {out['text']}".strip()
    if not out["mine"]:
        bm = _find(chat, raw["message_id"])
        if bm is not None:
            out["buttons"] = [[{"text": text, "url": data is None} for text, data in row]
                              for row in bm.inline_rows]
            out["edited"] = out["edited"] or bm.edit_count > 0
    return out


def _find(chat: Chat, message_id: int) -> BotMessage | None:
    for bm in chat.bot_messages:
        if bm.message_id == message_id and not bm.deleted:
            return bm
    return None


def _message(chat: Chat, message_id: int) -> BotMessage:
    found = _find(chat, message_id)
    if found is None:
        raise LookupError(f"no message {message_id} of the bot in this chat")
    return found


def _name(value: Any, default: str) -> str:
    name = str(value or "").strip()[:64]
    return name or default


def _coordinates(body: dict[str, Any]) -> tuple[float, float]:
    lat, lon = float(body["lat"]), float(body["lon"])
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError("latitude must be within ±90 and longitude within ±180")
    return lat, lon

