"""``qorgau demo``: the emulator and the real bot in one process, telling a short story.

The team and three reporters register (told in a line each). Two reporters raise alerts
from different cities; an Almaty lawyer acknowledges one; two lawyers press "Claim" at the
same instant and exactly one wins; nobody answers in Astana, so the escalation wave fires and
a lawyer there takes it; the coordinator looks at what is open (the place for the
coordinators' board); the first case is worked and closed. A third reporter starts a
check-in timer, shares her live location and never taps "I'm OK": the timer raises an alert
by itself (the demo skips the half hour ahead). The first reporter sets her PINs, is
detained again and is forced to cancel: she types her duress PIN, her screen shows a plain
"Cancelled.", and the alert escalates. Every alert ends closed; a summary gives the times.

Nothing is mocked: the bot polls the emulator over HTTP, and every message block is printed
from the emulator's record of Bot API calls it actually answered, whole, with its buttons
and under the name of who sees it, paced by Telegram's real flood limits. Places, PINs and
invite codes are never printed; all of it fits an 80-column terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import re
import signal
import tempfile
import time
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bot.app import Qorgau, Runner
from bot.settings import Settings
from demo.board_scene import Board, pin_board
from emulator import BotMessage, Call, CallbackAnswer, Emulator, Limits, SimGroup, SimUser
from emulator.markup import button_label
from storage.crypto import new_key

os.environ.setdefault("PTB_TIMEDELTA", "1")

ALMATY = (43.2567, 76.9286)
ASTANA = (51.1282, 71.4307)
SOS = "📍 SOS: send my location"
TEXT_METHODS = frozenset({"sendmessage", "editmessagetext"})
PIN_METHODS = frozenset({"sendvenue", "sendlocation"})
# Anything that looks like a coordinate is masked, should a message ever carry one.
COORDINATE = re.compile(r"-?\d{1,3}\.\d{3,}")
POSITION = re.compile(r"Position: -?\d{1,3}\.\d+, -?\d{1,3}\.\d+")
TAG = re.compile(r"<[^>]+>")
INVITE = re.compile(r"start=\S+")
WAIT = 20.0  # seconds any single expected message may take under real flood limits

T = TypeVar("T")


# --- printing ---------------------------------------------------------------------------

WIDTH = 80  # the story reads in an 80-column terminal
GUTTER = "  │ "


def columns(text: str) -> int:
    """Terminal columns a line takes: wide characters (most emoji, CJK) take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else
               0 if unicodedata.combining(ch) or ch in "\ufe0f\u200d" else 1 for ch in text)


def wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap by terminal columns; a word wider than the line is cut."""
    out: list[str] = []
    for whole in text.splitlines() or [""]:
        paragraph = whole.lstrip(" ")
        indent = whole[:len(whole) - len(paragraph)]
        if indent:  # an indented line stays indented, on every line it wraps to
            out += [indent + part for part in wrap(paragraph, width - len(indent))]
            continue
        line = ""
        for word in paragraph.split(" "):
            while columns(word) > width:  # a long link: cut it where it must be cut
                room = width - columns(line) - (1 if line else 0)
                if room < 8 and line:
                    out.append(line)
                    line, room = "", width
                cut = 0
                while cut < len(word) and columns(word[:cut + 1]) <= room:
                    cut += 1
                out.append(f"{line} {word[:cut]}".strip() if line else word[:cut])
                line, word = "", word[cut:]
            candidate = f"{line} {word}" if line else word
            if columns(candidate) <= width:
                line = candidate
            else:
                out.append(line)
                line = word
        out.append(line)
    return out


class Stage:
    """Who is who, and where the story is: prints the people's actions, the headings and
    what the bot shows each person, as labelled blocks that fit 80 columns."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet  # while registering, and in the playground: nothing narrated
        self.t0 = time.monotonic()
        self.names: dict[int, str] = {}
        self.roles: dict[int, str] = {}
        self.scenes: list[str] = []
        # The messages printed whole in this scene, and to whom: a copy is one line.
        self.printed: dict[tuple[str, ...], str] = {}
        # Prints the bot's messages delivered so far: called before each scripted line so
        # that a reply someone reacted to is always printed before their reaction.
        self.catch_up: Callable[[], None] = lambda: None

    def out(self, text: str = "") -> None:
        if not self.quiet:
            print(private(text).rstrip().replace("\u00a0", " "), flush=True)

    def line(self, text: str) -> None:
        """A person's action or the narrator's remark, wrapped to the page."""
        self.catch_up()
        for n, part in enumerate(wrap(private(text), WIDTH - 4)):
            self.out(("▸ " if n == 0 else "  ") + part)

    def heading(self, text: str) -> None:
        self.catch_up()
        self.scenes.append(text)
        self.printed = {}
        *first, last = wrap(f"━━ {len(self.scenes)}. {text}", WIDTH - 4)
        self.out()
        for part in first:
            self.out(part)
        self.out(f"{last} " + "━" * max(3, WIDTH - 1 - columns(last)))

    def who(self, chat_id: int | None) -> str:
        name = self.names.get(chat_id or 0, f"chat {chat_id}")
        role = self.roles.get(chat_id or 0)
        return f"{name} ({role})" if role else name

    def block(self, chat_ids: list[int | None], what: str, body: list[str]) -> None:
        """One message as its readers see it: a label naming them, then the whole text."""
        people = ", ".join(self.who(c) for c in chat_ids)
        first = self.printed.get(tuple(body))
        if first is not None and body:
            self.note(f"{people}: the same message as {first} above")
            return
        self.printed[tuple(body)] = self.names.get(chat_ids[0] or 0, "")
        for n, part in enumerate(wrap(f"{people} · {what}", WIDTH - 5)):
            self.out(("  ┌ " if n == 0 else GUTTER) + part)
        for line in body:
            for part in wrap(line, WIDTH - columns(GUTTER)):
                self.out(GUTTER + part)
        self.out("  └")

    def note(self, text: str) -> None:
        """A one-line event without a message body (a pin, a deletion, a pop-up)."""
        for n, part in enumerate(wrap(text, WIDTH - 4)):
            self.out(("  ↳ " if n == 0 else "    ") + part)


def private(text: str) -> str:
    """Mask coordinates and invite codes: the privacy rule holds for the demo's output too."""
    text = POSITION.sub("Position: (two numbers, not printed here)", text)
    return INVITE.sub("start=<single-use code>", COORDINATE.sub("(location hidden)", text))


def plain(text: str) -> str:
    return TAG.sub("", html.unescape(text)) if "<" in text else html.unescape(text)


def unbroken(label: str) -> str:
    """A button's label is never split across lines (no-break spaces)."""
    return label.replace(" ", "\u00a0")


def buttons(markup: Any) -> list[str]:
    """The buttons under a message, one printed line per row, as [label] [label]."""
    if not isinstance(markup, dict):
        return []
    if markup.get("inline_keyboard"):
        return ["  ".join(f"[{unbroken(b.get('text', ''))}]" for b in row)
                for row in markup["inline_keyboard"]]
    if markup.get("keyboard"):
        rows = ["  ".join(f"[{unbroken(button_label(b))}]" for b in row)
                for row in markup["keyboard"]]
        return ["keyboard: " + "  ".join(rows)]
    if markup.get("remove_keyboard"):
        return ["(keyboard removed)"]
    return []


def lines_of(call: Call) -> tuple[int, list[str]] | None:
    """(message id, what the person sees) for a sent or edited text: text and buttons."""
    if call.method.lower() not in TEXT_METHODS:
        return None
    result = call.result if isinstance(call.result, dict) else {}
    text = str(result.get("text") or plain(str(call.params.get("text", ""))))
    mid = int(result.get("message_id") or call.params.get("message_id") or 0)
    return mid, [*text.splitlines(), *buttons(call.params.get("reply_markup"))]


