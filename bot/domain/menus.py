"""The command menu (Telegram's "/" list), in each person's language and for their role.

Reporters see the default menu, set at start for each language (``language_code`` scope;
without a code, Russian). A lawyer or coordinator, and anyone who chose a language with
/language, gets a menu of their own (``BotCommandScopeChat``), rewritten whenever their role
or language changes. That rewrite is an outbox row (kind ``menu``) written in the same
transaction as the change, so a crash cannot leave a revoked lawyer with the lawyers' menu.
"""

from __future__ import annotations

import hashlib
import json

from bot.domain.messages import PRIORITY_LOW
from bot.i18n import LANGUAGES, t
from storage import Person, Tx

MENU = "menu"  # outbox kind: a person's own command menu; payload {"commands": [[name, text]]}
STAFF = ("lawyer", "coordinator")
FINGERPRINT = "menus"  # kv: the fingerprint of the menus last queued for every staff member


def commands(role: str, lang: str) -> list[tuple[str, str]]:
    """A role's commands as (name, description) in ``lang``: the /help list, one entry per
    command ("/connect ru|kk|en, /disconnect" gives connect and disconnect)."""
    from bot.domain.dispatch import COMMANDS  # dispatch imports the team, which imports us

    menu: dict[str, str] = {}
    for usage, what in COMMANDS.get(role, COMMANDS["reporter"]):
        for part in usage.split(","):
            name = part.split()[0].lstrip("/")
            menu.setdefault(name, t(lang, what)[:256])
    return list(menu.items())


def role_menu(person: Person) -> str:
    """Whose menu a person gets: staff (even mid-registration) their role's, else the
    reporters'."""
    return person.role if person.role in STAFF else "reporter"


def fingerprint() -> str:
    """What every staff menu says, in every language: a new release whose commands or
    translations changed has a new one."""
    every = {role: {lang: commands(role, lang) for lang in LANGUAGES} for role in STAFF}
    return hashlib.sha256(json.dumps(every, sort_keys=True).encode()).hexdigest()[:16]


async def refresh_all_if_changed(tx: Tx, now: float) -> int:
    """At start: if the menus changed since the last start (``kv`` "menus"), queue every
    lawyer's and coordinator's menu again. Returns how many were queued."""
    current = fingerprint()
    if await tx.get_value(FINGERPRINT) == current:
        return 0
    staff = await tx.staff()
    for person in staff:
        await refresh(tx, person, now)
    await tx.set_value(FINGERPRINT, current)
    return len(staff)


async def refresh(tx: Tx, person: Person, now: float) -> None:
    """Queue this person's own menu: their role's commands in their language."""
    payload = {"commands": commands(role_menu(person), person.language)}
    await tx.supersede_pending(person.user_id, MENU)  # only the newest menu counts
    await tx.enqueue(person.user_id, MENU, PRIORITY_LOW, json.dumps(payload), now)
