"""The SMS gateway: gammu-smsd's files backend, read and written as files.

gammu-smsd (with a USB GSM modem, or its ``dummy`` driver in tests) writes each received
SMS to its inbox folder as ``IN<date>_<time>_<serial>_<sender>_<part>.txt`` and sends each
``OUT*.txt`` file it finds in its outbox folder, then moves it to its sent or error folder.

In: each inbox file is taken in by one domain step that records it (a keyed hash of its
name) with its effects; the file is removed after the commit, and a file found again after
a kill between the two is recognised and removed, not taken in twice. Each message is taken
in on its own: a file that cannot be read (a folder, no permission, a name that is not
UTF-8) is moved to the ``rejected`` folder beside the inbox (0700), read by nobody, and the
rest of the inbox goes on; a file is read up to MAX_BYTES. Logs name error types and counts
only: a path holds the sender's number.

Out: every SMS is an ``sms_out`` row first. Rows are written as files named after their id
(``OUT<priority><date>_<time>_00_<number>_q<id>.txt``, the date the row's), through a
temporary name gammu-smsd does not read, at most QORGAU_SMS_PER_MINUTE a minute; a row
whose file already exists is not written again. Files gammu-smsd moved to its sent folder
mark their row sent, those in its error folder are retried by the domain, and both are
removed: the folders keep no text. A row cancelled while its file waits in the outbox (its
lawyer was revoked) has its file taken back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path

from bot.domain.services import Services
from bot.domain.sms import Sms
from bot.settings import Settings
from storage.records import SmsOut

log = logging.getLogger(__name__)

_OURS = re.compile(r"OUT.*_q([0-9]+)\.txt")
_PART = re.compile(r"(IN[0-9]{8}_[0-9]{6}_[0-9]{2}_(.+))_([0-9]{2})\.txt")
URGENT_KINDS = ("page", "received", "answer")  # gammu-smsd sends A before B
MIN_GAP = 0.1  # real seconds between two passes at least
MAX_BYTES = 64 * 1024  # of one inbox file: a long SMS has a few KiB, nothing has more


def decode(data: bytes) -> str:
    """An inbox file's text: UTF-16 with a byte-order mark (InboxFormat = unicode, the
    documented choice), else UTF-8 (InboxFormat = standard on a UTF-8 system)."""
    if data[:2] == b"\xfe\xff":
        return data[2:].decode("utf-16-be", errors="replace")
    if data[:2] == b"\xff\xfe":
        return data[2:].decode("utf-16-le", errors="replace")
    return data.decode("utf-8", errors="replace")


def _read(path: Path) -> bytes:
    """An inbox file's first MAX_BYTES; a folder or a device is refused, not read."""
    if path.is_symlink() or not path.is_file():
        raise IsADirectoryError("not a regular file")
    with path.open("rb") as f:
        return f.read(MAX_BYTES)


def out_name(row: SmsOut) -> str:
    """The outbox file of a row: gammu-smsd's third naming form, the row id as its note."""
    stamp = datetime.fromtimestamp(row.created_at, tz=UTC).strftime("%Y%m%d_%H%M%S")
    priority = "A" if row.kind in URGENT_KINDS else "B"
    return f"OUT{priority}{stamp}_00_{row.number}_q{row.id}.txt"