class CallPrinter:
    """Prints the bot's messages from the emulator's call record, in the order they were
    made, whole, merging one message sent alike to several people. A call still in flight
    holds the cursor, so nothing is skipped or printed twice."""

    def __init__(self, emu: Emulator, stage: Stage) -> None:
        self.emu = emu
        self.stage = stage
        self.cursor = 0
        self.seen: dict[tuple[int, int], list[str]] = {}  # what each message shows now

    def flush(self) -> None:
        calls = self.emu.calls
        ready: list[Call] = []
        while self.cursor < len(calls):
            call = calls[self.cursor]
            low = call.method.lower()
            if call.status == 0 and (low in TEXT_METHODS or low in PIN_METHODS
                                     or low == "deletemessage"):
                break  # in flight; look again shortly
            if call.status == 200:
                ready.append(call)
            self.cursor += 1
        if not self.stage.quiet:
            self.show(ready)

    def body_of(self, call: Call) -> tuple[str, tuple[str, ...]] | None:
        """(what happened, the lines to print): a new message whole; an edit of a message
        printed before as one line of what changed (the rest was printed above)."""
        shown = lines_of(call)
        if shown is None:
            return None
        mid, lines = shown
        key = (call.chat_id or 0, mid)
        before, self.seen[key] = self.seen.get(key), lines
        if call.method.lower() != "editmessagetext":
            return "new message", tuple(lines)
        if before is None:
            return "a message edited in place", tuple(lines)
        changed = [ln for ln in lines if ln not in before]
        if not any(ln.startswith(("[", "keyboard:")) for ln in lines) and any(
                ln.startswith("[") for ln in before):
            changed.append("its buttons are gone")
        name = next((ln for ln in before if ln.startswith(("🚨", "Notice #"))),
                    before[0] if before else "")
        return "edit", (name, *changed)

    def show(self, calls: list[Call]) -> None:
        """Print a batch: one block per distinct message (naming everyone who got it),
        then one line for the map pins and one per chat for deletions."""
        stage = self.stage
        blocks: dict[tuple[str, tuple[str, ...]], list[int | None]] = {}
        pins: list[int | None] = []
        deletes: dict[int | None, int] = {}
        for call in calls:
            low = call.method.lower()
            shown = self.body_of(call)
            if shown is not None:
                blocks.setdefault(shown, []).append(call.chat_id)
            elif low in PIN_METHODS:
                pins.append(call.chat_id)
            elif low == "deletemessage":
                deletes[call.chat_id] = deletes.get(call.chat_id, 0) + 1
        for (what, body), chats in blocks.items():
            if what == "edit":
                people = ", ".join(stage.who(c) for c in chats)
                change = " · ".join(body[1:]) or "(no visible change)"
                stage.note(f"{people}: \"{body[0]}\" is edited in place → {change}")
            else:
                stage.block(chats, what, list(body))
        if pins:
            people = ", ".join(stage.who(c) for c in pins)
            stage.note(f"{people}: a map pin of the reporter's place (not printed here)")
        for chat_id, count in deletes.items():
            stage.note(f"the bot deletes {count} message{'s' if count > 1 else ''} in "
                       f"{stage.names.get(chat_id or 0)}'s chat")

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
        self.stage.line(f"{self.name} {what}")

    async def command(self, command: str, payload: str | None = None) -> None:
        self.say(f"sends {command} {payload}" if payload else f"sends {command}")
        await self.sim.send_command(command, payload)

    async def text(self, text: str) -> None:
        self.say(f'writes "{text}"')
        await self.sim.send_text(text)

    async def press(self, label: str, message: BotMessage | None = None) -> CallbackAnswer:
        """Press an inline button; the bot's callback answer is printed when it comes."""
        self.say(f"presses [{label}]")
        answer = await self.sim.press(label, message=message, timeout=WAIT)
        self.heard(answer)
        return answer

    def heard(self, answer: CallbackAnswer) -> None:
        if answer.text:
            self.stage.catch_up()
            self.stage.note(f"{self.name} sees a pop-up: {answer.text}")

    async def sos(self, where: tuple[float, float]) -> float:
        """Tap the SOS button (the phone shares its location); returns when, for the
        summary's times."""
        self.say(f"taps [{SOS}]: the phone shares the location")
        tapped = time.monotonic()
        await self.sim.tap(SOS, location=where)
        return tapped

    async def expect(self, contains: str, after: int = 0) -> BotMessage:
        return await self.sim.wait_for(contains, timeout=WAIT, after=after)


