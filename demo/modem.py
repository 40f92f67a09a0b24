"""A GSM modem for the SMS demo and tests: the real gammu-smsd on Gammu's ``dummy`` driver
(a phone simulated in a folder), or, where gammu-smsd is not installed, files written
exactly as gammu-smsd writes them.

With gammu-smsd, an SMS "arrives" as an SMS backup file in the dummy phone's inbox folder
(``<device>/sms/1/<n>``); gammu-smsd reads it from the "phone" and writes it to its inbox
folder as ``IN<date>_<time>_<serial>_<sender>_00.txt``, UTF-16 with a byte-order mark
(InboxFormat = unicode). It sends each ``OUT*.txt`` file of its outbox through the dummy
driver (which accepts every SMS) and moves it to its sent folder.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

GAMMU_SMSD = shutil.which("gammu-smsd")

CONFIG = """[gammu]
device = {phone}
connection = none
model = dummy

[smsd]
service = files
inboxpath = {inbox}/
outboxpath = {outbox}/
sentsmspath = {sent}/
errorsmspath = {error}/
inboxformat = unicode
outboxformat = unicode
transmitformat = auto
checksecurity = 0
checkbattery = 0
checksignal = 0
statusfrequency = 0
resetfrequency = 0
hardresetfrequency = 0
commtimeout = 1
receivefrequency = 1
loopsleep = 1
logfile = {log}
debuglevel = 0
"""


def backup_entry(number: str, text: str, when: float) -> str:
    """One received SMS as Gammu's SMS backup format, the dummy driver's storage."""
    ascii_only = all(ord(ch) < 128 for ch in text)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
    return ("[SMSBackup000]\n"
            f'Number = "{number}"\n'
            f"Coding = {'Default' if ascii_only else 'Unicode_No_Compression'}\n"
            "Folder = 1\n"
            f"Sent = {stamp}\n"
            "State = UnRead\n"
            f"Text00 = {text.encode('utf-16-be').hex().upper()}\n"
            "Class = -1\n"
            "PDU = Deliver\n")


@dataclass
class Modem:
    """The folders gammu-smsd uses, and gammu-smsd itself when ``real``. ``keep_sent``:
    gammu-smsd moves what it sent to a folder the bot does not watch, so every file it
    transmitted can be read afterwards."""

    root: Path
    real: bool = GAMMU_SMSD is not None
    keep_sent: bool = False
    proc: subprocess.Popen[bytes] | None = None
    _serial: int = 0
    _location: int = 0
    folders: dict[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("phone", "inbox", "outbox", "sent", "error", "transmitted"):
            self.folders[name] = self.root / name
            self.folders[name].mkdir(parents=True, exist_ok=True)
        for folder in range(1, 6):
            (self.folders["phone"] / "sms" / str(folder)).mkdir(parents=True, exist_ok=True)

    @property
    def what_ran(self) -> str:
        return "gammu-smsd (dummy driver)" if self.real else "files as gammu-smsd writes them"

    def settings(self) -> dict[str, Path]:
        """The bot's QORGAU_SMS_* settings for these folders."""
        return {"sms_inbox": self.folders["inbox"], "sms_outbox": self.folders["outbox"],
                "sms_sent": self.folders["sent"], "sms_error": self.folders["error"]}

    def start(self) -> None:
        if not self.real or self.proc is not None:
            return
        assert GAMMU_SMSD is not None
        f = self.folders
        config = self.root / "smsdrc"
        config.write_text(CONFIG.format(
            phone=f["phone"], inbox=f["inbox"], outbox=f["outbox"], error=f["error"],
            sent=f["transmitted"] if self.keep_sent else f["sent"],
            log=self.root / "smsd.log"), encoding="utf-8")
        self.proc = subprocess.Popen([GAMMU_SMSD, "-c", str(config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None

    def receive(self, number: str, text: str, when: float | None = None) -> None:
        """An SMS from ``number`` reaches the modem."""
        when = time.time() if when is None else when
        if self.real:
            self._location += 1
            path = self.folders["phone"] / "sms" / "1" / str(self._location)
            temp = path.with_name(f".{self._location}")
            temp.write_text(backup_entry(number, text, when), encoding="utf-8")
            temp.rename(path)
            return
        self._serial += 1
        stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime(when))
        name = f"IN{stamp}_{self._serial % 100:02d}_{number}_00.txt"
        temp = self.folders["inbox"] / f".{name}"
        temp.write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
        temp.rename(self.folders["inbox"] / name)

    def inbox_files(self) -> list[Path]:
        return sorted(p for p in self.folders["inbox"].iterdir() if p.name.startswith("IN"))

    def outgoing(self) -> list[tuple[str, str]]:
        """(file name, text) of every SMS file the bot handed to gammu-smsd that is still
        there to read: transmitted (``keep_sent``) or still waiting in the outbox."""
        found = []
        for folder in ("transmitted", "outbox"):
            for path in sorted(self.folders[folder].glob("OUT*.txt")):
                data = path.read_bytes()
                found.append((path.name, data[2:].decode("utf-16-be")
                              if data[:2] == b"\xfe\xff" else data.decode("utf-8")))
        return found

    def fail_sending(self) -> list[Path]:
        """Move what waits in the outbox to the error folder, as gammu-smsd does when the
        network refuses a message (the dummy driver never refuses)."""
        moved = []
        for path in sorted(self.folders["outbox"].glob("OUT*.txt")):
            target = self.folders["error"] / path.name
            path.rename(target)
            moved.append(target)
        return moved
