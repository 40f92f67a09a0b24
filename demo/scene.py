"""``qorgau demo``: the emulator and the real bot in one process, playing a short scene.

Two reporters raise alerts from different cities; an Almaty lawyer acknowledges one; two
lawyers press "Claim" at the same instant and exactly one wins; nobody answers in Astana, so
the escalation wave fires; the coordinator's /open lists both; the first case is closed.
Then a third reporter starts a check-in timer, shares her live location and never taps
"I'm OK": the timer raises an alert by itself (the demo skips the half hour ahead).
Last, the first reporter sets her PINs, is detained again, and is forced to cancel: she types
her duress PIN, her screen shows a plain "Cancelled.", and the alert escalates as DURESS.

Nothing is mocked: the bot polls the emulator over HTTP, and every "bot -> X" line is printed
from the emulator's record of Bot API calls it actually answered, so the output shows what
reached people, paced by Telegram's real flood limits. Locations are never printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import re
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bot.app import Qorgau, Runner
from bot.settings import Settings
from emulator import BotMessage, Call, CallbackAnswer, Emulator, Limits, SimGroup, SimUser
from storage.crypto import new_key

os.environ.setdefault("PTB_TIMEDELTA", "1")

ALMATY = (43.2567, 76.9286)
ASTANA = (51.1282, 71.4307)
SOS = "📍 SOS: send my location"
TEXT_METHODS = frozenset({"sendmessage", "editmessagetext"})
PIN_METHODS = frozenset({"sendvenue", "sendlocation"})
# Anything that looks like a coordinate is masked, should a message ever carry one.
COORDINATE = re.compile(r"-?\d{1,3}\.\d{3,}")
TAG = re.compile(r"<[^>]+>")
WAIT = 20.0  # seconds any single expected message may take under real flood limits

T = TypeVar("T")


# --- printing ---------------------------------------------------------------------------


class Stage:
    """The clock and the names of the scene: every printed line is stamped and names who
    speaks to whom, so the output reads as a conversation."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.names: dict[int, str] = {}
        self.expand: tuple[str, ...] = ("Open alerts", "Your alert #")  # printed in full
        # Prints the bot's messages delivered so far: called before each scripted line so
        # that a reply someone reacted to is always printed before their reaction.
        self.catch_up: Callable[[], None] = lambda: None

    def line(self, text: str) -> None:
        self.catch_up()
        self.emit(text)

    def emit(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:7.2f}s] {private(text)}", flush=True)

    def heading(self, text: str) -> None:
        self.catch_up()
        print(f"\n— {text} —", flush=True)

    def name(self, chat_id: int | None) -> str:
        return self.names.get(chat_id or 0, f"chat {chat_id}")


def private(text: str) -> str:
    """Mask coordinates: the privacy rule holds for the demo's output too."""
    return COORDINATE.sub("(location hidden)", text)


def headline(text: str, edit: bool) -> str:
    """First line of a message, plus the alert line when the first one does not name it and,
    for an edit, the new state: enough to follow the story without flooding it."""
    lines = [ln.strip() for ln in TAG.sub("", html.unescape(text)).splitlines() if ln.strip()]
    if not lines:
        return ""
    parts = [lines[0]]
    if "#" not in lines[0]:
        parts += [ln for ln in lines[1:] if "#" in ln][:1]
    parts += [ln for ln in lines[1:] if ln.startswith("⏱")]  # raised by a missed check-in
    if edit:
        parts += [ln for ln in lines[1:] if ln.startswith(("State:", "Taken by", "Outcome:"))]
    return " · ".join(parts)