@dataclass
class Cast:
    """Everyone in the scene, registered through the same buttons a person would press."""

    emu: Emulator
    stage: Stage
    coordinator: Actor
    group: SimGroup | None = None
    groups: list[SimGroup] = field(default_factory=list)
    lawyers: dict[str, Actor] = field(default_factory=dict)
    reporters: dict[str, Actor] = field(default_factory=dict)

    def new(self, name: str, role: str) -> Actor:
        sim = self.emu.user(first_name=name, language_code="en")
        self.stage.names[sim.id] = name
        self.stage.roles[sim.id] = role
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
        self.stage.roles[group.id] = "group"
        self.group = group
        await self.connect(group)

    async def connect(self, group: SimGroup) -> None:
        """The coordinator sends /connect in the group."""
        mark = group.mark()
        self.stage.line(f"{self.coordinator.name} sends /connect en in {group.title}")
        # "en": the group's language, so the notices match the English narration
        await group.send_command(self.coordinator.sim, "/connect", "en")
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
    taps: dict[int, float] = field(default_factory=dict)  # alert id -> when it was raised

    async def pause(self, seconds: float = 0.5) -> None:
        await asyncio.sleep(seconds * self.speed)

    async def settle(self) -> None:
        """Wait until every queued message went out, and print them."""
        await self.q.worker.drain(WAIT)
        await asyncio.sleep(0.05)  # the last answers' HTTP round trips
        self.stage.catch_up()

    @property
    def stage(self) -> Stage:
        return self.cast.stage

    @property
    def q(self) -> Qorgau:
        assert self.runner.q is not None
        return self.runner.q


async def assemble(scene: Scene) -> Board:
    """Coordinator, group, three on-call lawyers and three reporters, registered in parallel
    where Telegram would let them (each chat is paced on its own), told in one line each:
    the registration dialogues are not the story."""
    cast, stage = scene.cast, scene.stage
    stage.heading("The team and the reporters register")
    stage.quiet = True
    try:
        await cast.register_coordinator()
        codes = [await cast.invite() for _ in range(3)]
        for name in ("Marat", "Saule", "Yerlan"):
            cast.lawyers[name] = cast.new(name, "lawyer")
        for name in ("Aida", "Bek", "Cara"):
            cast.reporters[name] = cast.new(name, "reporter")
        lw, rp = cast.lawyers, cast.reporters
        await asyncio.gather(
            cast.connect_group("Press Freedom KZ"),
            cast.register_lawyer(lw["Marat"], codes[0], "Almaty"),
            cast.register_lawyer(lw["Saule"], codes[1], "Almaty"),
            cast.register_lawyer(lw["Yerlan"], codes[2], "Astana"),
            cast.register_reporter(rp["Aida"], "Almaty"),
            cast.register_reporter(rp["Bek"], "Astana"),
            cast.register_reporter(rp["Cara"], "Almaty"),
        )
        board = await pin_board(scene)  # the coordinators' live board (demo/board_scene.py)
        await scene.q.worker.drain(WAIT)
        stage.catch_up()  # what registering printed is skipped, not shown later
    finally:
        stage.quiet = False
    for who, role, what in (
        ("Dana", "coordinator", "her id is the bot's admin; invites the lawyers"),
        ("Marat", "lawyer", "joins by invite link; Almaty; goes on call"),
        ("Saule", "lawyer", "joins by invite link; Almaty; goes on call"),
        ("Yerlan", "lawyer", "joins by invite link; Astana; goes on call"),
        ("Aida", "reporter", "agrees to the terms; based in Almaty"),
        ("Bek", "reporter", "agrees to the terms; based in Astana"),
        ("Cara", "reporter", "agrees to the terms; based in Almaty"),
        ("Press Freedom KZ", "group", "Dana adds the bot, sends /connect en"),
        ("Coordinators", "group", "Dana sends /board: a pinned live board"),
    ):
        stage.out(f"  {who:<17}{role:<12} {what}")
    for part in wrap("(The reporters chose \"region only\" for the groups and turned "
                     "discreet mode off, so their chats name alerts and lawyers; see the "
                     "README, \"Discreet mode\".)", WIDTH - 2):
        stage.out("  " + part)
    return board


