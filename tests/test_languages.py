"""Each person and each group in their own language, end to end over the emulator: a
reporter's alert and a lawyer's claim in Kazakh, Russian and English (and across languages)
with no English sentence on a Kazakh or Russian screen; the language from Telegram and the
buttons at registration; /language; groups' languages; the command menus per language and
role; the time zone setting. Forged buttons change nothing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from babel.messages.pofile import read_po
from telegram import BotCommand, BotCommandScopeChat
from telegram.error import BadRequest

from bot.clock import ManualClock
from bot.domain import menus, notify
from bot.domain.reporting import DISCREET_OFF, DISCREET_ON
from bot.i18n import t
from emulator import BotMessage, SimUser
from storage import Storage
from tests.harness import ALMATY, World, card_for, data_codec, raise_alert, rows
from tests.test_i18n import LOCALE

WORD = re.compile(r"[A-Za-z']+")


def _english_trigrams() -> set[tuple[str, ...]]:
    """Every run of three words in the English message ids (placeholders removed)."""
    with (LOCALE / "qorgau.pot").open("rb") as f:
        template = read_po(f)
    grams: set[tuple[str, ...]] = set()
    for message in template:
        for text in (message.id if isinstance(message.id, tuple) else (message.id,)):
            words = [w.lower() for w in WORD.findall(re.sub(r"\{[^}]*\}", " ", text))]
            grams.update(zip(words, words[1:], words[2:], strict=False))
    return grams


ENGLISH = _english_trigrams()


def english_sentences(text: str) -> list[str]:
    """Runs of three or more English words from our texts in what a screen shows."""
    found, run = [], []
    for token in [*text.split(), ""]:
        word = token.strip(".,:;!?()\"“”«»-–—#…")
        if word and WORD.fullmatch(word):
            run.append(word.lower())
            continue
        found += [" ".join(g) for g in zip(run, run[1:], run[2:], strict=False)
                  if g in ENGLISH]
        run = []
    return found


def screen(user: SimUser, after: int = 0) -> str:
    """Everything a person's chat shows from position ``after``: texts, captions, inline
    buttons and the reply keyboard."""
    parts = []
    for message in user.chat.bot_messages[after:]:
        if message.deleted:
            continue
        parts += [message.text or "", message.caption or "", *message.buttons]
    parts += [label for row in (user.keyboard or []) for label in row]
    return "\n".join(parts)


def said(lang: str, msgid: str) -> str:
    """A part of a translated text without placeholders, to wait for."""
    return max(t(lang, msgid).split("{"), key=len).split("}")[-1].strip()


async def register_reporter_in(world: World, name: str, lang: str, code: str | None = None
                               ) -> SimUser:
    """A reporter whose Telegram app speaks ``code`` (default: ``lang``), registered
    through the buttons of their language, discreet mode off."""
    user = world.emu.user(first_name=name, language_code=code or lang)
    await user.send_command("/start")
    consent = await user.wait_for(predicate=lambda m: t(lang, "I agree") in m.buttons)
    await user.press(t(lang, "I agree"), message=consent)
    await user.wait_for(said(lang, "What name should lawyers see? A pseudonym is fine. Send "
                                   "it as a message."))
    await user.send_text(name)
    await user.wait_for(said(lang, "Where are you based? Lawyers of your region are alerted "
                                   "first."))
    await user.press(t(lang, "Almaty"))
    await user.wait_for(predicate=lambda m: t(lang, "No, region only") in m.buttons)
    await user.press(t(lang, "No, region only"))
    on = await user.wait_for(said(lang, DISCREET_ON))
    await user.press(t(lang, "Turn discreet mode off"), message=on)
    await user.wait_for(said(lang, DISCREET_OFF))
    return user


async def switch(user: SimUser, lang: str) -> None:
    mark = user.mark()
    await user.send_command("/language", lang)
    await user.wait_for(t(lang, "Language saved."), after=mark)


@pytest.mark.parametrize(("reporter_lang", "lawyer_lang"),
                         [("kk", "kk"), ("ru", "ru"), ("en", "en"), ("ru", "kk"), ("kk", "ru")])
async def test_alert_and_claim_each_in_their_own_language(
        world: World, reporter_lang: str, lawyer_lang: str) -> None:
    """A reporter raises an alert and a lawyer claims it, each reading only their own
    language: a Kazakh lawyer gets Kazakh for a Russian reporter's alert."""
    await world.start()
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat")
    await switch(marat, lawyer_lang)
    mark = marat.mark()
    aida = await register_reporter_in(world, "Aida", reporter_lang)
    await aida.tap(t(reporter_lang, notify.LABEL_SOS), location=ALMATY)
    await aida.wait_for(said(reporter_lang, "Alert #{id} received and saved."))
    claim = t(lawyer_lang, "Claim the case #{id}", id=1)
    card = await marat.wait_for(predicate=lambda m: claim in m.buttons, after=mark)
    assert t(lawyer_lang, "🚨 Alert #{id} · {region}", id=1,
             region=t(lawyer_lang, "Almaty")) in (card.text or "")
    await marat.press(claim, message=card)
    await marat.wait_for(t(lawyer_lang, "You hold case #{id}.", id=1), after=mark)
    await aida.wait_for(said(reporter_lang, "Lawyer {name} has taken your case (alert #{id}). "
                                            "Everything you send here now goes to them."))
    await aida.send_text("Aida: I am at the station")
    await world.drain()
    for lang, shown in ((reporter_lang, screen(aida)), (lawyer_lang, screen(marat, mark))):
        if lang == "en":  # the detector itself: an English screen is full of our sentences
            assert len(english_sentences(shown)) > 10
        else:
            assert english_sentences(shown.replace("Aida: I am at the station", "")) == [], \
                shown