def describe(call: Call, stage: Stage) -> str | None:
    """The printed line for one Bot API call the emulator accepted (None: not a message)."""
    low = call.method.lower()
    who = stage.name(call.chat_id)
    if low in PIN_METHODS:
        return f"bot -> {who}: 📍 location pin"
    if low == "deletemessage":
        return f"bot -> {who}: (deletes a message)"
    if low not in TEXT_METHODS:
        return None
    text = str(call.params.get("text", ""))
    if low == "editmessagetext":
        return f"bot -> {who}: (edits its message) {headline(text, edit=True)}"
    if any(text.startswith(p) for p in stage.expand):
        body = "\n".join(" " * 12 + ln for ln in text.splitlines()[1:])
        return f"bot -> {who}: {text.splitlines()[0]}\n{body}"
    return f"bot -> {who}: {headline(text, edit=False)}"


class CallPrinter:
    """Prints the bot's messages from the emulator's call record, in the order they were
    made. A call still in flight holds the cursor, so nothing is skipped or printed twice."""

    def __init__(self, emu: Emulator, stage: Stage) -> None:
        self.emu = emu
        self.stage = stage
        self.cursor = 0

    def flush(self) -> None:
        calls = self.emu.calls
        while self.cursor < len(calls):
            call = calls[self.cursor]
            low = call.method.lower()
            if call.status == 0 and (low in TEXT_METHODS or low in PIN_METHODS):
                return  # in flight; look again shortly
            if call.status == 200:
                text = describe(call, self.stage)
                if text:
                    self.stage.emit(text)
            self.cursor += 1

    async def follow(self, stop: asyncio.Event) -> None:
        """Flush every 20 ms until ``stop``, then once more for the last answers."""
        while not stop.is_set():
            self.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.02)
        self.flush()


class FastForward:
    """The real clock, which the scene can move ahead: a check-in timer runs out without
    the reader waiting half an hour."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def now(self) -> float:
        return time.time() + self.skipped

    def skip(self, seconds: float) -> None:
        self.skipped += seconds


# --- people -------------------------------------------------------------------------------


@dataclass
class Actor:
    """A simulated person who announces each thing they do before doing it."""

    sim: SimUser
    name: str
    stage: Stage

    def say(self, what: str) -> None:
        self.stage.line(f"{self.name} -> bot: {what}")

    async def command(self, command: str, payload: str | None = None) -> None:
        self.say(f"{command} {payload}" if payload else command)
        await self.sim.send_command(command, payload)

    async def text(self, text: str) -> None:
        self.say(f'"{text}"')
        await self.sim.send_text(text)

    async def press(self, label: str, message: BotMessage | None = None) -> CallbackAnswer:
        """Press an inline button; the bot's callback answer is printed when it comes."""
        self.say(f"presses [{label}]")
        answer = await self.sim.press(label, message=message, timeout=WAIT)
        self.heard(answer)
        return answer

    def heard(self, answer: CallbackAnswer) -> None:
        if answer.text:
            self.stage.line(f"bot -> {self.name}: (button answer) {answer.text}")

    async def sos(self, where: tuple[float, float]) -> None:
        self.say(f'taps "{SOS}" (location shared)')
        await self.sim.tap(SOS, location=where)

    async def expect(self, contains: str, after: int = 0) -> BotMessage:
        return await self.sim.wait_for(contains, timeout=WAIT, after=after)