async def raise_alerts(scene: Scene) -> tuple[int, int]:
    """Aida in Almaty and Bek in Astana tap SOS; returns their alert numbers."""
    scene.stage.heading("Aida is detained in Almaty, Bek in Astana; both tap SOS")
    aida, bek = scene.cast.reporters["Aida"], scene.cast.reporters["Bek"]
    marks = aida.sim.mark(), bek.sim.mark()
    tapped = await aida.sos(ALMATY)
    first = alert_number(await aida.expect("received and saved", after=marks[0]))
    scene.taps[first] = tapped
    await card_of(scene.cast.lawyers["Marat"], first)
    await scene.pause(0.3)
    tapped = await bek.sos(ASTANA)
    second = alert_number(await bek.expect("received and saved", after=marks[1]))
    scene.taps[second] = tapped
    await card_of(scene.cast.lawyers["Yerlan"], second)
    return first, second


def alert_number(msg: BotMessage) -> int:
    return int((msg.text or "").split("#")[1].split()[0])


async def card_of(lawyer: Actor, alert_id: int) -> BotMessage:
    """The lawyer's message carrying this alert's buttons."""
    label = f"Claim the case #{alert_id}"
    return await lawyer.sim.wait_for(predicate=lambda m: label in m.buttons, timeout=WAIT)


async def acknowledge_and_race(scene: Scene, alert_id: int) -> Actor:
    """Marat acknowledges; Marat and Saule press Claim at the same instant; one wins."""
    marat, saule = scene.cast.lawyers["Marat"], scene.cast.lawyers["Saule"]
    scene.stage.heading(f"Almaty: Marat acknowledges #{alert_id}; he and Saule press "
                        "Claim at once")
    cards = await asyncio.gather(card_of(marat, alert_id), card_of(saule, alert_id))
    await scene.pause()
    await marat.press(f"Acknowledge #{alert_id}", message=cards[0])
    await scene.pause()
    label = f"Claim the case #{alert_id}"
    marat.say(f"presses [{label}]")
    saule.say(f"presses [{label}] at the same instant")
    answers = await asyncio.gather(*(law.sim.press(label, message=card, timeout=WAIT)
                                     for law, card in zip((marat, saule), cards, strict=True)))
    for law, answer in zip((marat, saule), answers, strict=True):
        law.heard(answer)
    winner = marat if "is yours" in (answers[0].text or "") else saule
    loser = saule if winner is marat else marat
    await scene.cast.reporters["Aida"].expect(f"has taken your case (alert #{alert_id})")
    scene.stage.line(f"Only one claim can win: {winner.name} holds the case; {loser.name} is "
                     "told someone else already took it.")
    return winner


