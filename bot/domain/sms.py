"""The SMS channel's rules: phone numbers and their codes, alerts raised by SMS, SMS pages
to lawyers, and ACK/CLAIM answered by SMS. The files gammu-smsd reads and writes are the
delivery layer's (bot/delivery/sms.py); here every SMS is a row, written in the same
transaction as the change it reports, like every Telegram message.

SMS travels in clear through the operator: what is written here never carries a name, a
position or a note, only alert numbers, region names, times and codes. An SMS from a number
nobody confirmed, or without its sender's code word, changes nothing and is not answered: a
stranger must not learn what the number is.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets

from bot.domain import notify
from bot.domain.casework import STAFF, CaseWork, coordinators_except, may_act, not_to_page
from bot.domain.messages import PRIORITY_ALERT, Outgoing
from bot.domain.regions import region_name
from bot.domain.reporting import Reporting
from bot.domain.services import Services
from bot.i18n import N_, lang_of, t
from storage import Person, Tx
from storage.records import Phone

log = logging.getLogger(__name__)

SMS_PAGE = "sms_page"  # timer kind: look whether an alert's paged lawyers need an SMS page
DEFAULT_CODE_WORD = "SOS"
PAGINGS = ("never", "fallback", "always")
CODE_SECONDS = 900.0  # a confirmation code is good for 15 minutes
CODE_AGAIN = 60.0  # at most one code a minute per person: nobody turns the bot into a spammer
CODE_FAILURES = 5  # wrong codes before the number is dropped
_NUMBER = re.compile(r"\+[1-9][0-9]{7,14}")
_WORD = re.compile(r"[^\W_]{2,20}")
_COMMAND = re.compile(r"(ACK|CLAIM)\b\s*#?\s*([0-9]{1,9})?", re.IGNORECASE)
USAGE = N_("Use /phone +77011234567 to add your number (a reporter may add a code word: "
           "/phone +77011234567 HELP), /phone 123456 to confirm it with the code we sent, "
           "/phone off to remove it.")
STAFF_USAGE = N_("Lawyers: /phone sms never, /phone sms fallback (when Telegram does not "
                 "reach you) or /phone sms always.")


def phone_number(text: str) -> str | None:
    """A number in international form (+7...), from what people type: spaces, dashes and
    brackets are dropped, 00 becomes +, and Kazakhstan's national 8 7xx becomes +7 7xx."""
    raw = re.sub(r"[\s().-]", "", text)
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    elif len(raw) == 11 and raw.startswith("8") and raw.isdigit():
        raw = "+7" + raw[1:]
    return raw if _NUMBER.fullmatch(raw) else None


def sms_sender(text: str) -> str:
    """The sender gammu-smsd names, in the form numbers are stored (else as it is)."""
    return phone_number(text) or text


def hash_code(code: str, user_id: int) -> str:
    return hashlib.sha256(f"{user_id}:{code}".encode()).hexdigest()


def starts_with(text: str, word: str) -> str | None:
    """The rest of ``text`` if it starts with the code word (any case, then a space, a
    punctuation mark or nothing), else None."""
    stripped = text.strip()
    if not stripped[:len(word)].casefold() == word.casefold():
        return None
    rest = stripped[len(word):]
    if rest and rest[0].isalnum():
        return None  # "SOSNA" is not "SOS"
    return rest.lstrip(" \t\r\n:,.;!-")