@dataclass
class Cast:
    """Everyone in the scene, registered through the same buttons a person would press."""

    emu: Emulator
    stage: Stage
    coordinator: Actor
    group: SimGroup | None = None
    lawyers: dict[str, Actor] = field(default_factory=dict)
    reporters: dict[str, Actor] = field(default_factory=dict)

    def new(self, name: str) -> Actor:
        sim = self.emu.user(first_name=name, language_code="en")
        self.stage.names[sim.id] = name
        return Actor(sim, name, self.stage)

    async def register_coordinator(self) -> None:
        c = self.coordinator
        await c.command("/start")
        await c.expect("What name should others see?")
        await c.text(c.name)
        await c.expect("Registered as coordinator")

    async def connect_group(self, title: str) -> None:
        group = self.emu.group(title=title)
        self.stage.names[group.id] = title
        self.group = group
        mark = group.mark()
        self.stage.line(f"{self.coordinator.name} -> bot (in {title}): /connect en")
        await group.send_command(self.coordinator.sim, "/connect", "en")  # the demo is in English
        await group.wait_for("receives Qorgau alert notices", after=mark, timeout=WAIT)

    async def invite(self) -> str:
        c = self.coordinator
        mark = c.sim.mark()
        await c.command("/invite", "lawyer")
        msg = await c.expect("https://t.me/", after=mark)
        return (msg.text or "").split("start=")[1].split()[0]

    async def register_lawyer(self, lawyer: Actor, code: str, region: str) -> None:
        lawyer.say("/start <invite code>")  # the code itself stays off the screen
        await lawyer.sim.send_command("/start", code)
        await lawyer.expect("invited as a lawyer")
        await lawyer.text(lawyer.name)
        picker = await lawyer.expect("Which regions do you serve?")
        await lawyer.press(region, message=picker)
        await lawyer.press("Done", message=picker)
        langs = await lawyer.expect("Which languages")
        await lawyer.press("Русский", message=langs)
        await lawyer.press("Done", message=langs)
        await lawyer.expect("Registered as lawyer")
        mark = lawyer.sim.mark()
        await lawyer.command("/oncall")
        await lawyer.expect("You are on call", after=mark)

    async def register_reporter(self, reporter: Actor, region: str) -> None:
        await reporter.command("/start")
        await reporter.expect("What we store")
        await reporter.press("I agree")
        await reporter.expect("What name should lawyers see?")
        await reporter.text(reporter.name)
        await reporter.expect("Where are you based?")
        await reporter.press(region)
        await reporter.expect("May press-freedom groups see")
        await reporter.press("No, region only")  # groups then never see the exact spot
        await reporter.expect("You are registered")
        # Discreet mode (plain words, chat cleared after) is on by default; the scene turns
        # it off so that its texts name the alerts and the lawyers.
        await reporter.press("Turn discreet mode off",
                             message=await reporter.expect("Discreet mode is on"))
        await reporter.expect("Discreet mode is off")


# --- the scene ------------------------------------------------------------------------------


@dataclass
class Scene:
    """The running world and the pause length: steps are spaced so a reader can follow."""

    cast: Cast
    runner: Runner
    speed: float
    clock: FastForward

    async def pause(self, seconds: float = 0.5) -> None:
        await asyncio.sleep(seconds * self.speed)

    @property
    def stage(self) -> Stage:
        return self.cast.stage

    @property
    def q(self) -> Qorgau:
        assert self.runner.q is not None
        return self.runner.q


async def assemble(scene: Scene) -> None:
    """Coordinator, group, three on-call lawyers and two reporters, registered in parallel
    where Telegram would let them (each chat is paced on its own)."""
    cast = scene.cast
    scene.stage.heading("The team and the reporters register")
    await cast.register_coordinator()
    codes = [await cast.invite() for _ in range(3)]
    for name in ("Marat", "Saule", "Yerlan"):
        cast.lawyers[name] = cast.new(name)
    for name in ("Aida", "Bek", "Cara"):
        cast.reporters[name] = cast.new(name)
    lw = cast.lawyers
    await asyncio.gather(
        cast.connect_group("Press Freedom KZ"),
        cast.register_lawyer(lw["Marat"], codes[0], "Almaty"),
        cast.register_lawyer(lw["Saule"], codes[1], "Almaty"),
        cast.register_lawyer(lw["Yerlan"], codes[2], "Astana"),
        cast.register_reporter(cast.reporters["Aida"], "Almaty"),
        cast.register_reporter(cast.reporters["Bek"], "Astana"),
        cast.register_reporter(cast.reporters["Cara"], "Almaty"),
    )