class SmsGateway:
    def __init__(self, svc: Services, sms: Sms, settings: Settings,
                 poll_seconds: float = 1.0) -> None:
        assert settings.sms_inbox is not None and settings.sms_outbox is not None
        self.svc = svc
        self.sms = sms
        self.inbox = settings.sms_inbox
        self.outbox = settings.sms_outbox
        self.sent = settings.sms_sent or settings.sms_outbox.parent / "sent"
        self.error = settings.sms_error or settings.sms_outbox.parent / "error"
        self.rejected = settings.sms_inbox.parent / "rejected"
        self.per_minute = settings.sms_per_minute
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        svc.on_commit(self._wake.set)

    async def run(self) -> None:
        for folder in (self.inbox, self.outbox, self.sent, self.error):
            folder.mkdir(parents=True, exist_ok=True)
        self.rejected.mkdir(mode=0o700, parents=True, exist_ok=True)
        while not self._stopping:
            self._wake.clear()
            try:
                await self.once()
            except Exception as exc:  # a full disk must not end the channel
                # The type only: a traceback names paths, and paths name phone numbers.
                log.warning("SMS gateway pass failed (%s); retrying", type(exc).__name__)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            except TimeoutError:
                pass
            # Every commit wakes the gateway (a new SMS row may be due); under a burst of
            # Telegram traffic one pass per MIN_GAP is enough and leaves the database alone.
            await asyncio.sleep(MIN_GAP)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def once(self) -> None:
        """One pass: take in the inbox, settle what gammu-smsd sent or refused, write
        what is due."""
        await self.take_inbox()
        await self.collect()
        await self.write_outbox()

    # --- in -----------------------------------------------------------------------------

    async def take_inbox(self) -> int:
        """Take in every received SMS (parts of one message joined), each on its own: a bad
        file is moved aside, a failed step leaves the message for the next pass; return how
        many were taken in."""
        messages: dict[str, list[Path]] = {}
        for path in sorted(self.inbox.iterdir()):
            match = _PART.fullmatch(path.name)
            if match is None:
                continue  # not gammu-smsd's (8-bit .bin messages are not for us either)
            messages.setdefault(match.group(1), []).append(path)
        taken = 0
        for key, parts in messages.items():
            try:
                key.encode()  # the name is remembered by its hash: it must be text
                text = "".join(decode(_read(p)) for p in parts)
            except (OSError, UnicodeError) as exc:
                self._reject(parts, exc)
                continue
            sender = key.split("_", 3)[3]
            try:
                # The name alone could come back: gammu-smsd names a file by the second it
                # was sent, and may reuse the name once ours is gone; the text tells two apart.
                await self.sms.received(f"{key}\0{text}", sender, text)
            except Exception as exc:  # the database: the file stays, tried again next pass
                log.warning("an SMS was not taken in (%s); trying again", type(exc).__name__)
                continue
            for p in parts:  # after the commit: a kill before this leaves a known file
                p.unlink(missing_ok=True)
            taken += 1
        if taken:
            log.info("took in %d SMS", taken)
        return taken

    def _reject(self, parts: list[Path], exc: Exception) -> None:
        """Move a message's files out of the inbox, so one bad file is not tried every
        second; the name is never logged (it holds the sender's number)."""
        moved = 0
        for p in parts:
            try:
                os.replace(p, self.rejected / f"{secrets.token_hex(4)}_{p.name}")
                moved += 1
            except OSError:
                pass
        log.warning("an SMS inbox file could not be read (%s): %d of %d files moved to "
                    "rejected", type(exc).__name__, moved, len(parts))

    # --- out ----------------------------------------------------------------------------

    def _ours(self, folder: Path) -> dict[int, Path]:
        found = {}
        for path in folder.iterdir():
            match = _OURS.fullmatch(path.name)
            if match is not None and path.is_file() and not path.is_symlink():
                found[int(match.group(1))] = path
        return found

    async def collect(self) -> None:
        """Rows gammu-smsd has sent, or refused (the domain retries or reports them)."""
        async with self.svc.storage.read() as tx:
            queued = {r.id for r in await tx.sms_rows("queued")}
            cancelled = {r.id for r in await tx.sms_rows("cancelled")}
        for sms_id, path in self._ours(self.outbox).items():
            if sms_id in cancelled:  # its lawyer was revoked: gammu-smsd must not send it
                path.unlink(missing_ok=True)
        for sms_id, path in self._ours(self.sent).items():
            if sms_id in queued:
                async with self.svc.step() as tx:
                    await tx.set_sms_state(sms_id, "sent")
            path.unlink(missing_ok=True)
        for sms_id, path in self._ours(self.error).items():
            if sms_id in queued:
                log.warning("gammu-smsd could not send SMS %d", sms_id)
                await self.sms.send_failed(sms_id)
            path.unlink(missing_ok=True)

    async def write_outbox(self) -> int:
        """Write due rows as outbox files, within the per-minute rate; return how many."""
        now = self.svc.now()
        async with self.svc.storage.read() as tx:
            room = self.per_minute - await tx.sms_written_since(now - 60.0)
            due = await tx.sms_due(now, room) if room > 0 else []
        waiting = self._ours(self.outbox) | self._ours(self.sent)
        for row in due:
            if row.id not in waiting:  # else written before a kill: never twice
                name = out_name(row)
                temp = self.outbox / f".{row.id}.tmp"
                temp.write_bytes(b"\xfe\xff" + row.text.encode("utf-16-be"))
                os.replace(temp, self.outbox / name)
            async with self.svc.step() as tx:
                await tx.set_sms_state(row.id, "queued", now=now)
        return len(due)