async def escalate_and_take(scene: Scene, alert_id: int) -> None:
    """Nobody in Astana answers: wave 2 reaches the coordinator and every on-call lawyer;
    then Yerlan takes the case."""
    stage = scene.stage
    stage.heading(f"Astana: nobody answers #{alert_id}; wave 2 pages all; Yerlan takes it")
    dana, yerlan = scene.cast.coordinator, scene.cast.lawyers["Yerlan"]

    def wave_two(m: BotMessage) -> bool:
        return "wave 2" in (m.text or "") and f"#{alert_id}" in (m.text or "")

    seconds = scene.runner.settings.ack_timeout_seconds
    stage.line(f"(nobody presses anything for {seconds:.0f} s, the demo's answer time)")
    await dana.sim.wait_for(predicate=wave_two, timeout=WAIT + seconds)
    await scene.cast.reporters["Bek"].expect("still looking for a lawyer")
    await scene.pause()
    await yerlan.press(f"Claim the case #{alert_id}", message=await card_of(yerlan, alert_id))
    await scene.cast.reporters["Bek"].expect(f"has taken your case (alert #{alert_id})")


async def coordinators_board(scene: Scene, board: Board) -> None:
    """The coordinators' view of what is open: the live board pinned in their group (edited
    in place as alerts arrived, were acknowledged and claimed: the "edited in place" lines
    above), then Dana's own /open."""
    scene.stage.heading("Coordinators' board: Dana checks what is open")
    board.show_whole()
    dana = scene.cast.coordinator
    await scene.pause()
    mark = dana.sim.mark()
    await dana.command("/open")
    await dana.expect("Open alerts:", after=mark)


async def close_case(scene: Scene, lawyer: Actor, alert_id: int, note: str, outcome: str,
                     reporter: Actor | None = None) -> None:
    """The holder closes with a closing note and picks the outcome from the buttons."""
    group = scene.cast.group
    mark = lawyer.sim.mark()
    await lawyer.command("/close", f"{alert_id} {note}")
    choice = await lawyer.expect(f"How did case #{alert_id} end?", after=mark)
    await scene.pause()
    await lawyer.press(outcome, message=choice)
    if reporter is not None:
        await reporter.expect(f"Your alert #{alert_id} is closed")
    if group is not None:
        await group.wait_for(f"Notice #{alert_id}: closed.", timeout=WAIT)


async def work_case(scene: Scene, lawyer: Actor, alert_id: int) -> None:
    """The holder updates the reporter, then closes the case."""
    scene.stage.heading(f"{lawyer.name} updates Aida and closes case #{alert_id}")
    aida = scene.cast.reporters["Aida"]
    await scene.pause()
    await lawyer.command("/note", f"{alert_id} At the district police station, on my way")
    await aida.expect("Update from your lawyer")
    await close_case(scene, lawyer, alert_id, "Released without charges", "released", aida)


async def missed_checkin(scene: Scene) -> int:
    """Cara starts a 30-minute check-in and shares her live location; she never taps
    "I'm OK", so the timer raises an alert for her by itself, paged like any other."""
    cara, marat = scene.cast.reporters["Cara"], scene.cast.lawyers["Marat"]
    stage = scene.stage
    stage.heading("Cara's check-in timer runs out: it raises an alert by itself")
    await cara.command("/checkin", "30m")
    await cara.expect("Timer set until")
    cara.say("shares her live location for 8 hours")
    await cara.sim.send_location(*ALMATY, live_period=8 * 3600)
    await cara.expect("kept with your timer")
    await scene.pause()
    stage.line("(the demo skips 20 minutes ahead)")
    scene.clock.skip(20 * 60)
    await cara.expect("left on your timer")
    stage.line("(Cara does not answer; the demo skips 10 more minutes)")
    scene.clock.skip(10 * 60)
    ran_out = time.monotonic()  # the timer is due from now: the summary counts from here
    await cara.expect("Time is up")
    card = await marat.sim.wait_for(predicate=lambda m: "missed a check-in" in (m.text or "")
                                    and bool(m.buttons), timeout=WAIT)
    alert_id = int(next(b for b in card.buttons if b.startswith("Claim the case #"))
                   .split("#")[1])
    scene.taps[alert_id] = ran_out
    await scene.pause()
    await marat.press(f"Claim the case #{alert_id}", message=card)
    await marat.sim.wait_for(predicate=lambda m: m.method == "sendLocation", timeout=WAIT)
    await scene.settle()
    await close_case(scene, marat, alert_id, "Phone battery died; she is fine", "other")
    return alert_id