async def raise_alerts(scene: Scene) -> tuple[int, int]:
    """Aida in Almaty and Bek in Astana tap SOS; returns their alert numbers."""
    scene.stage.heading("Two reporters are detained, in Almaty and in Astana")
    aida, bek = scene.cast.reporters["Aida"], scene.cast.reporters["Bek"]
    marks = aida.sim.mark(), bek.sim.mark()
    await aida.sos(ALMATY)
    await scene.pause(0.3)
    await bek.sos(ASTANA)
    got = await asyncio.gather(aida.expect("received and saved", after=marks[0]),
                               bek.expect("received and saved", after=marks[1]))
    return alert_number(got[0]), alert_number(got[1])


def alert_number(msg: BotMessage) -> int:
    return int((msg.text or "").split("#")[1].split()[0])


async def card_of(lawyer: Actor, alert_id: int) -> BotMessage:
    """The lawyer's message carrying this alert's buttons."""
    label = f"Claim the case #{alert_id}"
    return await lawyer.sim.wait_for(predicate=lambda m: label in m.buttons, timeout=WAIT)


async def acknowledge_and_race(scene: Scene, alert_id: int) -> Actor:
    """Marat acknowledges; Marat and Saule press Claim at the same instant; one wins."""
    marat, saule = scene.cast.lawyers["Marat"], scene.cast.lawyers["Saule"]
    scene.stage.heading(f"Almaty: alert #{alert_id} is acknowledged, then claimed twice at once")
    cards = await asyncio.gather(card_of(marat, alert_id), card_of(saule, alert_id))
    await scene.pause()
    await marat.press(f"Acknowledge #{alert_id}", message=cards[0])
    await scene.pause()
    label = f"Claim the case #{alert_id}"
    marat.say(f"presses [{label}]")
    saule.say(f"presses [{label}]  (the same instant)")
    answers = await asyncio.gather(*(law.sim.press(label, message=card, timeout=WAIT)
                                     for law, card in zip((marat, saule), cards, strict=True)))
    for law, answer in zip((marat, saule), answers, strict=True):
        law.heard(answer)
    winner = marat if "is yours" in (answers[0].text or "") else saule
    loser = saule if winner is marat else marat
    scene.stage.line(f"claim race: {winner.name} won; {loser.name} was told someone else "
                     "already took it")
    return winner


async def await_escalation(scene: Scene, alert_id: int) -> None:
    """Nobody in Astana answers: wave 2 must reach the coordinator and every on-call lawyer."""
    scene.stage.heading(f"Astana: nobody answers alert #{alert_id}; the escalation wave fires")
    dana = scene.cast.coordinator

    def wave_two(m: BotMessage) -> bool:
        return "wave 2" in (m.text or "") and f"#{alert_id}" in (m.text or "")

    timeout = WAIT + scene.runner.settings.ack_timeout_seconds
    await dana.sim.wait_for(predicate=wave_two, timeout=timeout)
    await scene.cast.reporters["Bek"].expect("still looking for a lawyer")


async def coordinator_looks(scene: Scene) -> None:
    """/open: the coordinator's overview lists both alerts."""
    scene.stage.heading("The coordinator checks what is open")
    dana = scene.cast.coordinator
    await scene.pause()
    mark = dana.sim.mark()
    await dana.command("/open")
    await dana.expect("Open alerts:", after=mark)


async def close_case(scene: Scene, lawyer: Actor, alert_id: int) -> None:
    """The holder adds a note, closes with a closing note and picks the outcome."""
    scene.stage.heading(f"Case #{alert_id} is worked and closed")
    aida, group = scene.cast.reporters["Aida"], scene.cast.group
    await scene.pause()
    await lawyer.command("/note", f"{alert_id} At the district police station, on my way")
    await aida.expect("Update from your lawyer")
    mark = lawyer.sim.mark()
    await lawyer.command("/close", f"{alert_id} Released without charges")
    choice = await lawyer.expect(f"How did case #{alert_id} end?", after=mark)
    await scene.pause()
    await lawyer.press("released", message=choice)
    await aida.expect(f"Your alert #{alert_id} is closed")
    if group is not None:
        await group.wait_for(f"Notice #{alert_id}: closed.", timeout=WAIT)


