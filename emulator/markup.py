"""Keyboard validation: the structure checks Telegram applies to reply_markup.

Bad callback_data (empty or over 64 bytes) is a classic production-only failure
(BUTTON_DATA_INVALID); checking it here catches it in tests.
"""

from __future__ import annotations

from typing import Any

from .errors import bad_request

_INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_BUTTON = "can't parse inline keyboard button: "


def markup_kind(markup: Any) -> str:
    """Which reply_markup type this is: "inline", "reply", "remove" or "force"."""
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        return "inline"
    if "keyboard" in markup:
        return "reply"
    if "remove_keyboard" in markup:
        return "remove"
    if "force_reply" in markup:
        return "force"
    raise bad_request("can't parse reply keyboard markup JSON object")


def _rows(markup: dict[str, Any], key: str) -> list[list[Any]]:
    rows = markup.get(key)
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise bad_request(f'field "{key}" must be an Array of Array')
    return rows


def validate_inline(markup: dict[str, Any]) -> None:
    """Inline buttons need text and exactly one action; callback_data must be 1-64 bytes."""
    for row in _rows(markup, "inline_keyboard"):
        for button in row:
            if not isinstance(button, dict):
                raise bad_request(_BUTTON + "InlineKeyboardButton must be an Object")
            if not isinstance(button.get("text"), str):
                raise bad_request(_BUTTON + 'Field "text" must be of type String')
            actions = [a for a in _INLINE_ACTIONS if a in button]
            if not actions:
                raise bad_request(_BUTTON + "Text buttons are unallowed in the inline keyboard")
            if len(actions) > 1:
                raise bad_request(_BUTTON + "only one of the optional fields must be used")
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                if not isinstance(url, str) or not url.startswith(("http://", "https://", "tg://")):
                    raise bad_request(
                        f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL"
                    )


def validate_reply(markup: dict[str, Any]) -> None:
    """ReplyKeyboardMarkup: rows of strings or KeyboardButton objects with text."""
    rows = _rows(markup, "keyboard")
    if not any(rows):
        raise bad_request("keyboard must be non-empty")
    for row in rows:
        for button in row:
            if isinstance(button, str):
                continue
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request(
                    'can\'t parse keyboard button: Field "text" must be of type String'
                )
            if not button["text"]:
                raise bad_request("keyboard button text must be non-empty")


def validate_markup(markup: Any, inline_only: bool = False) -> str:
    """Validate any reply_markup; returns its kind."""
    kind = markup_kind(markup)
    if inline_only and kind != "inline":
        raise bad_request("inline keyboard expected")
    if kind == "inline":
        validate_inline(markup)
    elif kind == "reply":
        validate_reply(markup)
    return kind


def button_label(button: Any) -> str:
    """The text shown on a reply keyboard button (string or KeyboardButton)."""
    return button if isinstance(button, str) else str(button.get("text", ""))