async def test_telegram_language_then_buttons_at_registration(world: World) -> None:
    """A German app gets Russian (the default); kk-KZ Kazakh. The first message offers the
    three languages; a tap saves one and asks the same question again in it."""
    await world.start()
    hans = world.emu.user(first_name="Hans", language_code="de")
    await hans.send_command("/start")
    consent = await hans.wait_for(predicate=lambda m: t("ru", "I agree") in m.buttons)
    assert consent.buttons == [t("ru", "I agree"), "English", "Қазақша", "Русский"]
    await hans.press("Қазақша", message=consent)
    again = await hans.wait_for(predicate=lambda m: t("kk", "I agree") in m.buttons)
    assert again.text == t("kk", consent_text())
    assert rows(world.db, "SELECT language FROM people WHERE user_id = ?", hans.id) == [("kk",)]
    await hans.press(t("kk", "I agree"), message=again)
    await hans.wait_for(said("kk", "What name should lawyers see? A pseudonym is fine. Send "
                                   "it as a message."))
    dana = world.emu.user(first_name="Dana", language_code="kk-KZ")
    await dana.send_command("/start")
    await dana.wait_for(t("kk", consent_text()))


def consent_text() -> str:
    from bot.domain.reporting import consent_message
    return consent_message("en").text


async def test_language_command_buttons_keyboard_and_bad_input(world: World) -> None:
    await world.start()
    aida = await world.register_reporter("Aida")
    mark = aida.mark()
    await aida.send_command("/language")
    offer = await aida.wait_for("Choose your language:", after=mark)
    assert offer.buttons == ["English", "Қазақша", "Русский"]
    await aida.press("Русский", message=offer)
    await aida.wait_for(t("ru", "Language saved."), after=mark)
    assert aida.keyboard == [[t("ru", notify.LABEL_SOS)], [t("ru", notify.LABEL_SOS_NO_LOCATION)]]
    # An old English keyboard still works after the switch.
    await aida.send_text(notify.LABEL_SOS_NO_LOCATION)
    await aida.wait_for(said("ru", "Alert #{id} received and saved."), after=mark)
    before = rows(world.db, "SELECT language FROM people WHERE user_id = ?", aida.id)
    for bad in ("de", "russian", "e"):
        mark = aida.mark()
        await aida.send_command("/language", bad)
        await aida.wait_for(t("ru", "Use /language en, /language kk or /language ru."),
                            after=mark)
    mark = aida.mark()
    answer = await aida.press_data(offer, "lang:zz")  # forged
    assert answer.text == t("ru", "Use /language en, /language kk or /language ru.")
    assert rows(world.db, "SELECT language FROM people WHERE user_id = ?", aida.id) == before