async def duress_cancel(scene: Scene) -> int:
    """Aida sets a PIN and a duress PIN; detained again, she is made to cancel and types the
    duress one. Her chat shows what a real cancel shows; everyone on call is paged again."""
    aida, dana = scene.cast.reporters["Aida"], scene.cast.coordinator
    scene.stage.heading("Aida sets her PINs; detained again, she is forced to cancel")
    for command_or_pin, expect in (("/pin", "Send a new PIN"), ("4821", "Now send a second"),
                                   ("90357", "Saved.")):
        mark = aida.sim.mark()
        if command_or_pin.startswith("/"):
            await aida.command(command_or_pin)
        else:
            aida.say("types a PIN (never printed; the bot deletes the message)")
            await aida.sim.send_text(command_or_pin)
        await aida.expect(expect, after=mark)
    await scene.pause()
    mark = aida.sim.mark()
    await aida.sos(ALMATY)
    alert_id = alert_number(await aida.expect("received and saved", after=mark))
    await card_of(scene.cast.lawyers["Marat"], alert_id)
    await scene.pause()
    mark = aida.sim.mark()
    await aida.text("✅ I'm safe")
    await aida.expect("Send your PIN", after=mark)
    aida.say("types her duress PIN under pressure (never printed)")
    mark = aida.sim.mark()
    await aida.sim.send_text("90357")
    await aida.expect("Cancelled.", after=mark)
    await dana.sim.wait_for(predicate=lambda m: "DURESS" in (m.text or "")
                            and f"#{alert_id}" in (m.text or ""), timeout=WAIT)
    scene.stage.line(f"duress: Aida's screen shows the same \"Cancelled.\" as a real PIN; "
                     f"alert #{alert_id} stays open and was paged again as DURESS")
    return alert_id


async def missed_checkin(scene: Scene, bek_alert: int) -> None:
    """Yerlan takes Bek's case. Cara starts a 30-minute check-in and shares her live
    location; she never taps "I'm OK", so the timer raises an alert for her by itself,
    paged like any other."""
    yerlan, cara = scene.cast.lawyers["Yerlan"], scene.cast.reporters["Cara"]
    marat = scene.cast.lawyers["Marat"]
    scene.stage.heading(f"Astana: Yerlan takes case #{bek_alert}")
    await yerlan.press(f"Claim the case #{bek_alert}", message=await card_of(yerlan, bek_alert))
    scene.stage.heading("A check-in nobody answers raises an alert by itself")
    await cara.command("/checkin", "30m")
    await cara.expect("Timer set until")
    cara.say("shares her live location for 8 hours")
    await cara.sim.send_location(*ALMATY, live_period=8 * 3600)
    await cara.expect("kept with your timer")
    await scene.pause()
    scene.stage.line("(the demo skips 20 minutes ahead)")
    scene.clock.skip(20 * 60)
    await cara.expect("left on your timer")
    scene.stage.line("(Cara does not answer; the demo skips 10 more minutes)")
    scene.clock.skip(10 * 60)
    await cara.expect("Time is up")
    card = await marat.sim.wait_for(predicate=lambda m: "missed a check-in" in (m.text or "")
                                    and bool(m.buttons), timeout=WAIT)
    label = next(b for b in card.buttons if b.startswith("Acknowledge #"))
    await marat.press(label, message=card)
    await marat.sim.wait_for(predicate=lambda m: m.method == "sendLocation", timeout=WAIT)