async def duress_cancel(scene: Scene) -> int:
    """Aida sets a PIN and a duress PIN; detained again, she is made to cancel and types the
    duress one. Her chat shows what a real cancel shows; everyone on call is paged again."""
    aida, dana = scene.cast.reporters["Aida"], scene.cast.coordinator
    scene.stage.heading("Aida, detained again, is forced to cancel: the duress PIN")
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
    tapped = await aida.sos(ALMATY)
    alert_id = alert_number(await aida.expect("received and saved", after=mark))
    scene.taps[alert_id] = tapped
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
    scene.stage.line(f"Aida's screen shows the same \"Cancelled.\" as her real PIN would; "
                     f"alert #{alert_id} stays open and everyone on call is paged again.")
    return alert_id


async def close_the_rest(scene: Scene, bek_alert: int, duress_alert: int) -> None:
    """Every alert of the story ends closed: Yerlan's case and Aida's duress case."""
    scene.stage.heading(f"Every alert ends closed: #{bek_alert} by Yerlan, #{duress_alert} by "
                        "Saule")
    yerlan, saule = scene.cast.lawyers["Yerlan"], scene.cast.lawyers["Saule"]
    await close_case(scene, yerlan, bek_alert, "Fined and released", "fined",
                     scene.cast.reporters["Bek"])
    await scene.pause()
    await saule.press(f"Claim the case #{duress_alert}",
                      message=await card_of(saule, duress_alert))
    await close_case(scene, saule, duress_alert, "Released after two hours", "released")


def first_page(emu: Emulator, stage: Stage, alert_id: int) -> float | None:
    """When the first lawyer's card for this alert went out (monotonic)."""
    for call in emu.calls:
        if (call.status == 200 and call.method.lower() == "sendmessage"
                and stage.roles.get(call.chat_id or 0) == "lawyer"
                and f"#{alert_id}" in str(call.params.get("text", ""))):
            return call.time
    return None


async def summarize(scene: Scene) -> None:
    """Times and states from the database and the wire, read after the outbox drained."""
    drained = await scene.q.worker.drain(WAIT)
    stage, emu = scene.stage, scene.cast.emu
    stage.heading("Summary")
    async with scene.runner.storage.transaction() as tx:
        still_open = len(await tx.open_alerts())
        alerts = sorted(await tx.alerts_since(0.0), key=lambda a: a.id)
    stage.out("  Times: from the SOS tap (for #3, from the moment its timer ran out) to the\n"
              "  first lawyer's card, and from the alert to the claim.")
    stage.out(f"  {'alert':<7}{'region':<9}{'→ 1st lawyer':<14}{'→ claimed':<11}"
              f"{'held by':<9}outcome")
    for a in alerts:
        paged = first_page(emu, stage, a.id)
        tapped = scene.taps.get(a.id)
        to_lawyer = f"{paged - tapped:.2f} s" if paged and tapped else "—"
        to_claim = f"{a.claimed_at - a.created_at:.1f} s" if a.claimed_at else "—"
        holder = stage.names.get(a.claimed_by or 0, "nobody")
        outcome = (a.outcome or a.state) + (", DURESS" if a.duress_at is not None else "")
        region = (a.region or "?").capitalize()
        stage.out(f"  #{a.id:<6}{region:<9}{to_lawyer:<14}{to_claim:<11}"
                  f"{holder:<9}{outcome}")
    stage.out(f"  Alerts still open: {still_open} of {len(alerts)}.")
    if scene.cast.group is not None:
        notices = [m for m in scene.cast.group.inbox
                   if "Alert #" in (m.text or "") or "Notice #" in (m.text or "")]
        edits = sum(m.edit_count for m in notices)
        stage.out(f"  The group got {len(notices)} notices, kept current by {edits} edits "
                  "in place.")
    stats = emu.stats
    stage.out(f"  The emulator answered {stats['sent_messages']} messages and "
              f"{stats['edits']} edits, {stats['http_429']} refused for flood limits;\n"
              f"  outbox drained: {'yes' if drained else 'no'}.")
    stage.out("  Try it yourself: `qorgau playground` shows every phone side by side.")


