"""The one translation layer every user-facing text goes through: gettext catalogs read with
Babel.

Source strings are English and are their own message ids, written right in the call
(``t(lang, "Alert #{id} ...", id=...)``) so that ``pybabel extract`` finds them; a text kept
in a constant is marked ``N_("...")`` where it is defined. The catalogs are
``locale/<lang>/LC_MESSAGES/qorgau.po``, read once per language at first use (no compiled
``.mo`` to keep in step with them). A missing or empty translation falls back to English,
and so does a translation whose placeholders do not fit the values: a person always gets a
whole sentence. See README, "Translations".
"""

from __future__ import annotations

import functools
import gettext
import io
import logging
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

if TYPE_CHECKING:
    from storage import Person

log = logging.getLogger(__name__)

LANGUAGES = ("en", "kk", "ru")
SOURCE_LANGUAGE = "en"  # the language of the message ids
# The language of a person whose Telegram language is none of ours: the one most of
# Kazakhstan reads.
DEFAULT_LANGUAGE = "ru"
DOMAIN = "qorgau"
# Each language's own name, the same in every language (on the language buttons).
LANGUAGE_NAMES = {"en": "English", "kk": "Қазақша", "ru": "Русский"}


def catalog_dir() -> Path:
    """Where the catalogs are: ``bot/locale`` inside an installed package (pyproject maps
    the repository's ``locale/`` there), the repository's ``locale/`` in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "locale", here.parent / "locale"):
        if (candidate / f"{DOMAIN}.pot").is_file():
            return candidate
    return here.parent / "locale"


def catalog_path(language: str) -> Path:
    return catalog_dir() / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    """The language's catalog, read once; none (English) for a language we do not speak."""
    path = catalog_path(language)
    if language not in LANGUAGES or not path.is_file():
        return gettext.NullTranslations()
    return load_catalog(path, language)


def load_catalog(path: Path, language: str) -> gettext.NullTranslations:
    """A .po file as gettext translations with the language's own plural rule (Russian:
    one / few / many). Only complete entries are kept: an untranslated text, a fuzzy one or
    a plural with an empty form is left out, so gettext falls back to the English source."""
    with path.open("rb") as f:
        catalog = read_po(f, locale=language, domain=DOMAIN)
    for message in list(catalog):
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.id and (message.fuzzy or not all(forms)):
            del catalog[message.id]
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


# The language the sender of the Telegram update being handled reports (set by the update
# poller): what someone the bot does not know yet is answered in.
SENDER_LANGUAGE: ContextVar[str] = ContextVar("sender_language", default=DEFAULT_LANGUAGE)


def lang_of(person: Person | None) -> str:
    """The language a person chose; for someone the bot does not know, the one their app
    reports (outside an update's handling, the default one)."""
    return person.language if person else SENDER_LANGUAGE.get()


def pick_language(code: str | None) -> str:
    """Map a Telegram language_code ("ru", "kk-KZ", "de", None) to one we speak: its own
    when we speak it, else Russian."""
    base = (code or "").split("-")[0].lower()
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


def _fill(template: str, source: str, values: dict[str, Any]) -> str:
    """``template`` with its placeholders filled; the English source if a translation's
    placeholders do not fit (a broken translation must not lose the message)."""
    if not values:
        return template
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        log.warning("a translation's placeholders do not fit its values; English is used")
        return source.format(**values)


def t(language: str, text: str, /, **values: Any) -> str:
    """Translate ``text`` into ``language`` and fill its ``{placeholders}``."""
    return _fill(translations(language).gettext(text), text, values)


def tn(language: str, singular: str, plural: str, n: int, /, **values: Any) -> str:
    """Translate a text that counts something (``n`` fills ``{n}``), in the plural form the
    language needs for ``n`` (Russian has three: 1 / 2 / 5 lawyers)."""
    return _fill(translations(language).ngettext(singular, plural, n),
                 singular if n == 1 else plural, {"n": n, **values})


def N_(text: str) -> str:
    """Mark a text kept in a constant for extraction; it is translated later through ``t``."""
    return text