async def summarize(scene: Scene) -> None:
    """What the database holds and what crossed the wire, read after the outbox drained."""
    drained = await scene.q.worker.drain(WAIT)
    stage, emu = scene.stage, scene.cast.emu
    stage.heading("Summary")
    async with scene.runner.storage.transaction() as tx:
        open_ids = {a.id for a in await tx.open_alerts()}
        alerts = sorted(await tx.alerts_since(0.0), key=lambda a: a.id)
    for a in alerts:
        holder = stage.name(a.claimed_by) if a.claimed_by else "nobody"
        extra = f", outcome: {a.outcome}" if a.outcome else f", wave {a.wave}"
        extra += ", DURESS" if a.duress_at is not None else ""
        where = "open" if a.id in open_ids else a.state
        stage.line(f"database: alert #{a.id} ({a.region}) {where}, held by {holder}{extra}")
    if scene.cast.group is not None:
        notices = [m for m in scene.cast.group.inbox
                   if "Alert #" in (m.text or "") or "Notice #" in (m.text or "")]
        edits = sum(m.edit_count for m in notices)
        stage.line(f"group: {len(notices)} alert notices, kept current by {edits} edits "
                   "in place")
    stats = emu.stats
    stage.line(f"emulator: {stats['sent_messages']} messages sent, {stats['edits']} edits, "
               f"{stats['http_429']} HTTP 429s; outbox drained: {'yes' if drained else 'no'}")


# --- running it -----------------------------------------------------------------------------


def demo_settings(emu: Emulator, db: Path, coordinator_id: int, speed: float) -> Settings:
    """Real pacing, the emulator's own token, and an escalation short enough to watch (but
    never under 3 s, so the Almaty alert is acknowledged before its own wave 2 is due)."""
    values: dict[str, Any] = {
        "bot_token": emu.token, "telegram_api_url": emu.api_url, "database": db,
        "admin_ids": str(coordinator_id), "ack_timeout_seconds": max(3.0, 4.0 * speed),
        "repeat_seconds": 300.0, "log_level": "WARNING",
        "data_key": new_key(),  # a throwaway key for the throwaway database
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def with_printer(emu: Emulator, stage: Stage, body: Callable[[], Awaitable[T]]) -> T:
    """Run ``body`` while the bot's messages are printed; flush the last ones at the end."""
    stop = asyncio.Event()
    printer = CallPrinter(emu, stage)
    stage.catch_up = printer.flush
    task = asyncio.create_task(printer.follow(stop), name="demo-printer")
    try:
        return await body()
    finally:
        stop.set()
        await task


async def play_scene(scene: Scene) -> None:
    """The story in order; each step waits for what the previous one should have caused."""
    await assemble(scene)
    aida_alert, bek_alert = await raise_alerts(scene)
    winner = await acknowledge_and_race(scene, aida_alert)
    await await_escalation(scene, bek_alert)
    await coordinator_looks(scene)
    await close_case(scene, winner, aida_alert)
    await missed_checkin(scene, bek_alert)
    await duress_cancel(scene)
    await summarize(scene)


@contextlib.contextmanager
def temporary_database() -> Iterator[Path]:
    """A throwaway SQLite file: the demo never touches a real database."""
    with tempfile.TemporaryDirectory(prefix="qorgau-demo-") as tmp:
        yield Path(tmp) / "demo.db"


async def play(speed: float = 1.0) -> int:
    """Play the scene once and clean up; 0 if it ran to the end, 1 if a step never came."""
    speed = max(0.05, speed)
    stage = Stage()
    print("Qorgau demo: the bot and a local Telegram emulator in one process; "
          "no token, no network. Locations are never printed.", flush=True)
    with temporary_database() as db:
        async with Emulator(limits=Limits()) as emu:
            cast = Cast(emu, stage, coordinator=Actor(emu.user("Dana"), "Dana", stage))
            stage.names[cast.coordinator.sim.id] = "Dana"
            clock = FastForward()
            runner = Runner(demo_settings(emu, db, cast.coordinator.sim.id, speed),
                            clock=clock, poll_timeout=1)
            scene = Scene(cast, runner, speed, clock)
            try:
                await runner.start()
                await with_printer(emu, stage, lambda: play_scene(scene))
            except (TimeoutError, LookupError) as exc:
                print(private(f"demo stopped: {exc}"), flush=True)
                return 1
            finally:
                await runner.stop()
    print(f"\nDone in {time.monotonic() - stage.t0:.1f}s.", flush=True)
    return 0
