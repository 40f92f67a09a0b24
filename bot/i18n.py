"""The one translation function every user-facing text goes through.

Source strings are English and are their own keys (as with gettext), so a Kazakh or Russian
catalog is a dict from English text to the translation, added here without touching any
handler. A missing translation falls back to English rather than failing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage import Person

LANGUAGES = ("en", "kk", "ru")
DEFAULT_LANGUAGE = "en"

# English text -> translation. Filled by the localisation work; empty means English.
CATALOGS: dict[str, dict[str, str]] = {"en": {}, "kk": {}, "ru": {}}


def lang_of(person: Person | None) -> str:
    """The language a person chose; English for someone the bot does not know."""
    return person.language if person else DEFAULT_LANGUAGE


def pick_language(code: str | None) -> str:
    """Map a Telegram language_code ("ru", "kk-KZ", None) to one we speak."""
    base = (code or "").split("-")[0].lower()
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


def t(language: str, text: str, /, **values: Any) -> str:
    """Translate ``text`` into ``language`` and fill its ``{placeholders}``."""
    template = CATALOGS.get(language, {}).get(text, text)
    return template.format(**values) if values else template


def tn(language: str, singular: str, plural: str, n: int, /, **values: Any) -> str:
    """Translate a text that counts something (``n`` fills ``{n}``), in the plural form the
    language needs for ``n`` (Russian has three: 1 / 2 / 5 lawyers)."""
    template = singular if n == 1 else plural
    return t(language, template, n=n, **values)


def N_(text: str) -> str:
    """Mark a text kept in a constant for extraction; it is translated later through ``t``."""
    return text