async def test_group_language_default_buttons_and_forged_presses(world: World) -> None:
    """/connect alone: Russian, with the language buttons; a coordinator's tap changes the
    notices' language; anyone else's tap, or one in a group not connected, changes nothing;
    /connect kk changes it too."""
    await world.start()
    c = await world.register_coordinator()
    group = world.emu.group(title="Press")
    mark = group.mark()
    await group.send_command(c, "/connect")
    connected = await group.wait_for(t("ru", "This group now receives Qorgau alert notices."),
                                     after=mark)
    assert connected.buttons == ["English", "Қазақша", "Русский"]
    assert rows(world.db, "SELECT language FROM groups") == [("ru",)]
    _, alert_id = await raise_alert(world, "Aida", ALMATY)
    await group.wait_for(t("ru", "🚨 Alert #{id} · {region}", id=alert_id,
                           region=t("ru", "Almaty")))
    outsider = world.emu.user(first_name="Outsider")
    answer = await group.press(outsider, "English", message=connected)
    assert answer.text == t("en", "Only a Qorgau coordinator can connect or disconnect this "
                                  "group.")
    answer = await group.press_data(c, connected, "glang:zz")
    assert answer.text == t("en", "Use /connect ru, /connect kk or /connect en.")
    assert rows(world.db, "SELECT language FROM groups") == [("ru",)]
    answer = await group.press(c, "Қазақша", message=connected)
    assert answer.text == t("kk", "Alert notices in this group are now in this language.")
    assert rows(world.db, "SELECT language FROM groups") == [("kk",)]
    bek = await world.register_reporter("Bek")
    await bek.tap(notify.LABEL_SOS, location=ALMATY)
    await group.wait_for(t("kk", "🚨 Alert #{id} · {region}", id=alert_id + 1,
                           region=t("kk", "Almaty")))
    mark = group.mark()
    await group.send_command(c, "/connect", "xx")
    await group.wait_for(t("kk", "Use /connect ru, /connect kk or /connect en."), after=mark)
    await group.send_command(c, "/connect", "en")
    await group.wait_for("This group is already connected.", after=mark)
    assert rows(world.db, "SELECT language FROM groups") == [("en",)]
    # Forged into a chat that is no connected group (the coordinator's own): nothing.
    answer = await c.press_data(c.inbox[-1], "glang:en")
    assert answer.text == t("en", "This group was not connected.")
    assert rows(world.db, "SELECT COUNT(*) FROM groups") == [(1,)]


def _menu(world: World, code: str = "", chat: int | None = None) -> list[tuple[str, str]]:
    scope = {"type": "default"} if chat is None else {"type": "chat", "chat_id": chat}
    stored = world.emu.api.commands.get((json.dumps(scope, sort_keys=True), code), [])
    return [(c["command"], c["description"]) for c in stored]


async def test_command_menus_per_language_and_role(world: World) -> None:
    """Reporters: the default menu per app language (Russian without one). A lawyer gets
    the lawyers' menu in their language, refreshed on /language and on losing the role;
    the rows are in the outbox, written with the change."""
    await world.start()
    await world.drain()
    assert _menu(world) == menus.commands("reporter", "ru")
    for code in ("en", "kk", "ru"):
        assert _menu(world, code) == menus.commands("reporter", code)
    assert ("checkin", t("kk", "a safety timer: if you don't tap \"I'm OK\" in time, we send "
                               "help")) in _menu(world, "kk")
    c = await world.register_coordinator()
    marat = await world.register_lawyer("Marat")
    await world.drain()
    assert _menu(world, chat=marat.id) == menus.commands("lawyer", "en")
    assert ("note", t("en", "send an update to the reporter of case N")) in _menu(
        world, chat=marat.id)
    assert _menu(world, chat=c.id) == menus.commands("coordinator", "en")
    await switch(marat, "kk")
    await world.drain()
    assert _menu(world, chat=marat.id) == menus.commands("lawyer", "kk")
    mark = c.mark()
    await c.send_command("/revoke", str(marat.id))
    await c.wait_for("reporter only", after=mark)
    assert rows(world.db, "SELECT COUNT(*) FROM outbox WHERE chat_id = ? AND kind = 'menu'",
                marat.id)[0][0] == 3  # registration, /language, revocation
    await world.drain()
    assert _menu(world, chat=marat.id) == menus.commands("reporter", "kk")


