"""Which language each person and each press-freedom group reads.

A new person starts in the language their Telegram app reports (kk, ru or en; anything else
Russian). The first registration message carries the three languages as buttons, and
/language changes it at any time (buttons when given no argument). A group reads Russian
unless ``/connect kk`` or ``/connect en`` (or its buttons) chose otherwise. Every message is
written in its recipient's language, whoever caused it.
"""

from __future__ import annotations

from bot.domain import menus, notify
from bot.domain.messages import PRIORITY_REPLY, Button, Outgoing
from bot.domain.services import Services
from bot.i18n import LANGUAGE_NAMES, LANGUAGES, lang_of, pick_language, t
from storage import Person, Tx

PERSON_DATA = "lang:"  # a person's language button: lang:kk
GROUP_DATA = "glang:"  # a group's language button (pressed by a coordinator in the group)


def language_buttons(prefix: str = PERSON_DATA) -> tuple[tuple[Button, ...], ...]:
    """One row of the three languages, each in its own name (readable whatever the current
    language is)."""
    return (tuple(Button(name, f"{prefix}{code}") for code, name in LANGUAGE_NAMES.items()),)


class Languages:
    def __init__(self, svc: Services) -> None:
        self.svc = svc

    async def language_of(self, user_id: int, code: str | None) -> str:
        """The language to answer this sender in: the one they chose, or for someone new
        the one their app reports."""
        async with self.svc.storage.read() as tx:
            person = await tx.person(user_id)
        return person.language if person is not None else pick_language(code)

    async def offer(self, user_id: int, code: str | None) -> None:
        """/language alone: the three languages as buttons."""
        lang = await self.language_of(user_id, code)
        async with self.svc.step() as tx:
            await notify.send(tx, user_id, Outgoing(
                t(lang, "Choose your language:"), buttons=language_buttons()), self.svc.now(),
                priority=PRIORITY_REPLY)

    async def choose(self, user_id: int, choice: str, code: str | None) -> str | None:
        """/language kk or a language button: saved, and answered in the new language; the
        question being asked (registration) is asked again in it, a registered person's
        keyboard and command menu change with it. Returns a refusal to show, or None."""
        choice = choice.strip().lower()
        if choice not in LANGUAGES:
            lang = await self.language_of(user_id, code)
            return t(lang, "Use /language en, /language kk or /language ru.")
        async with self.svc.step() as tx:
            now = self.svc.now()
            person = await tx.ensure_person(user_id, now, choice, self.svc.first_role(user_id))
            if person.step == "erased":
                return t(lang_of(person), "That button is no longer valid. Send /start to "
                                          "continue.")
            await tx.update_person(user_id, now, language=choice)
            fresh = await tx.person(user_id)
            assert fresh is not None
            await self._answer(tx, fresh, now)
            if fresh.role in menus.STAFF or fresh.registered:
                await menus.refresh(tx, fresh, now)
        return None

    async def _answer(self, tx: Tx, person: Person, now: float) -> None:
        from bot.domain.reporting import consent_message  # reporting imports our buttons

        lang = person.language
        if person.step == "consent":
            out = consent_message(lang)
        elif person.step in ("l_name", "c_name"):
            out = Outgoing(t(lang, "Language saved. What name should others see? Send it as a "
                                   "message."))
        elif person.registered:
            alert = notify.hidden(await tx.open_alert_of(person.user_id))
            out = Outgoing(t(lang, "Language saved."),
                           keyboard=notify.keyboard(lang, person, alert_open=alert is not None))
        else:
            out = Outgoing(t(lang, "Language saved."))
        await notify.send(tx, person.user_id, out, now, priority=PRIORITY_REPLY)

    # --- groups ----------------------------------------------------------------------------

    async def choose_for_group(self, user_id: int, chat_id: int, choice: str) -> str:
        """A coordinator's language button in a connected group: its notices from now on
        (and the ones still open, at their next change) in that language. The answer is the
        presser's alone (a callback answer), in their language; the confirmation in the
        chosen one."""
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.is_coordinator:
                return t(lang, "Only a Qorgau coordinator can connect or disconnect this group.")
            if choice not in LANGUAGES:
                return t(lang, "Use /connect ru, /connect kk or /connect en.")
            if await tx.group_language(chat_id) is None:
                return t(lang, "This group was not connected.")
            await tx.set_group_language(chat_id, choice)
            return t(choice, "Alert notices in this group are now in this language.")
