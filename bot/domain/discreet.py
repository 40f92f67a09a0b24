"""Discreet mode, for a reporter whose phone may be seized and read.

The one place that decides what wording a reporter's chat gets: in discreet mode it carries
no lawyer names and none of the words that give a case away, yet still tells the reporter
what they need; when an alert closes, the bot deletes its messages in that chat and the
reporter's messages about the alert (where Telegram allows), then forgets their ids.
Lawyers and coordinators are never discreet: their chats hold the cases they work on.
"""

from __future__ import annotations

from typing import TypeVar

from bot.domain.messages import DELETE, PRIORITY_CASE, Outgoing
from bot.i18n import N_
from storage import Person, Tx

_T = TypeVar("_T")

# The reporter's keyboard and one-tap button in discreet mode (both wordings are always
# understood, so an old keyboard keeps working after /discreet on or off).
LABEL_SOS = N_("📍 Send my location")
LABEL_SOS_NO_LOCATION = N_("🆘 Help without location")
LABEL_RAISE_NOW = N_("🆘 Get help now")

# What Telegram shows of the bot before anyone writes to it (its profile, a shared link,
# the empty chat): on a seized phone it must not say what the bot is for.
DESCRIPTION = (N_("Help when you need it. Send /start to begin; everything is explained "
               "before you agree to anything."))
SHORT_DESCRIPTION = N_("Help when you need it.")

# Neutral texts said in more than one place.
PASSED_ON = N_("Someone else is being found to help. Stay calm.")  # a released or handed-over case

FORGET = "discreet_forget"  # timer kind: forget the cleared message ids of a chat
FORGET_AFTER = 600.0  # seconds after clearing; again later while deletions are queued
DELETABLE = 47 * 3600.0  # Telegram deletes messages younger than 48 h; an hour to spare


def is_discreet(person: Person | None) -> bool:
    return person is not None and person.role == "reporter" and person.discreet


def pick(person: Person | None, plain: _T, neutral: _T) -> _T:
    """The template this person's chat gets: ``neutral`` in discreet mode. Every text for a
    reporter that names a lawyer or the case passes here with its neutral twin."""
    return neutral if is_discreet(person) else plain


async def remember(tx: Tx, person: Person, message_id: int | None, now: float,
                   raising: bool = False) -> None:
    """Keep the id of a message a discreet reporter sent about their open alert (or that
    raises one), so that it can be deleted when the alert closes."""
    if message_id is not None and is_discreet(person) and (
            raising or await tx.open_alert_of(person.user_id) is not None):
        await tx.record_incoming(person.user_id, message_id, now)


async def clear_chat(tx: Tx, person_id: int, now: float) -> int:
    """Delete every message of this chat the bot still can (its own, and the reporter's it
    kept), through the outbox so that a restart does not lose the deletions; the ids are
    forgotten once they are done. Returns how many deletions were queued."""
    rows = await tx.take_chat_messages(person_id, now - DELETABLE)
    empty = Outgoing().to_json()
    for row in rows:
        await tx.enqueue(person_id, DELETE, PRIORITY_CASE, empty, now, target_id=row.id)
    await tx.set_timer(FORGET, person_id, now + FORGET_AFTER)
    return len(rows)


async def forget(tx: Tx, person_id: int, now: float) -> None:
    """The timer: forget the ids of the cleared messages, or look again in a while if some
    deletions are still queued (a reporter's chat is paced at one message a second)."""
    if not await tx.is_due(FORGET, person_id, now, take=False):
        return  # re-armed by a later clearing
    if await tx.forget_cleared(person_id):
        await tx.set_timer(FORGET, person_id, now + FORGET_AFTER)
    else:
        await tx.clear_timer(FORGET, person_id)