# --- running it -----------------------------------------------------------------------------


def demo_settings(emu: Emulator, db: Path, coordinator_id: int, speed: float,
                  ack_seconds: float | None = None) -> Settings:
    """Real pacing, the emulator's own token, and an escalation short enough to watch (but
    never under 10 s, so that Astana's wave 2 comes in its own scene, after the Almaty race,
    even on a busy machine)."""
    values: dict[str, Any] = {
        "bot_token": emu.token, "telegram_api_url": emu.api_url, "database": db,
        "admin_ids": str(coordinator_id),
        "ack_timeout_seconds": ack_seconds or max(10.0, 10.0 * speed),
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
    """The story in order; each step waits for what the previous one should have caused,
    and each scene's messages are all printed before the next heading."""
    board = await assemble(scene)
    aida_alert, bek_alert = await raise_alerts(scene)
    await board.shows("🔴 Waiting: 2")
    await scene.settle()
    winner = await acknowledge_and_race(scene, aida_alert)
    await scene.settle()
    await escalate_and_take(scene, bek_alert)
    await board.shows("🟢 Held: 2")
    await scene.settle()
    await coordinators_board(scene, board)
    await scene.settle()
    await work_case(scene, winner, aida_alert)
    await scene.settle()
    await missed_checkin(scene)
    await scene.settle()
    duress_alert = await duress_cancel(scene)
    await scene.settle()
    await close_the_rest(scene, bek_alert, duress_alert)
    await summarize(scene)


@contextlib.contextmanager
def temporary_database() -> Iterator[Path]:
    """A throwaway SQLite file in a temporary folder, removed however the demo ends
    (Ctrl-C included: the folder goes as the exception unwinds)."""
    with tempfile.TemporaryDirectory(prefix="qorgau-demo-") as tmp:
        yield Path(tmp) / "demo.db"


INTRO = ("Qorgau demo: the bot and a local Telegram emulator in one process, no token, no "
         "network. Each scene says what people do (▸) and shows every message the bot "
         "sends them, whole and with its buttons, under the name of who sees it (┌), as "
         "Telegram delivered it. Places and PINs are never printed.")


async def play(speed: float = 1.0) -> int:
    """Play the scene once and clean up; 0 if it ran to the end, 1 if a step never came."""
    if not speed > 0:
        raise ValueError("speed must be above 0")
    stage = Stage()
    # SIGTERM ends the demo as Ctrl-C does (asyncio.run's own SIGINT handling), so the
    # temporary database is removed then too.
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGTERM, os.kill, os.getpid(), signal.SIGINT)
    print("\n".join(wrap(INTRO, WIDTH)), flush=True)
    with temporary_database() as db:
        async with Emulator(limits=Limits()) as emu:
            dana = emu.user("Dana", language_code="en")
            cast = Cast(emu, stage, coordinator=Actor(dana, "Dana", stage))
            stage.names[dana.id], stage.roles[dana.id] = "Dana", "coordinator"
            clock = FastForward()
            runner = Runner(demo_settings(emu, db, dana.id, speed), clock=clock,
                            poll_timeout=1)
            scene = Scene(cast, runner, speed, clock)
            try:
                await runner.start()
                await with_printer(emu, stage, lambda: play_scene(scene))
            except (TimeoutError, LookupError) as exc:
                print(private(f"demo stopped: {exc}"), flush=True)
                return 1
            finally:
                await runner.stop()
    print(f"\nDone in {time.monotonic() - stage.t0:.0f} s.", flush=True)
    return 0
