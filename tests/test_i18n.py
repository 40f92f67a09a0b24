"""The translation catalogs and the code that reads them: every text is extracted, the
committed template is what extraction gives, Kazakh and Russian translate every message
with the same placeholders, Russian counts in its three forms, a missing or broken
translation falls back to English, and an installed package carries the catalogs."""

from __future__ import annotations

import ast
import os
import string
import subprocess
import sys
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, write_po

from bot import i18n
from bot.i18n import load_catalog, pick_language, t, tn

REPO = Path(__file__).resolve().parent.parent
LOCALE = REPO / "locale"
EXTRACT = ["extract", "-F", "babel.cfg", "-k", "t:2", "-k", "tn:2,3", "-k", "N_",
           "--no-location", "--sort-output", "--omit-header"]
LAWYERS = ("We are alerting {n} lawyer now. If nobody answers within {wait}, we alert "
           "everyone on call.",
           "We are alerting {n} lawyers now. If nobody answers within {wait}, we alert "
           "everyone on call.")


def _catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def _template() -> Catalog:
    return _catalog(LOCALE / "qorgau.pot")


def _fields(text: str) -> set[tuple[str, str]]:
    """A text's placeholders with their format specs: {lat:.5f} -> ("lat", ".5f")."""
    return {(name, spec or "") for _, name, spec, _ in string.Formatter().parse(text)
            if name is not None}


def _ids(message: Message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def _pybabel(*args: str, cwd: Path = REPO) -> None:
    subprocess.run([sys.executable, "-c", "from babel.messages.frontend import main; main()",
                    *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=300)


# --- extraction ------------------------------------------------------------------------


def test_committed_template_is_a_fresh_extraction(tmp_path: Path) -> None:
    """A text added without re-extracting (README, "Translations") fails here: the
    translators work from locale/qorgau.pot."""
    fresh = tmp_path / "fresh.pot"
    _pybabel(*EXTRACT, "-o", str(fresh), "bot", "handlers")
    committed = (LOCALE / "qorgau.pot").read_text(encoding="utf-8")
    assert fresh.read_text(encoding="utf-8") == committed, (
        "locale/qorgau.pot is stale: run the extraction in README, Translations")


def _marked_texts(source: str) -> list[tuple[int, str]]:
    """The literals the code marks for translation: t's text, tn's two, N_'s one."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            for index in {"t": (1,), "tn": (1, 2), "N_": (0,)}.get(node.func.id, ()):
                arg = node.args[index] if index < len(node.args) else None
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.append((node.lineno, arg.value))
    return found


def test_every_marked_text_is_in_the_template() -> None:
    """pybabel does not see an N_ inside another marked call's arguments (t(lang,
    pick(p, N_("a"), N_("b"))) extracts nothing): every marked literal must reach the
    template, whatever it is nested in."""
    ids = {text for m in _template() if m.id for text in _ids(m)}
    lost = [f"{path.relative_to(REPO)}:{line} {text[:60]!r}"
            for path in sorted([*REPO.glob("bot/**/*.py"), *REPO.glob("handlers/*.py")])
            for line, text in _marked_texts(path.read_text(encoding="utf-8"))
            if text not in ids]
    assert not lost, "marked but never extracted:\n" + "\n".join(lost)


def test_english_catalog_has_every_message() -> None:
    english = _catalog(LOCALE / "en" / "LC_MESSAGES" / "qorgau.po", "en")
    missing = [m.id for m in _template() if m.id and m.id not in english]
    assert not missing, f"run pybabel update for en: {missing[:5]}"


SENDS = {"send": (2, "out"), "tell": (2, "template", "neutral"), "say": (2, "text"),
         "Outgoing": (0, "text"), "Button": (0, "text"), "KeyButton": (0, "text")}
MARKED = {"t", "tn", "N_"}


def _literal_text(node: ast.AST) -> bool:
    """Whether an argument carries words of its own: a string literal with letters, or an
    f-string, concatenation, choice or other call (discreet.pick) with one; what t, tn or
    N_ wraps is translated."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and any(ch.isalpha() for ch in node.value)
    if isinstance(node, ast.JoinedStr):
        return any(_literal_text(v) for v in node.values if isinstance(v, ast.Constant))
    if isinstance(node, ast.BinOp):
        return _literal_text(node.left) or _literal_text(node.right)
    if isinstance(node, ast.IfExp):
        return _literal_text(node.body) or _literal_text(node.orelse)
    if isinstance(node, ast.BoolOp):
        return any(_literal_text(v) for v in node.values)
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        return name not in MARKED and any(
            _literal_text(a) for a in [*node.args, *(k.value for k in node.keywords)])
    return False


