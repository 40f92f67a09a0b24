"""What the emulated Bot API does for each method (the bot-facing side of the world).

Synchronous on purpose: a call is checked against rate limits, then acted upon and counted
without any await in between, so concurrent calls cannot slip past a limit.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable
from typing import Any

from .errors import bad_request, forbidden
from .markup import validate_markup
from .spec import Method
from .state import CALLBACK_TTL, BotMessage, CallbackAnswer, Chat, World
from .text import caption_text, message_text, u16len

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# BotCommandScope types, and whether each names a chat.
_SCOPES = {"default": False, "all_private_chats": False, "all_group_chats": False,
           "all_chat_administrators": False, "chat": True, "chat_administrators": True,
           "chat_member": True}
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
LIVE_FOREVER = 0x7FFFFFFF
DELETE_WINDOW = 48 * 3600  # seconds a message stays deletable (deleteMessage)
# What copyMessage carries over from the original (service messages have none of these).
CAPTIONED = frozenset({"photo", "video", "audio", "document", "animation", "voice"})
COPYABLE = CAPTIONED | {
    "text", "entities", "caption", "caption_entities", "video_note", "sticker", "location",
    "venue", "contact", "dice", "poll",
}


def now() -> int:
    return int(time.time())


class BotApi:
    """The methods with real behaviour; everything else in the spec just answers True."""

    def __init__(self, world: World, bot_user: dict[str, Any]):
        self.world = world
        self.bot_user = bot_user
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        # (field, language code or "") -> text: the description and the short description
        self.descriptions: dict[tuple[str, str], str] = {}
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self._stopped_live: set[tuple[int, int]] = set()
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            name[2:].lower(): getattr(self, name) for name in dir(self) if name.startswith("m_")
        }

    # ----- dispatch -------------------------------------------------------------------------

    def call(self, method: Method, params: dict[str, Any]) -> Any:
        """Perform a validated call; raises ApiError for Telegram's refusals."""
        handler = self._handlers.get(method.name.lower())
        if handler is not None:
            return handler(params)
        if method.name.startswith("send") and "Message" in method.returns:
            return self._generic_send(params)
        return True

    def target_chat_id(self, params: dict[str, Any]) -> int | None:
        """The numeric chat a call addresses (for rate limits and the call log)."""
        ref = params.get("chat_id")
        if isinstance(ref, bool) or ref is None:
            return None
        if isinstance(ref, int):
            return ref
        chat = self.world.chat_by_ref(ref) if isinstance(ref, str) else None
        return chat.id if chat else None

    # ----- helpers --------------------------------------------------------------------------

    def chat(self, params: dict[str, Any], *, for_send: bool = True) -> Chat:
        """Resolve chat_id the way Telegram does, including blocked/left refusals."""
        ref = params.get("chat_id")
        if ref is None or ref == "":
            raise bad_request("chat_id is empty")
        chat = self.world.chat_by_ref(ref)
        if chat is None:
            raise bad_request("chat not found")
        if for_send:
            if chat.type == "private" and chat.blocked:
                raise forbidden("bot was blocked by the user")
            if chat.type != "private" and not chat.bot_member:
                raise forbidden(f"bot is not a member of the {chat.type} chat")
        return chat

    def _markup(
        self, params: dict[str, Any], inline_only: bool = False
    ) -> tuple[dict[str, Any] | None, str | None]:
        markup = params.get("reply_markup")
        if markup is None:
            return None, None
        return markup, validate_markup(markup, inline_only=inline_only)

    def _reply_to(self, chat: Chat, params: dict[str, Any]) -> dict[str, Any] | None:
        rp = params.get("reply_parameters")
        if rp is None:
            return None
        if not isinstance(rp, dict) or "message_id" not in rp:
            raise bad_request("can't parse reply parameters JSON object")
        target = chat
        if rp.get("chat_id") not in (None, chat.id):
            other = self.world.chat_by_ref(rp["chat_id"])
            if other is None:
                raise bad_request("chat not found")
            target = other
        original = target.messages.get(int(rp["message_id"]))
        if original is None:
            if rp.get("allow_sending_without_reply"):
                return None
            raise bad_request("message to be replied not found")
        reply = copy.deepcopy(original)
        reply.pop("reply_to_message", None)
        return reply

    def _new_message(
        self, chat: Chat, method: str, params: dict[str, Any], content: dict[str, Any]
    ) -> dict[str, Any]:
        """Store a bot message (already validated content) and return the API Message."""
        markup, kind = self._markup(params)
        reply = self._reply_to(chat, params)
        mid = chat.take_message_id()
        raw: dict[str, Any] = {
            "message_id": mid,
            "from": dict(self.bot_user),
            "chat": chat.short(),
            "date": now(),
        }
        if reply is not None:
            raw["reply_to_message"] = reply
        raw.update(content)
        if kind == "inline":
            raw["reply_markup"] = markup  # Message.reply_markup is inline keyboards only
        chat.messages[mid] = raw
        chat.bot_messages.append(
            BotMessage(
                chat_id=chat.id,
                message_id=mid,
                text=content.get("text"),
                location=content.get("location"),
                venue=content.get("venue"),
                reply_markup=markup,
                date=raw["date"],
                caption=content.get("caption"),
                entities=list(content.get("entities") or content.get("caption_entities") or []),
                method=method,
                seq=len(chat.bot_messages),
                raw=raw,
            )
        )
        if kind == "reply":
            chat.keyboard = markup
        elif kind == "remove":
            chat.keyboard = None
        chat.changed.notify()
        return copy.deepcopy(raw)

    def _bot_message(self, chat: Chat, mid: int) -> BotMessage | None:
        for bm in chat.bot_messages:
            if bm.message_id == mid and not bm.deleted:
                return bm
        return None

    def _editable(self, params: dict[str, Any]) -> tuple[Chat, BotMessage] | None:
        """The bot message an edit* call targets; None for inline messages (not tracked)."""
        if params.get("inline_message_id"):
            return None
        if params.get("chat_id") is None:
            raise bad_request("chat_id is empty")
        if params.get("message_id") is None:
            raise bad_request("message identifier is not specified")
        chat = self.chat(params)
        mid = int(params["message_id"])
        if mid not in chat.messages:
            raise bad_request("message to edit not found")
        bm = self._bot_message(chat, mid)
        if bm is None:
            raise bad_request("message can't be edited")
        return chat, bm

    def _apply_edit(
        self, chat: Chat, bm: BotMessage, changes: dict[str, Any], markup: dict[str, Any] | None
    ) -> dict[str, Any]:
        raw = bm.raw
        for key, value in changes.items():
            if value in (None, []):
                raw.pop(key, None)
            else:
                raw[key] = value
        if markup is None:
            raw.pop("reply_markup", None)
        else:
            raw["reply_markup"] = markup
        raw["edit_date"] = now()
        bm.text = raw.get("text")
        bm.caption = raw.get("caption")
        bm.location = raw.get("location")
        bm.venue = raw.get("venue")
        bm.entities = list(raw.get("entities") or raw.get("caption_entities") or [])
        bm.reply_markup = markup
        bm.edit_count += 1
        chat.changed.notify()
        return copy.deepcopy(raw)

    # ----- messages -------------------------------------------------------------------------

    def m_sendMessage(self, p: dict[str, Any]) -> Any:
        chat = self.chat(p)
        text, entities = message_text(p["text"], p.get("parse_mode"), p.get("entities"))
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._new_message(chat, "sendMessage", p, content)

    def _location(self, p: dict[str, Any]) -> dict[str, Any]:
        lat, lon = float(p["latitude"]), float(p["longitude"])
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise bad_request("wrong latitude or longitude")
        loc: dict[str, Any] = {"latitude": lat, "longitude": lon}
        acc = p.get("horizontal_accuracy")
        if acc is not None:
            if not 0 <= float(acc) <= 1500:
                raise bad_request("wrong horizontal accuracy")
            loc["horizontal_accuracy"] = float(acc)
        for key in ("live_period", "heading", "proximity_alert_radius"):
            if p.get(key) is not None:
                loc[key] = int(p[key])
        period = loc.get("live_period")
        if period is not None and not (60 <= period <= 86400 or period == LIVE_FOREVER):
            raise bad_request("wrong live period specified")
        return loc

    def m_sendLocation(self, p: dict[str, Any]) -> Any:
        chat = self.chat(p)
        return self._new_message(chat, "sendLocation", p, {"location": self._location(p)})

    def m_sendVenue(self, p: dict[str, Any]) -> Any:
        chat = self.chat(p)
        loc = self._location(p)
        venue: dict[str, Any] = {"location": loc, "title": p["title"], "address": p["address"]}
        for key in ("foursquare_id", "foursquare_type", "google_place_id", "google_place_type"):
            if p.get(key):
                venue[key] = p[key]
        return self._new_message(chat, "sendVenue", p, {"venue": venue, "location": loc})

    def _caption(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("caption") is None:
            return {}
        caption, ents = caption_text(p["caption"], p.get("parse_mode"), p.get("caption_entities"))
        out: dict[str, Any] = {"caption": caption}
        if ents:
            out["caption_entities"] = ents
        return out

    def m_sendPhoto(self, p: dict[str, Any]) -> Any:
        chat = self.chat(p)
        uid = f"{chat.id}_{chat.next_message_id}"
        photo = [
            {
                "file_id": f"AgAD-small-{uid}",
                "file_unique_id": f"s{uid}",
                "width": 90,
                "height": 90,
            },
            {
                "file_id": f"AgAD-big-{uid}",
                "file_unique_id": f"b{uid}",
                "width": 1280,
                "height": 1280,
            },
        ]
        return self._new_message(chat, "sendPhoto", p, {"photo": photo, **self._caption(p)})

    def _generic_send(self, p: dict[str, Any]) -> Any:
        """Other send* methods: a valid Message without modelling the media itself."""
        chat = self.chat(p)
        return self._new_message(chat, "send", p, self._caption(p))

    def m_copyMessage(self, p: dict[str, Any]) -> Any:
        """A copy without a link to the original: its content (and caption, unless a new one
        is given) in a new message. Telegram answers with a MessageId, not a Message."""
        chat = self.chat(p)
        source = self.world.chat_by_ref(p["from_chat_id"])
        if source is None:
            raise bad_request("chat not found")
        original = source.messages.get(int(p["message_id"]))
        if original is None:
            raise bad_request("message to copy not found")
        content = {k: copy.deepcopy(v) for k, v in original.items() if k in COPYABLE}
        if not content:
            raise bad_request("the message can't be copied")
        if p.get("caption") is not None and any(k in content for k in CAPTIONED):
            content.pop("caption_entities", None)
            content.update(self._caption(p))
        raw = self._new_message(chat, "copyMessage", p, content)
        return {"message_id": raw["message_id"]}

    def m_sendChatAction(self, p: dict[str, Any]) -> Any:
        self.chat(p)
        if p["action"] not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def m_editMessageText(self, p: dict[str, Any]) -> Any:
        target = self._editable(p)
        if p.get("text") is None and p.get("rich_message") is None:
            raise bad_request("message text is empty")
        text, entities = message_text(p.get("text", ""), p.get("parse_mode"), p.get("entities"))
        markup, _ = self._markup(p, inline_only=True)
        if target is None:
            return True
        chat, bm = target
        if bm.raw.get("text") is None:
            raise bad_request("there is no text in the message to edit")
        if (
            text == bm.raw.get("text")
            and entities == bm.raw.get("entities", [])
            and markup == bm.raw.get("reply_markup")
        ):
            raise bad_request(NOT_MODIFIED)
        return self._apply_edit(chat, bm, {"text": text, "entities": entities}, markup)

    def m_editMessageCaption(self, p: dict[str, Any]) -> Any:
        target = self._editable(p)
        changes = self._caption(p) or {"caption": None, "caption_entities": None}
        markup, _ = self._markup(p, inline_only=True)
        if target is None:
            return True
        chat, bm = target
        if bm.raw.get("text") is not None or bm.raw.get("location") is not None:
            raise bad_request("there is no caption in the message to edit")
        changes.setdefault("caption_entities", None)
        same = all(bm.raw.get(k) == v for k, v in changes.items())
        if same and markup == bm.raw.get("reply_markup"):
            raise bad_request(NOT_MODIFIED)
        return self._apply_edit(chat, bm, changes, markup)

    def m_editMessageReplyMarkup(self, p: dict[str, Any]) -> Any:
        target = self._editable(p)
        markup, _ = self._markup(p, inline_only=True)
        if target is None:
            return True
        chat, bm = target
        if markup == bm.raw.get("reply_markup"):
            raise bad_request(NOT_MODIFIED)
        return self._apply_edit(chat, bm, {}, markup)

    def _live(self, p: dict[str, Any]) -> tuple[Chat, BotMessage] | None:
        target = self._editable(p)
        if target is None:
            return None
        chat, bm = target
        loc = bm.raw.get("location")
        if (
            loc is None
            or "live_period" not in loc
            or (chat.id, bm.message_id) in self._stopped_live
        ):
            raise bad_request("message can't be edited")
        period = loc["live_period"]
        if period != LIVE_FOREVER and bm.date + period < now():
            raise bad_request("message can't be edited")
        return target

    def m_editMessageLiveLocation(self, p: dict[str, Any]) -> Any:
        markup, _ = self._markup(p, inline_only=True)
        target = self._live(p)
        if target is None:
            return True
        chat, bm = target
        old = bm.raw["location"]
        new = self._location({**p, "live_period": p.get("live_period", old["live_period"])})
        if new == old and markup == bm.raw.get("reply_markup"):
            raise bad_request(NOT_MODIFIED)
        return self._apply_edit(chat, bm, {"location": new}, markup)

    def m_stopMessageLiveLocation(self, p: dict[str, Any]) -> Any:
        markup, _ = self._markup(p, inline_only=True)
        target = self._live(p)
        if target is None:
            return True
        chat, bm = target
        self._stopped_live.add((chat.id, bm.message_id))
        return self._apply_edit(chat, bm, {}, markup)

    def m_deleteMessage(self, p: dict[str, Any]) -> Any:
        chat = self.chat(p, for_send=False)
        mid = int(p["message_id"])
        if mid not in chat.messages:
            raise bad_request("message to delete not found")
        if not self._deletable(chat, chat.messages[mid]):
            raise bad_request("message can't be deleted")
        self._delete(chat, mid)
        return True

    def m_deleteMessages(self, p: dict[str, Any]) -> Any:
        chat = self.chat(p, for_send=False)
        ids = p["message_ids"]
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise bad_request("message_ids must contain 1-100 identifiers")
        for mid in ids:
            if int(mid) in chat.messages and self._deletable(chat, chat.messages[int(mid)]):
                self._delete(chat, int(mid))
        return True

    def _deletable(self, chat: Chat, message: dict[str, Any]) -> bool:
        """Telegram's rules: only a message sent less than 48 hours ago; in a group, someone
        else's message only if the bot is an administrator there."""
        if message.get("date", 0) <= now() - DELETE_WINDOW:
            return False
        mine = (message.get("from") or {}).get("id") == self.bot_user["id"]
        return mine or chat.type == "private" or self.bot_user["id"] in chat.admins

    def _delete(self, chat: Chat, mid: int) -> None:
        del chat.messages[mid]
        bm = self._bot_message(chat, mid)
        if bm is not None:
            bm.deleted = True
        chat.changed.notify()

    # ----- callbacks, commands, chats ------------------------------------------------------

    def m_answerCallbackQuery(self, p: dict[str, Any]) -> Any:
        pending = self.world.callbacks.pop(str(p["callback_query_id"]), None)
        if (
            pending is None
            or pending.future.done()
            or time.monotonic() - pending.created > CALLBACK_TTL
        ):
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = p.get("text")
        if text is not None and u16len(str(text)) > 200:  # 0-200 characters, UTF-16 as all
            raise bad_request("MESSAGE_TOO_LONG")
        pending.future.set_result(
            CallbackAnswer(text=text, show_alert=bool(p.get("show_alert")), url=p.get("url"))
        )
        return True

    def _commands_key(self, p: dict[str, Any]) -> tuple[str, str]:
        """The (scope, language) a command list is stored under. A scope is one of the
        BotCommandScope types; the chat ones name a chat the bot knows (else "chat not
        found"), chat_member also a user."""
        scope = p.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in _SCOPES:
            raise bad_request("can't parse BotCommandScope JSON object")
        if _SCOPES[scope["type"]]:
            ref = scope.get("chat_id")
            if ref is None or self.world.chat_by_ref(ref) is None:
                raise bad_request("chat not found")
            if scope["type"] == "chat_member" and not isinstance(scope.get("user_id"), int):
                raise bad_request("can't parse BotCommandScope JSON object")
        return json.dumps(scope, sort_keys=True), str(p.get("language_code") or "")

    def m_setMyCommands(self, p: dict[str, Any]) -> Any:
        commands = p["commands"]
        if len(commands) > 100:
            raise bad_request("too many commands")
        for cmd in commands:
            if not isinstance(cmd, dict) or not _COMMAND_RE.match(
                str(cmd.get("command", "")).lstrip("/")
            ):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(cmd.get("description", ""))) <= 256:
                raise bad_request("command description must be 1-256 characters")
        self.commands[self._commands_key(p)] = [
            {"command": str(c["command"]).lstrip("/"), "description": c["description"]}
            for c in commands
        ]
        return True

    def m_getMyCommands(self, p: dict[str, Any]) -> Any:
        return copy.deepcopy(self.commands.get(self._commands_key(p), []))

    def m_deleteMyCommands(self, p: dict[str, Any]) -> Any:
        self.commands.pop(self._commands_key(p), None)
        return True

    def _set_description(self, p: dict[str, Any], field_name: str, limit: int) -> Any:
        """setMyDescription / setMyShortDescription: 0-``limit`` characters; an empty text
        removes the one of that language; language_code is two letters or empty."""
        code = str(p.get("language_code") or "")
        if code and not re.fullmatch(r"[a-z]{2}", code):
            raise bad_request("LANGUAGE_CODE_INVALID")
        text = str(p.get(field_name) or "")
        if len(text) > limit:
            raise bad_request(f"{field_name} is too long")
        if text:
            self.descriptions[(field_name, code)] = text
        else:
            self.descriptions.pop((field_name, code), None)
        return True

    def _get_description(self, p: dict[str, Any], field_name: str) -> Any:
        code = str(p.get("language_code") or "")
        default = self.descriptions.get((field_name, ""), "")
        text = self.descriptions.get((field_name, code), default)
        return {field_name: text}

    def m_setMyDescription(self, p: dict[str, Any]) -> Any:
        return self._set_description(p, "description", 512)

    def m_getMyDescription(self, p: dict[str, Any]) -> Any:
        return self._get_description(p, "description")

    def m_setMyShortDescription(self, p: dict[str, Any]) -> Any:
        return self._set_description(p, "short_description", 120)

    def m_getMyShortDescription(self, p: dict[str, Any]) -> Any:
        return self._get_description(p, "short_description")

    def m_setChatMenuButton(self, p: dict[str, Any]) -> Any:
        chat_id = p.get("chat_id")
        if chat_id is not None and self.world.chat_by_ref(chat_id) is None:
            raise bad_request("chat not found")
        button = p.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
            "commands",
            "web_app",
            "default",
        ):
            raise bad_request("can't parse menu button JSON object")
        self.menu_buttons[chat_id] = button
        return True

    def m_getChatMenuButton(self, p: dict[str, Any]) -> Any:
        chat_id = p.get("chat_id")
        return self.menu_buttons.get(chat_id) or self.menu_buttons.get(None) or {"type": "default"}

    def m_pinChatMessage(self, p: dict[str, Any]) -> Any:
        chat = self.chat(p)
        mid = int(p["message_id"])
        if chat.type != "private" and self.bot_user["id"] not in chat.admins:
            # Telegram: in groups only an administrator with can_pin_messages may pin.
            raise bad_request("not enough rights to manage pinned messages in the chat")
        if mid not in chat.messages:
            raise bad_request("message to pin not found")
        if mid in chat.pinned:
            chat.pinned.remove(mid)
        chat.pinned.append(mid)
        return True

    def m_unpinChatMessage(self, p: dict[str, Any]) -> Any:
        chat = self.chat(p)
        mid = p.get("message_id")
        if mid is None:
            if chat.pinned:
                chat.pinned.pop()
        elif int(mid) in chat.pinned:
            chat.pinned.remove(int(mid))
        return True

    def m_unpinAllChatMessages(self, p: dict[str, Any]) -> Any:
        self.chat(p).pinned.clear()
        return True

    def m_getChat(self, p: dict[str, Any]) -> Any:
        return self.chat(p, for_send=False).full()

    def m_getChatMember(self, p: dict[str, Any]) -> Any:
        chat = self.chat(p, for_send=False)
        uid = int(p["user_id"])
        if uid == self.bot_user["id"]:
            if chat.type != "private" and not chat.bot_member:
                return {"status": "left", "user": dict(self.bot_user)}
            if chat.type != "private" and uid in chat.admins:
                return _admin(dict(self.bot_user))
            return {"status": "member", "user": dict(self.bot_user)}
        person = self.world.chats.get(uid)
        if person is None or person.type != "private":
            raise bad_request("user not found")
        user = person.user_dict()
        if chat.type == "private":
            if chat.id != uid:
                raise bad_request("user not found")
            return {"status": "member", "user": user}
        if uid == chat.owner:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if uid in chat.admins:
            return _admin(user)
        if uid in chat.members:
            return {"status": "member", "user": user}
        return {"status": "left", "user": user}

    def m_leaveChat(self, p: dict[str, Any]) -> Any:
        chat = self.chat(p, for_send=False)
        if chat.type == "private":
            raise bad_request("chat member status can't be changed in private chats")
        if not chat.bot_member:
            raise forbidden(f"bot is not a member of the {chat.type} chat")
        chat.bot_member = False
        return True


def _admin(user: dict[str, Any]) -> dict[str, Any]:
    rights = (
        "can_manage_chat",
        "can_delete_messages",
        "can_manage_video_chats",
        "can_restrict_members",
        "can_change_info",
        "can_invite_users",
        "can_post_stories",
        "can_edit_stories",
        "can_delete_stories",
        "can_pin_messages",
    )
    out: dict[str, Any] = {
        "status": "administrator",
        "user": user,
        "can_be_edited": False,
        "is_anonymous": False,
        "can_promote_members": False,
    }
    out.update(dict.fromkeys(rights, True))
    return out
