"""The cancel PIN and the duress PIN: choosing them (at registration, optional, or with
/pin), and reading a PIN the reporter types when asked for one.

PINs are kept only as scrypt hashes, each with its own salt: short digit strings are
easy to guess from a fast hash, so the hash is deliberately slow, and it is computed in a
worker thread outside the transaction so that it never holds up an alert. The message in
which a PIN was typed is deleted (an outbox row, so a crash does not skip it), whatever
the PIN was; five wrong PINs within 15 minutes lock cancelling for 15 minutes (the alert
stays open); the lock is a row, so it survives a restart."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

from bot.domain import notify
from bot.domain.cancelling import SAID_NOTHING, Cancelling, locked_text
from bot.domain.messages import PRIORITY_ALERT, PRIORITY_REPLY, Outgoing
from bot.domain.notify import hidden
from bot.domain.services import Services
from bot.i18n import N_, lang_of, t
from storage import Person, Tx
from storage.records import PinState

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1  # about 16 MB and tens of ms per try
MIN_DIGITS, MAX_DIGITS = 4, 8
MAX_TRIES = 5  # wrong PINs within TRY_WINDOW before cancelling is locked
TRY_WINDOW = 15 * 60.0
LOCK_SECONDS = 15 * 60.0
PROMPT_SECONDS = 10 * 60.0  # an unanswered "send your PIN" lapses after this

SAID_FORMAT = N_("A PIN is 4 to 8 digits. Please send it again.")
SAID_AGAIN = N_("Please send it again.")
SAID_WRONG = N_("That PIN is not right. Please try again.")
ASK_NEW = N_("Send a new PIN of 4 to 8 digits. The message is deleted at once.")
ASK_CURRENT = N_("Send your current PIN first. The message is deleted at once.")
ASK_DURESS = (N_("Now send a second PIN, different from the first. Use it if someone forces "
              "you to cancel: it looks exactly like a cancel, but help goes on."))
SAID_SAVED = (N_("Saved. When you cancel, you will be asked for your PIN. Change it with /pin."))


def is_pin(text: str) -> bool:
    return text.isascii() and text.isdigit() and MIN_DIGITS <= len(text) <= MAX_DIGITS


def hash_pin(pin: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def pin_matches(pin: str, stored: str | None) -> bool:
    if not stored:
        return False
    _, n, r, p, salt, digest = stored.split("$")
    got = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                         p=int(p))
    return hmac.compare_digest(got.hex(), digest)


def classify(pin: str, pin_hash: str | None, duress_hash: str | None) -> str:
    """'real', 'duress' or 'wrong'. Both hashes are always computed, so the time taken
    does not tell which PIN was typed."""
    real = pin_matches(pin, pin_hash)
    duress = pin_matches(pin, duress_hash)
    return "real" if real else "duress" if duress else "wrong"


class Pins:
    def __init__(self, svc: Services, cancelling: Cancelling) -> None:
        self.svc = svc
        self.cancelling = cancelling

    async def _say(self, tx: Tx, user_id: int, lang: str, text: str) -> None:
        await notify.send(tx, user_id, Outgoing(t(lang, text)), self.svc.now(),
                          priority=PRIORITY_REPLY)

    # --- choosing PINs --------------------------------------------------------------------

    async def start_change(self, user_id: int) -> str | None:
        """/pin or "Set a PIN": with a PIN set, the current one is asked for first (a
        seized phone must not be able to set its own)."""
        async with self.svc.step() as tx:
            person = await tx.person(user_id)
            lang = lang_of(person)
            if person is None or not person.registered:
                return t(lang, "Please finish registering first: send /start.")
            now = self.svc.now()
            state = await tx.pin_state(user_id)
            if state is not None and state.locked_until is not None and state.locked_until > now:
                return locked_text(lang, state.locked_until - now)
            has_pin = state is not None and state.has_pin
            await tx.update_pins(user_id, awaiting="old" if has_pin else "new",
                                 awaiting_alert=None, awaiting_since=now, fake=0,
                                 pending_hash=None)
            await self._say(tx, user_id, lang, ASK_CURRENT if has_pin else ASK_NEW)
            return None

    async def skip(self, user_id: int) -> str:
        async with self.svc.storage.read() as tx:
            person = await tx.person(user_id)
        return t(lang_of(person), "No PIN set. You can set one later with /pin.")

    # --- a typed PIN --------------------------------------------------------------------------

    async def on_text(self, user_id: int, text: str, message_id: int | None) -> bool:
        """A message from someone asked for a PIN: True if it was taken as one (and will be
        deleted). Anything but digits lets the question lapse and is handled as usual."""
        now = self.svc.now()
        async with self.svc.storage.read() as tx:
            state = await tx.pin_state(user_id)
        if (state is None or state.awaiting is None or state.awaiting_since is None
                or now - state.awaiting_since > PROMPT_SECONDS):
            return False
        entry = text.strip()
        if not (entry.isascii() and entry.isdigit()):
            # Not the update's own step (the text's handling is): idempotent, unrecorded.
            async with self.svc.storage.transaction() as tx:
                await tx.update_pins(user_id, awaiting=None, awaiting_alert=None,
                                     pending_hash=None, fake=0)
            return False
        locked = state.locked_until is not None and state.locked_until > now
        verdict = new_hash = None
        same = False
        if is_pin(entry) and not locked:
            if state.awaiting in ("cancel", "old"):
                verdict = await asyncio.to_thread(classify, entry, state.pin_hash,
                                                  state.duress_hash)
            else:
                new_hash = await asyncio.to_thread(hash_pin, entry)
                if state.awaiting == "duress":
                    same = await asyncio.to_thread(pin_matches, entry, state.pending_hash)
        async with self.svc.step() as tx:
            await notify.erase_theirs(tx, user_id, message_id, now)
            person = await tx.person(user_id)
            if person is None or await tx.pin_state(user_id) != state:
                await self._say(tx, user_id, lang_of(person), SAID_AGAIN)  # raced: once more
                return True
            lang = person.language
            if locked:
                assert state.locked_until is not None
                await tx.update_pins(user_id, awaiting=None, awaiting_alert=None)
                await self._say(tx, user_id, lang, locked_text(lang, state.locked_until - now))
            elif not is_pin(entry):
                await self._say(tx, user_id, lang, SAID_FORMAT)
            elif verdict is not None:
                await self._checked(tx, person, state, verdict)
            else:
                assert new_hash is not None
                await self._chosen(tx, person, state, new_hash, same)
        return True

    async def _checked(self, tx: Tx, person: Person, state: PinState, verdict: str) -> None:
        """A PIN typed to cancel (or to change the PINs) was checked."""
        now = self.svc.now()
        user_id, lang = person.user_id, person.language
        if verdict == "wrong":
            return await self._wrong(tx, person, state)
        await tx.update_pins(user_id, failures=0, first_failure_at=None, awaiting=None,
                             awaiting_alert=None)
        alert = await tx.open_alert_of(user_id)
        if state.awaiting == "old":  # the duress PIN seems to work here too, changing nothing
            await tx.update_pins(user_id, awaiting="new", awaiting_since=now,
                                 fake=int(verdict == "duress"))
            if verdict == "duress" and alert is not None:
                await self.cancelling.duress(tx, alert, person, answer=False)
            return await self._say(tx, user_id, lang, ASK_NEW)
        if alert is None or alert.id != state.awaiting_alert:
            return await self._say(tx, user_id, lang, SAID_NOTHING)
        if verdict == "duress":
            await self.cancelling.duress(tx, alert, person)
        else:
            await self.cancelling.cancel(tx, alert, person)

    async def _wrong(self, tx: Tx, person: Person, state: PinState) -> None:
        now = self.svc.now()
        fresh = state.first_failure_at is None or now - state.first_failure_at > TRY_WINDOW
        failures = 1 if fresh else state.failures + 1
        if failures < MAX_TRIES:
            await tx.update_pins(person.user_id, failures=failures,
                                 first_failure_at=now if fresh else state.first_failure_at)
            return await self._say(tx, person.user_id, person.language, SAID_WRONG)
        await tx.update_pins(person.user_id, failures=0, first_failure_at=None,
                             locked_until=now + LOCK_SECONDS, awaiting=None,
                             awaiting_alert=None, pending_hash=None, fake=0)
        await self._say(tx, person.user_id, person.language,
                        locked_text(person.language, LOCK_SECONDS))
        alert = hidden(await tx.open_alert_of(person.user_id))
        if alert is None:
            return
        await tx.add_event(alert.id, now, "pin_locked", person.user_id, tries=MAX_TRIES)
        holder = alert.claimed_by if alert.claimed_by is not None else alert.acknowledged_by
        for c in {holder} | {c.user_id for c in await tx.people(role="coordinator")}:
            if c is not None and c != alert.reporter_id:
                await notify.tell(tx, c, N_("Alert #{id}: {n} wrong PINs in a row; cancelling is "
                                  "locked for 15 minutes and the alert stays open. Someone "
                                  "may be trying to cancel it."), now, alert.id,
                                  priority=PRIORITY_ALERT, id=alert.id, n=MAX_TRIES)

    async def _chosen(self, tx: Tx, person: Person, state: PinState, new_hash: str,
                      same: bool) -> None:
        """A new PIN, or its duress partner, was typed."""
        now = self.svc.now()
        user_id, lang = person.user_id, person.language
        if state.awaiting == "new":
            await tx.update_pins(user_id, awaiting="duress", awaiting_since=now,
                                 pending_hash=new_hash)
            return await self._say(tx, user_id, lang, ASK_DURESS)
        if state.awaiting != "duress":
            return await self._say(tx, user_id, lang, SAID_FORMAT)
        if same:
            return await self._say(tx, user_id, lang, N_("The second PIN must differ from the "
                                   "first. Please send another."))
        if state.fake:  # begun with the duress PIN: looks saved, changes nothing
            await tx.update_pins(user_id, awaiting=None, pending_hash=None, fake=0)
        else:
            await tx.update_pins(user_id, pin_hash=state.pending_hash, duress_hash=new_hash,
                                 awaiting=None, pending_hash=None, fake=0)
        await self._say(tx, user_id, lang, SAID_SAVED)
