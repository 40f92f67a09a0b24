"""Scenario ``flood``: can a flood delay a real alert?

Three floods, each queued with the emulator at once, just before one registered reporter
taps SOS, under Telegram's real limits:

- ``texts``: one registered reporter, whose open case one of the lawyers the real alert
  pages holds, sends 5,000 texts (to be forwarded to that lawyer);
- ``sos``: 300 accounts that never registered press "🆘 Alert without location";
- ``start``: 1,000 new accounts send /start.

For the real alert the figures are timed from the moment its update was queued with the
emulator (being stuck behind other updates is part of what is measured): until every
on-call lawyer of its region has seen it, and until its reporter was told "received".
"""

from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass
from typing import Any

from bench.report import sec, table
from bench.stage import Stage, stage
from bench.world import BURST_REGIONS, codec, near, send_location
from storage import Storage

FLOODS = ("none", "texts", "sos", "start")
SIZES = {"none": 0, "texts": 5000, "sos": 300, "start": 1000}
LABELS = {"none": "no flood", "texts": "{n} texts, 1 account",
          "sos": "{n} unregistered SOS", "start": "{n} × /start"}
TARGET_S = 2.0
RECEIVED_RE = re.compile(r"Alert #(\d+) received")


@dataclass
class FloodResult:
    flood: str
    size: int
    handed_s: float  # queued → the emulator handed the real alert to the bot
    every_s: float  # queued → every on-call lawyer of its region has seen it
    received_s: float  # queued → its reporter was told "received"
    messages: int  # the bot's successful sends during the run
    limit_429: int
    pending_updates: int  # flood updates still not confirmed when the real alert was done

    def figures(self) -> dict[str, Any]:
        return dict(vars(self))


async def _seed_held_case(st: Stage) -> None:
    """The flooder has an open alert held by a lawyer of the real alert's region."""
    flooder = st.cast.reporters[1]
    region = st.cast.reporter_regions[st.cast.reporters[0].id]
    holder = st.cast.lawyers_of(region)[0]
    now = time.time()
    async with Storage(st.db, codec()) as storage, storage.transaction() as tx:
        alert_id = await tx.create_alert(flooder.id, now, region=region)
        await tx.claim(alert_id, holder, now)


async def _push_flood(st: Stage, flood: str, size: int) -> None:
    """Queue the whole flood with the emulator (no await yields in between)."""
    if flood == "texts":
        flooder = st.cast.reporters[1]
        for i in range(size):
            await flooder.send_text(f"flood text {i}")
    elif flood in ("sos", "start"):
        for i in range(size):
            user = st.emu.user(first_name=f"Stranger {i:04d}")
            if flood == "sos":
                await user.send_text("🆘 Alert without location")
            else:
                await user.send_command("/start")


def _received_at(st: Stage, chat: int, alert: int) -> float:
    """When the reporter's "received" for this alert reached the emulator (read once, at
    the end: scanning every call while the run goes on would slow the emulator down)."""
    for call in st.emu.calls:
        if call.chat_id == chat and call.status == 200:
            match = RECEIVED_RE.search(str((call.params or {}).get("text") or ""))
            if match and int(match.group(1)) == alert:
                return call.time
    return math.nan


async def run_flood(flood: str, lawyers: int = 50, scale: float = 1.0,
                    within: float = 120.0) -> FloodResult:
    size = int(SIZES[flood] * scale)
    async with stage(lawyers, 2, 2, BURST_REGIONS) as st:
        await st.wait_until(lambda: False, 1.1)  # start-up traffic out of the windows
        if flood == "texts":
            await _seed_held_case(st)
        real = st.cast.reporters[0]
        region_lawyers = st.cast.lawyers_of(st.cast.reporter_regions[real.id])
        point = near(st.cast.reporter_regions[real.id], random.Random(5))
        await _push_flood(st, flood, size)
        queued = time.monotonic()
        update_id = await send_location(st.emu, real, *point)

        def done() -> bool:  # the tracker folds the emulator's calls as they finish
            alert = st.tracker.confirmed.get(real.id)
            return alert is not None and all((law, alert) in st.tracker.seen
                                             for law in region_lawyers)

        finished = await st.wait_until(done, within)
        pending = st.emu.updates_pending()
        await st.stop_bot()
        handed = st.emu.update_handed_at.get(update_id, math.nan)
        alert = st.tracker.confirmed.get(real.id, -1)
        every = (max(st.tracker.seen[(law, alert)] for law in region_lawyers) - queued
                 if finished else math.nan)
        return FloodResult(
            flood=flood, size=size, handed_s=handed - queued, every_s=every,
            received_s=_received_at(st, real.id, alert) - queued,
            messages=st.tracker.messages_sent, limit_429=st.emu.stats["rate_limited"],
            pending_updates=pending)


def render_flood(results: list[FloodResult]) -> str:
    header = ["real alert, from its update queued", *(
        LABELS[r.flood].format(n=f"{r.size:,}") for r in results), "target"]

    def ok(value: float) -> str:
        return "met" if value <= TARGET_S else "NOT met"

    rows = [
        ["handed to the bot", *(sec(r.handed_s) for r in results), ""],
        ["every on-call lawyer of its region saw it", *(sec(r.every_s) for r in results),
         f"≤ {TARGET_S:.0f} s"],
        ["its reporter told \"received\"", *(sec(r.received_s) for r in results),
         f"≤ {TARGET_S:.0f} s"],
        ["flood updates not yet confirmed then", *(str(r.pending_updates) for r in results),
         ""],
        ["bot's messages sent in the run", *(str(r.messages) for r in results), ""],
        ["429s from Telegram's limits", *(str(r.limit_429) for r in results), "0"],
        ["targets", *(("met" if ok(r.every_s) == ok(r.received_s) == "met" else "NOT met")
                      for r in results), ""],
    ]
    return table(header, rows)