async def test_staff_menus_are_queued_again_when_a_release_changes_them(world: World) -> None:
    """A restart with the same menus queues nothing; one whose menus differ (kv "menus"
    says another release's) queues every lawyer's and coordinator's menu again."""
    await world.start()
    c = await world.register_coordinator()
    marat = await world.register_lawyer("Marat")
    await world.drain()
    count = "SELECT COUNT(*) FROM outbox WHERE kind = 'menu'"
    [(before,)] = rows(world.db, count)
    await world.restart()
    await world.drain()
    assert rows(world.db, count) == [(before,)]
    await world.stop()
    async with Storage(world.db, data_codec()) as storage, storage.transaction() as tx:
        await tx.set_value("menus", "an older release")
    world.emu.api.commands.clear()
    await world.start()
    await world.drain()
    assert rows(world.db, count) == [(before + 2,)]
    assert _menu(world, chat=marat.id) == menus.commands("lawyer", "en")
    assert _menu(world, chat=c.id) == menus.commands("coordinator", "en")


async def test_emulator_command_scopes_follow_the_api(world: World) -> None:
    """setMyCommands as Telegram takes it: a chat scope names a chat the bot knows, a scope
    type is one of the API's; each (scope, language) keeps its own list."""
    await world.start()
    assert world.runner is not None and world.runner.app is not None
    api = world.runner.app.bot
    aida = await world.register_reporter("Aida")
    await api.set_my_commands([BotCommand("help", "x")], scope=BotCommandScopeChat(aida.id),
                              language_code="kk")
    assert _menu(world, "kk", chat=aida.id) == [("help", "x")] and _menu(world, chat=aida.id) == []
    with pytest.raises(BadRequest, match=r"[Cc]hat not found"):
        await api.set_my_commands([BotCommand("help", "x")], scope=BotCommandScopeChat(12345))
    with pytest.raises(BadRequest, match=r"(?i)botcommandscope"):
        await api.set_my_commands([BotCommand("help", "x")],
                                  api_kwargs={"scope": json.dumps({"type": "everyone"})})
    assert await api.delete_my_commands(scope=BotCommandScopeChat(aida.id), language_code="kk")
    assert _menu(world, "kk", chat=aida.id) == []


async def test_times_in_the_configured_zone(world: World) -> None:
    """QORGAU_TIMEZONE: clock times shown (a card, the audit trail) and typed (/oncall
    18:30) are that zone's."""
    start = datetime(2026, 11, 27, 12, 0, tzinfo=UTC).timestamp()
    await world.start(clock=ManualClock(start), timezone="UTC")
    await world.register_coordinator()
    marat = await world.register_lawyer("Marat")
    await raise_alert(world, "Aida", ALMATY)
    card: BotMessage = await card_for(marat, 1)
    assert "Raised at 12:00" in (card.text or "")
    await world.stop()
    await world.start(clock=ManualClock(start + 60), timezone="Asia/Almaty")
    mark = marat.mark()
    await marat.send_command("/oncall", "18:30")
    await marat.wait_for(t("en", "You are on call until {time}.", time="18:30"), after=mark)
    [(until,)] = rows(world.db, "SELECT on_call_until FROM people WHERE user_id = ?", marat.id)
    assert until == datetime(2026, 11, 27, 13, 30, tzinfo=UTC).timestamp()  # 18:30 at UTC+5
    c = world.coordinator
    mark = c.mark()
    await c.send_command("/audit")
    audit = await c.wait_for("Audit trail", after=mark)
    assert "2026-11-27 17:00 · invite created" in (audit.text or "")  # 12:00 UTC