class Sms:
    def __init__(self, svc: Services, reporting: Reporting, casework: CaseWork) -> None:
        self.svc = svc
        self.reporting = reporting
        self.casework = casework
        notify.SMS_PAGING = svc.settings.sms_enabled

    # --- /phone ---------------------------------------------------------------------------

    async def phone_command(self, user_id: int, args: list[str],
                            message_id: int | None = None) -> str:
        """/phone, /phone +7..., /phone CODE, /phone off, /phone sms never|fallback|always.
        The message that gave a number (and perhaps the code word) is deleted from the chat,
        as a typed PIN is: a phone taken from its owner should not show them."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.registered:
                return t(lang, "Please finish registering first: send /start.")
            if not self.svc.settings.sms_enabled:
                return t(lang, "SMS is not set up on this server.")
            phone = await tx.phone(user_id)
            if not args:
                return self._status(person, phone)
            first = args[0].lower()
            if first == "off" and len(args) == 1:
                await tx.forget_phone(user_id)
                return t(lang, "Your number is removed.")
            if first == "sms" and len(args) == 2 and args[1].lower() in PAGINGS:
                return await self._paging(tx, person, phone, args[1].lower())
            if len(args) == 1 and args[0].isdigit() and len(args[0]) == 6:
                return await self._confirm(tx, person, phone, args[0], now)
            # "+7 701 123 45 67" arrives in pieces; a code word, if any, comes last.
            number, word = phone_number("".join(args)), DEFAULT_CODE_WORD
            if number is None and len(args) > 1:
                number, word = phone_number("".join(args[:-1])), args[-1]
            if number is None:
                return t(lang, USAGE) + ("\n" + t(lang, STAFF_USAGE)
                                         if person.role in STAFF else "")
            if not _WORD.fullmatch(word):
                return t(lang, "A code word is one word of 2 to 20 letters or digits.")
            if phone is not None and phone.code_sent_at is not None \
                    and now - phone.code_sent_at < CODE_AGAIN:
                return t(lang, "A code was sent less than a minute ago. Please wait a minute.")
            await notify.erase_theirs(tx, user_id, message_id, now)
            code = f"{secrets.randbelow(10**6):06d}"
            await tx.set_phone(user_id, number, word.upper(), hash_code(code, user_id), now)
            await tx.add_sms(user_id, number, t(lang, "Your code: {code}", code=code), "code",
                             now)
            return t(lang, "We sent a code by SMS to the number ending in {last}. Send it "
                           "here as /phone 123456 within 15 minutes.", last=number[-2:])

    def _status(self, person: Person, phone: Phone | None) -> str:
        lang = person.language
        if phone is None:
            return t(lang, "You have no phone number here.") + " " + t(lang, USAGE)
        if not phone.confirmed:
            return t(lang, "Your number ending in {last} is waiting for its code: send "
                           "/phone 123456.", last=phone.number[-2:])
        if person.role in STAFF:
            return t(lang, "Your number ending in {last} is confirmed. SMS pages: {mode}.",
                     last=phone.number[-2:], mode=phone.sms_paging) + "\n" + t(lang, STAFF_USAGE)
        return t(lang, "Your number ending in {last} is confirmed. An SMS to us that starts "
                       "with your code word calls for help.", last=phone.number[-2:])

    async def _paging(self, tx: Tx, person: Person, phone: Phone | None, mode: str) -> str:
        lang = person.language
        if person.role not in STAFF:
            return t(lang, "SMS pages are for lawyers.")
        if phone is None or not phone.confirmed:
            return t(lang, "Add and confirm your number first.") + " " + t(lang, USAGE)
        await tx.update_phone(person.user_id, sms_paging=mode)
        return t(lang, "SMS pages: {mode}.", mode=mode)

    async def _confirm(self, tx: Tx, person: Person, phone: Phone | None, code: str,
                       now: float) -> str:
        lang = person.language
        if phone is None or phone.code_hash is None:
            return t(lang, "No code is waiting. Send /phone with your number first.")
        if phone.code_sent_at is None or now - phone.code_sent_at > CODE_SECONDS:
            await tx.update_phone(person.user_id, code_hash=None)
            return t(lang, "That code has expired. Send /phone with your number again.")
        if not secrets.compare_digest(hash_code(code, person.user_id), phone.code_hash):
            if phone.code_failures + 1 >= CODE_FAILURES:
                await tx.forget_phone(person.user_id)
                return t(lang, "Too many wrong codes; the number was removed. Send /phone "
                               "with your number to start again.")
            await tx.update_phone(person.user_id, code_failures=phone.code_failures + 1)
            return t(lang, "That code is not right. Please check the SMS and try again.")
        other = await tx.phone_by_number(phone.number)
        if other is not None and other.user_id != person.user_id:
            await tx.forget_phone(other.user_id)  # a number belongs to one person: the newest
        await tx.update_phone(person.user_id, code_hash=None, confirmed_at=now,
                              sms_paging="fallback" if person.role in STAFF else "never")
        if person.role in STAFF:
            return t(lang, "Your number is confirmed. When Telegram does not reach you, "
                           "alerts come by SMS; answer ACK 12 or CLAIM 12.") + "\n" + t(
                lang, STAFF_USAGE)
        return t(lang, "Your number is confirmed. If Telegram does not work, send an SMS "
                       "starting with {word} to our number; you may add where you are.",
                 word=phone.code_word or DEFAULT_CODE_WORD)

    # --- incoming SMS ---------------------------------------------------------------------

    async def received(self, file_name: str, number: str, text: str) -> bool:
        """One SMS from gammu-smsd's inbox, taken in exactly once: the file is recorded in
        the same transaction as what it causes. False if it had been taken in already."""
        async with self.svc.step() as tx:
            now = self.svc.now()
            if not await tx.take_sms_file(file_name, now):
                return False
            phone = await tx.phone_by_number(sms_sender(number))
            person = await tx.person(phone.user_id) if phone is not None else None
            if phone is None or person is None or not person.registered:
                log.info("SMS from an unknown number: ignored")
                return True
            command = _COMMAND.match(text.strip())
            if person.role in STAFF and command is not None:
                await self._staff_command(tx, person, phone.number, command)
                return True
            rest = starts_with(text, phone.code_word or DEFAULT_CODE_WORD)
            if rest is None:
                log.info("SMS without the code word: ignored")
                return True
            alert_id = await self.reporting.raise_by_sms(tx, person, rest)
            if not await tx.sms_sent_to(alert_id, person.user_id, "received"):
                # Once per alert: more SMS join its timeline unanswered, so a flood of
                # SMS from a seized phone does not become a flood of paid SMS back.
                await tx.add_sms(person.user_id, phone.number, t(
                    person.language, "Received (#{id}). Help is on the way.", id=alert_id),
                    "received", now, alert_id)
            return True

    async def _staff_command(self, tx: Tx, person: Person, number: str,
                             command: re.Match[str]) -> None:
        """ACK 12 / CLAIM 12: the same steps and checks as the buttons; the answer by SMS,
        replacing an older one still unsent (a flood of commands gets no flood back)."""
        now = self.svc.now()
        lang = person.language
        alert_id = int(command.group(2)) if command.group(2) else None
        alert = await tx.alert(alert_id) if alert_id is not None else None
        if alert_id is None:
            answer = t(lang, "Reply ACK 12 or CLAIM 12 with the alert number.")
        elif command.group(1).upper() == "ACK":
            answer = await self.casework.acknowledge_in(tx, person.user_id, alert_id)
        elif alert is not None and alert.is_open and alert.claimed_by not in (
                None, person.user_id) and await may_act(tx, person, alert):
            # The button's answer names the holder; an SMS names nobody.
            answer = t(lang, "Alert #{id} was already taken by another lawyer.", id=alert_id)
        else:
            answer = await self.casework.claim_in(tx, person.user_id, alert_id)
        for older in await tx.sms_rows("pending"):
            if older.user_id == person.user_id and older.kind == "answer":
                await tx.set_sms_state(older.id, "superseded")
        await tx.add_sms(person.user_id, number, answer, "answer", now, alert_id)

    # --- SMS pages ------------------------------------------------------------------------

    async def page_due(self, kind: str, alert_id: int) -> None:
        """An alert's lawyers with SMS paging: "always" at once; "fallback" when their card
        was not delivered within QORGAU_SMS_UNREACHABLE_SECONDS, or nobody acknowledged the
        alert within QORGAU_SMS_UNACKNOWLEDGED_SECONDS. One SMS page per lawyer and alert,
        whatever the waves; none once the alert is acknowledged. Never to someone no longer
        on the team (a revoked lawyer's phone is often the one police seized), nor to one who
        said they cannot take the alert or handed it over: the same rule as the waves."""
        settings = self.svc.settings
        async with self.svc.step() as tx:
            now = self.svc.now()
            if not await tx.is_due(kind, alert_id, now):
                return
            alert = await tx.alert(alert_id)
            if alert is None or not alert.is_open:
                return
            later: float | None = None
            skip = await not_to_page(tx, alert)
            for c in await tx.sms_page_candidates(alert_id):
                if c.user_id in skip:
                    continue
                if c.sms_paging == "always":
                    due = c.paged_at
                elif alert.state != "open":
                    continue  # acknowledged: a fallback page would only be noise
                elif c.delivered:
                    due = c.paged_at + settings.sms_unacknowledged_seconds
                else:
                    due = c.paged_at + min(settings.sms_unreachable_seconds,
                                           settings.sms_unacknowledged_seconds)
                if due > now:
                    later = due if later is None else min(later, due)
                    continue
                phone = await tx.phone(c.user_id)
                lawyer = await tx.person(c.user_id)
                if phone is None or lawyer is None or not lawyer.registered \
                        or lawyer.role not in STAFF:
                    continue
                lang = lawyer.language
                await tx.add_sms(c.user_id, phone.number, t(
                    lang, "Alert #{id}, {region}, {time}. Reply ACK {id} or CLAIM {id}.",
                    id=alert_id, region=t(lang, region_name(alert.region)),
                    time=notify.clock_time(alert.created_at)), "page", now, alert_id)
                await tx.add_event(alert_id, now, "sms_paged", None, lawyer=c.user_id)
            if later is not None:
                await tx.set_timer(SMS_PAGE, alert_id, later)

    # --- failed sends ---------------------------------------------------------------------

    async def send_failed(self, sms_id: int) -> None:
        """gammu-smsd put the SMS in its error folder: sent again after a pause, up to
        QORGAU_SMS_RETRIES times; then coordinators are told (in Telegram, without the
        number)."""
        settings = self.svc.settings
        async with self.svc.step() as tx:
            now = self.svc.now()
            row = next((r for r in await tx.sms_rows("queued") if r.id == sms_id), None)
            if row is None:
                return
            if row.attempts < settings.sms_retries:
                await tx.set_sms_state(sms_id, "pending", not_before=now +
                                       settings.sms_retry_seconds, attempt=True)
                return
            await tx.set_sms_state(sms_id, "failed", attempt=True)
            log.warning("SMS %d could not be sent after %d attempts", sms_id, row.attempts + 1)
            person = await tx.person(row.user_id)
            for c in await coordinators_except(tx, row.user_id):
                await notify.send(tx, c.user_id, Outgoing(t(
                    c.language, "An SMS to {name} could not be sent, even after retries "
                    "(about alert #{id}). Check the modem and its credit.",
                    name=person.name if person else "?", id=row.alert_id or "-")), now,
                    kind="case", priority=PRIORITY_ALERT)

