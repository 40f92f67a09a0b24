"""Small helpers every handler module uses: reach the domain, read the sender, answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from telegram import Update
from telegram.ext import ContextTypes, filters

from bot.i18n import pick_language

if TYPE_CHECKING:
    from bot.domain.facade import Domain

Context = ContextTypes.DEFAULT_TYPE
# Commands act on new messages only: an edited "/note" must not reach the reporter twice.
NEW_MESSAGES = filters.UpdateType.MESSAGE


def domain(context: Context) -> Domain:
    return context.bot_data["domain"]


def sender(update: Update) -> tuple[int, str]:
    """The sender's id and the language their client reports (used for new people only)."""
    user = update.effective_user
    assert user is not None
    return user.id, pick_language(user.language_code)


async def speaker(update: Update, context: Context) -> tuple[int, str]:
    """The sender's id and the language to answer them in: the one they chose, or for
    someone new the one their client reports."""
    user = update.effective_user
    assert user is not None
    return user.id, await domain(context).languages.language_of(user.id, user.language_code)


def is_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == "private"


async def say(context: Context, chat_id: int, text: str | None) -> None:
    """Answer through the outbox, like every other message."""
    if text:
        from bot.domain.notify import say as queue_say

        await queue_say(domain(context).svc, chat_id, text)


def int_arg(args: list[str] | None, index: int = 0) -> int | None:
    """A positive integer argument, or None (bad input is answered, never crashes)."""
    if not args or len(args) <= index:
        return None
    raw = args[index].lstrip("#")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else None
