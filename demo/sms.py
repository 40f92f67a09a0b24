"""``qorgau sms-demo``: an alert raised by SMS while Telegram is down, and a lawyer claiming
it by SMS.

The emulator and the real bot run in one process, with the SMS channel on; gammu-smsd runs
on Gammu's ``dummy`` driver (a phone simulated in a folder) where it is installed, else the
demo writes the files as gammu-smsd writes them (demo/modem.py). Aida (a reporter) and
Marat (an Almaty lawyer) are seeded as registered; Aida confirms her number with /phone and
the code that arrives by SMS, Marat had confirmed his. Then every Bot API call fails: Aida
sends "SOS ..." by SMS; the bot stores the alert, answers her by SMS, and, Marat's card not
getting through, pages him by SMS; he answers "CLAIM 1" and holds the case. When Telegram
is back, his case details arrive there. Every "SMS" line is printed from the files
gammu-smsd transmitted.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.app import Runner
from bot.domain.services import Services
from bot.settings import Settings
from demo.modem import Modem
from emulator import Emulator, Faults, SimUser
from storage.crypto import new_key

AIDA_NUMBER = "+77011234567"
MARAT_NUMBER = "+77029876543"
WAIT = 30.0


class Printer:
    def __init__(self, modem: Modem, names: dict[str, str]) -> None:
        self.t0 = time.monotonic()
        self.modem = modem
        self.names = names
        self.seen: set[str] = set()

    def line(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.2f}s] {text}", flush=True)

    def new_sms(self) -> list[str]:
        """Print the SMS files handed to gammu-smsd since the last look; return their texts."""
        texts = []
        for name, text in self.modem.outgoing():
            if name in self.seen:
                continue
            self.seen.add(name)
            number = name.split("_")[3]
            self.line(f"bot -> SMS to {self.names.get(number, number)}: {text}")
            texts.append(text)
        return texts


async def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the demo waited too long for {what}")
        await asyncio.sleep(0.05)


async def wait_sms(printer: Printer, contains: str) -> str:
    found: list[str] = []

    def check() -> bool:
        found.extend(t for t in printer.new_sms() if contains in t)
        return bool(found)

    await wait_until(check, f"an SMS saying {contains!r}")
    return found[0]


async def play() -> int:
    with tempfile.TemporaryDirectory(prefix="qorgau-sms-demo-") as tmp:
        root = Path(tmp)
        modem = Modem(root / "gammu", keep_sent=True)
        async with Emulator() as emu:
            coordinator = emu.user(first_name="Dana", language_code="en")
            aida = emu.user(first_name="Aida", language_code="en")
            marat = emu.user(first_name="Marat", language_code="en")
            values: dict[str, Any] = {
                "bot_token": emu.token, "telegram_api_url": emu.api_url,
                "database": root / "qorgau.db", "data_key": new_key(),
                "admin_ids": str(coordinator.id), "sms_unreachable_seconds": 3.0,
                **modem.settings()}
            settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
            runner = Runner(settings, poll_timeout=1)
            q = await runner.start()
            modem.start()
            printer = Printer(modem, {AIDA_NUMBER: "Aida", MARAT_NUMBER: "Marat"})
            try:
                print(f"SMS demo: the bot and {modem.what_ran}.\n", flush=True)
                await seed(q.svc, coordinator, aida, marat)
                await confirm(printer, aida)
                await world_without_telegram(printer, emu, modem, runner, aida, marat)
            finally:
                modem.stop()
                await runner.stop()
    return 0


async def seed(svc: Services, coordinator: SimUser, aida: SimUser, marat: SimUser) -> None:
    """Registered people (the first demo shows registration): Marat on call in Almaty with
    a confirmed number and SMS pages as fallback."""
    now = svc.now()
    async with svc.step() as tx:
        await tx.ensure_person(coordinator.id, now, "en", "coordinator")
        await tx.update_person(coordinator.id, now, display_name="Dana", step="done")
        await tx.ensure_person(marat.id, now, "en", "lawyer")
        await tx.update_person(marat.id, now, display_name="Marat", step="done", on_call=1,
                               serves_regions=("almaty",), speaks=("ru", "kk"))
        await tx.ensure_person(aida.id, now, "en", "reporter")
        await tx.update_person(aida.id, now, display_name="Aida", step="done",
                               region="almaty", discreet=0)
        await tx.set_phone(marat.id, MARAT_NUMBER, None, "-", now)
        await tx.update_phone(marat.id, code_hash=None, confirmed_at=now,
                              sms_paging="fallback")


async def confirm(printer: Printer, aida: SimUser) -> None:
    printer.line("— Aida adds her phone number in Telegram —")
    mark = aida.mark()
    printer.line(f"Aida -> bot: /phone {AIDA_NUMBER}")
    await aida.send_text(f"/phone {AIDA_NUMBER}")
    told = await aida.wait_for("We sent a code", after=mark, timeout=WAIT)
    printer.line(f"bot -> Aida: {told.text}")
    code = (await wait_sms(printer, "Your code")).rsplit(" ", 1)[1]
    mark = aida.mark()
    printer.line(f"Aida -> bot: /phone {code}")
    await aida.send_text(f"/phone {code}")
    told = await aida.wait_for("Your number is confirmed", after=mark, timeout=WAIT)
    printer.line(f"bot -> Aida: {told.text}")


async def world_without_telegram(printer: Printer, emu: Emulator, modem: Modem,
                                 runner: Runner, aida: SimUser, marat: SimUser) -> None:
    printer.line("— Telegram goes down: every Bot API call fails from now on —")
    emu.faults = Faults(rate=1.0, kinds=("500",))
    text = "SOS taken to the district police station on Abay street"
    printer.line(f"Aida -> SMS to the bot's number: {text}")
    modem.receive(AIDA_NUMBER, text)
    await wait_sms(printer, "Received (#1)")
    printer.line("(Marat's Telegram card cannot be delivered; "
                 f"{runner.settings.sms_unreachable_seconds:.0f} s later he is paged by SMS)")
    await wait_sms(printer, "Alert #1,")
    printer.line("Marat -> SMS to the bot's number: CLAIM 1")
    modem.receive(MARAT_NUMBER, "CLAIM 1")
    await wait_sms(printer, "Alert #1 is yours")
    printer.line("— Telegram is back —")
    emu.faults = None
    held = await marat.wait_for("You hold case #1", timeout=WAIT)
    printer.line("bot -> Marat (Telegram): " + (held.text or "").splitlines()[0])
    told = await aida.wait_for("has taken your case", timeout=WAIT)
    printer.line(f"bot -> Aida (Telegram): {told.text}")
    printer.line("Done: raised by SMS, paged by SMS, claimed by SMS, while Telegram was down.")
