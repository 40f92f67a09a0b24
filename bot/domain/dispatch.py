"""What a plain message in a private chat means depends on who sends it and where they are
in a flow; this is the one place that decides, so handlers stay thin. The same goes for
/help and for a command the bot does not know: the answer depends on the person's role."""

from __future__ import annotations

from bot.domain import discreet
from bot.domain.casework import CaseWork
from bot.domain.notify import LABEL_OFF, LABEL_ON, is_label, sos_labels
from bot.domain.pins import Pins
from bot.domain.reporting import Reporting
from bot.domain.services import Services
from bot.domain.team import Team
from bot.i18n import N_, lang_of, pick_language, t
from storage import Person

# Each role's commands: (usage, what it does). English sources, translated when shown.
COMMON = (("/phone", N_("a phone number for SMS, for when Telegram does not work")),
          ("/language en|kk|ru", N_("change the language")), ("/help", N_("this help")))
COMMANDS: dict[str, tuple[tuple[str, str], ...]] = {
    "reporter": (("/start", N_("register, or show your SOS buttons again")),
                 ("/pin", N_("set or change your PIN for cancelling")),
                 ("/discreet on|off", N_("plain words here, and our messages deleted when your "
                                      "request is over (for a phone others may read)")),
                 ("/checkin 2h|18:30|off", N_("a safety timer: if you don't tap \"I'm OK\" in "
                                           "time, we send help")),
                 ("/forget", N_("erase your profile and history here")), *COMMON),
    "lawyer": (
        ("/oncall", N_("go on call (/oncall 18:30 or /oncall 4h: until then)")),
        ("/offcall", N_("go off call")),
        (N_("/note N text"), N_("send an update to the reporter of case N")),
        (N_("/close N [note]"), N_("close case N with an outcome")),
        ("/case N", N_("the timeline of an alert you were paged for")),
        ("/decline N", N_("you can't take alert N: the next lawyers are paged")),
        ("/leave", N_("leave the team (you stop receiving alerts)")),
        *COMMON,
    ),
    "coordinator": (
        ("/open", N_("all open alerts")),
        ("/case N", N_("an alert's timeline")),
        ("/assign N", N_("give an alert to a lawyer")),
        (N_("/close N [note]"), N_("close a case with an outcome")),
        (N_("/stats [days]"), N_("how fast alerts were answered")),
        (N_("/report [days]"), N_("a chart and the figures for reports")),
        ("/lawyers", N_("each lawyer's open cases, on-call state and last response")),
        ("/map", N_("open alerts on the map, in our private chat")),
        ("/board", N_("inside the coordinators' group: a live board, pinned")),
        ("/invite lawyer|coordinator", N_("a single-use invite link")),
        (N_("/people [role]"), N_("who is registered")),
        (N_("/revoke <user id>"), N_("take a lawyer's or coordinator's role away")),
        (N_("/erase <user id>"), N_("erase everything stored about a person")),
        (N_("/audit [days]"), N_("invites, joins and revocations")),
        ("/leave", N_("leave the team")),
        ("/connect ru|kk|en, /disconnect", N_("inside a press-freedom group: its alert notices")),
        *COMMON,
    ),
}
DISCREET_INTRO = (N_("Tap \"{sos}\" (or \"{nosos}\") if you need help: it is called at "
                  "once. While your request is open, everything you send here is passed on."))
INTRO = {
    "reporter": N_("Qorgau alerts on-call lawyers when you are detained or in danger. Tap "
                "\"{sos}\" (or \"{nosos}\"): lawyers on call are alerted at once. While "
                "your alert is open, everything you send here goes to your lawyer."),
    "lawyer": N_("You are a Qorgau lawyer. Alerts reach you as cards while you are on call. "
              "Detained yourself? Your own SOS buttons are at the top of your keyboard."),
    "coordinator": N_("You are a Qorgau coordinator: you see every alert and organise the "
                   "lawyers. Detained yourself? Your own SOS buttons are on your keyboard."),
}


def role_of(person: Person | None) -> str:
    """The role whose commands a person may use: staff only once registered."""
    if person is not None and person.registered and person.role in COMMANDS:
        return person.role
    return "reporter"


class PrivateText:
    def __init__(self, svc: Services, reporting: Reporting, team: Team,
                 casework: CaseWork, pins: Pins) -> None:
        self.svc = svc
        self.reporting = reporting
        self.team = team
        self.casework = casework
        self.pins = pins

    async def handle(self, user_id: int, text: str, language: str,
                     reply_to: int | None, message_id: int | None = None) -> str | None:
        """Route one text; return a short answer to send, or None if the domain answered.
        A PIN the person was asked for comes first: it must never reach a timeline."""
        if await self.pins.on_text(user_id, text, message_id):
            return None
        async with self.svc.storage.read() as tx:
            person = await tx.person(user_id)
            rows = await tx.rows_with_message(user_id, reply_to) if reply_to else []
        if person is not None:
            if await self.team.on_text(person, text):
                return None
            if person.role in ("lawyer", "coordinator") and person.registered:
                if is_label(person.language, text, LABEL_ON, LABEL_OFF):
                    await self.team.set_on_call(user_id, is_label(person.language, text,
                                                                  LABEL_ON))
                    return None
                alert_ids = {r.alert_id for r in rows if r.alert_id is not None}
                if len(alert_ids) == 1:
                    return await self.casework.note(user_id, alert_ids.pop(), text)
        await self.reporting.on_text(user_id, text, language, message_id)
        return None

    async def help(self, user_id: int, language: str) -> str:
        """/help: what this person can do, by role."""
        async with self.svc.storage.read() as tx:
            person = await tx.person(user_id)
        lang = lang_of(person) if person else pick_language(language)
        role = role_of(person)
        sos, nosos = sos_labels(lang, person)
        lines = [t(lang, discreet.pick(person, INTRO[role], DISCREET_INTRO), sos=sos, nosos=nosos)]
        if person is None or not person.registered:
            lines.append(t(lang, "Not registered yet: send /start."))
        lines.append("")
        lines.extend(f"{t(lang, usage)} – {t(lang, what)}" for usage, what in COMMANDS[role])
        return "\n".join(lines)

    async def unknown_command(self, user_id: int, language: str) -> str:
        """A command nobody here knows: short, with the commands this person has."""
        async with self.svc.storage.read() as tx:
            person = await tx.person(user_id)
        lang = lang_of(person) if person else pick_language(language)
        usages = ", ".join(usage for usage, _ in COMMANDS[role_of(person)])
        sos = sos_labels(lang, person)[0]
        return discreet.pick(
            person,
            t(lang, "I do not know that command. Yours: {list}. In danger? Tap \"{sos}\".",
              list=usages, sos=sos),
            t(lang, "I do not know that command. Yours: {list}. Need help? Tap \"{sos}\".",
              list=usages, sos=sos))