def _unmarked_texts(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else (
            func.attr if isinstance(func, ast.Attribute) else "")
        if name not in SENDS:
            continue
        index, *keywords = SENDS[name]
        args = [a for i, a in enumerate(node.args) if i == index]
        args += [k.value for k in node.keywords if k.arg in keywords]
        found += [(node.lineno, name) for a in args if _literal_text(a)]
    return found


def test_no_text_reaches_a_send_without_translation() -> None:
    """No words written in the code reach a person without t/tn/N_: every argument that
    becomes text in notify.send/tell, say, Outgoing, Button or KeyButton."""
    offenders = []
    for path in sorted([*REPO.glob("bot/**/*.py"), *REPO.glob("handlers/*.py")]):
        for line, name in _unmarked_texts(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(REPO)}:{line} {name}")
    assert not offenders, "untranslated text sent:\n" + "\n".join(offenders)


def test_the_send_check_catches_what_it_should() -> None:
    caught = _unmarked_texts(
        'Outgoing("Hello")\nButton(f"Claim #{n}", f"claim:{n}")\n'
        'notify.tell(tx, who, "Alert {id}", now)\nsay(ctx, uid, "Sorry, " + t(lang, "x"))\n'
        'Outgoing(text="Done" if ok else t(lang, "No"))\n'
        'Outgoing(answer or discreet.pick(person, "Sent to your lawyer.", t(lang, "Sent.")))\n')
    assert [name for _, name in caught] == ["Outgoing", "Button", "tell", "say", "Outgoing",
                                            "Outgoing"]
    assert not _unmarked_texts(
        'Outgoing(t(lang, "Hello"))\nButton(t(lang, "Claim"), f"claim:{n}")\n'
        'notify.tell(tx, who, N_("Alert {id}"), now, neutral=N_("Sent"))\n'
        'send(tx, chat, out, now, kind="case")\nOutgoing(f"{who} · {t(lang, role)}")\n')


# --- the translations ---------------------------------------------------------------------


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_every_message_is_translated_with_its_placeholders(language: str) -> None:
    """Every message id has a complete, non-fuzzy translation (each plural form of the
    language), and each keeps exactly the source's {placeholders}."""
    catalog = _catalog(LOCALE / language / "LC_MESSAGES" / "qorgau.po", language)
    forms = Locale.parse(language).plural_form
    count = len({forms(n) for n in range(200)})
    missing, broken = [], []
    for message in _template():
        if not message.id:
            continue
        translated = catalog.get(message.id)
        strings = () if translated is None else (
            translated.string if isinstance(translated.string, tuple) else (translated.string,))
        expected = count if isinstance(message.id, tuple) else 1
        if (translated is None or translated.fuzzy or len(strings) != expected
                or not all(s.strip() for s in strings)):
            missing.append(_ids(message)[0])
            continue
        wanted = _fields(_ids(message)[-1])
        broken += [f"{_ids(message)[0]!r} -> {s!r}" for s in strings if _fields(s) != wanted]
    assert not broken, f"{language}: placeholders differ:\n" + "\n".join(broken)
    assert not missing, (f"{language}: {len(missing)} messages untranslated, e.g.:\n"
                         + "\n".join(missing[:10]))


@pytest.mark.parametrize(("n", "form"), [(1, 0), (2, 1), (5, 2), (21, 0), (22, 1), (11, 2)])
def test_russian_counts_lawyers_in_three_forms(n: int, form: int) -> None:
    """1 and 21 adv. "адвокат" (one), 2 and 22 (few), 5 and 11 (many): Babel's Russian rule,
    through gettext's ngettext."""
    catalog = _catalog(LOCALE / "ru" / "LC_MESSAGES" / "qorgau.po", "ru")
    entry = catalog.get(LAWYERS)
    assert entry is not None and isinstance(entry.string, tuple) and all(entry.string)
    assert len(set(entry.string)) == 3  # three different sentences
    assert tn("ru", *LAWYERS, n, wait="3 мин") == entry.string[form].format(n=n, wait="3 мин")
    assert Locale.parse("ru").plural_form(n) == ("one", "few", "many")[form]


def test_english_counts_one_and_many() -> None:
    assert tn("en", *LAWYERS, 1, wait="3 min").startswith("We are alerting 1 lawyer now.")
    assert tn("en", *LAWYERS, 21, wait="3 min").startswith("We are alerting 21 lawyers now.")


def _po(tmp_path: Path, *messages: Message) -> Path:
    catalog = Catalog(locale="ru")
    for message in messages:
        catalog[message.id] = message
    path = tmp_path / "test.po"
    with path.open("wb") as f:
        write_po(f, catalog)
    return path


def test_missing_fuzzy_or_partial_translations_fall_back_to_english(tmp_path: Path) -> None:
    path = _po(tmp_path, Message("Done", "Готово"), Message("Closed", "Закрыто", flags=["fuzzy"]),
               Message("Empty", ""), Message(("{n} file", "{n} files"), ("{n} файл", "", "")),
               Message(("{n} day", "{n} days"), ("{n} день", "{n} дня", "{n} дней")))
    catalog = load_catalog(path, "ru")
    assert catalog.gettext("Done") == "Готово"
    assert catalog.gettext("Closed") == "Closed"  # fuzzy: not trusted
    assert catalog.gettext("Empty") == "Empty"
    assert catalog.ngettext("{n} file", "{n} files", 5) == "{n} files"  # incomplete plural
    assert [catalog.ngettext("{n} day", "{n} days", n) for n in (1, 3, 7)] == [
        "{n} день", "{n} дня", "{n} дней"]
    assert t("ru", "A text no catalog has, {x}", x=1) == "A text no catalog has, 1"
    assert t("de", "I agree") == "I agree"


def test_a_translation_whose_placeholders_do_not_fit_falls_back_to_english() -> None:
    assert i18n._fill("Дело #{number}", "Case #{id}", {"id": 7}) == "Case #7"
    assert i18n._fill("Дело #{id}", "Case #{id}", {"id": 7}) == "Дело #7"


def test_telegram_language_codes() -> None:
    assert [pick_language(c) for c in ("kk", "kk-KZ", "ru", "RU", "en-GB", "de", "", None)] \
        == ["kk", "kk", "ru", "ru", "en", "ru", "ru", "ru"]


# --- shipped -----------------------------------------------------------------------------


def test_an_installed_package_carries_the_catalogs(tmp_path: Path) -> None:
    """``pip install .`` (not editable) on a fresh machine: the catalogs come inside the
    package (bot/locale), and the bot translates from there, far from the source tree."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                    "--target", str(site), str(REPO)], check=True, capture_output=True,
                   text=True, timeout=600)
    expected = t("ru", "I agree")
    assert expected != "I agree"
    probe = ("import bot, bot.i18n as i;"
             "print(bot.__file__); print(i.catalog_dir()); print(i.t('ru', 'I agree'));"
             "print(i.tn('ru', 'Last {n} day:', 'Last {n} days:', 5))")
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout.splitlines()
    assert out[0].startswith(str(site)) and out[1] == str(site / "bot" / "locale")
    assert out[2] == expected
    assert out[3] == tn("ru", "Last {n} day:", "Last {n} days:", 5)
