"""The burst's table: coalescing on and off side by side, the targets, and the best that
Telegram's limits allow (from ``bench.theory``), so a figure is read against what is
possible rather than against zero."""

from __future__ import annotations

import math

from bench.burst import BUNDLE, BurstResult
from bench.measure import Summary
from bench.report import sec, table
from bench.theory import simulate
from emulator import Limits

TARGET_EVERY_P99 = 10.0
TARGET_RSS_MB = 150.0


def _cell(r: BurstResult | None, pick: str) -> str:
    if r is None:
        return "(skipped)"
    return {
        "stored": f"{r.stored}/{r.alerts}",
        "first_p50": sec(r.first.p50), "first_p99": sec(r.first.p99),
        "first_max": sec(r.first.max),
        "every_p50": sec(r.every.p50), "every_p99": sec(r.every.p99),
        "every_max": sec(r.every.max),
        "unreached": str(r.unreached),
        "finished": (f"after {r.finished_after:.1f} s" if r.finished_after is not None
                     else "NOT reached"),
        "messages": str(r.messages),
        "limit_429": str(r.limit_429),
        "kinds": "{per_chat} / {per_group} / {overall}".format(**r.limit_429_kinds),
        "injected": f"{r.injected_429} / {r.faults}",
        "duplicates": str(r.duplicates),
        "rss": f"{r.peak_rss_mb:.1f} MB",
    }[pick]


def render_burst(on: BurstResult | None, off: BurstResult | None, *, alerts: int,
                 lawyers: int, seconds: float, groups: int, regions: int,
                 fault_rate: float, within: float) -> str:
    limits = Limits()
    best_on = simulate(alerts, lawyers, regions, seconds, BUNDLE, limits)
    best_off = simulate(alerts, lawyers, regions, seconds, 1, limits)
    b_on, b_off = Summary.of(best_on.every), Summary.of(best_off.every)
    rows: list[list[str]] = []

    def row(label: str, pick: str, target: str) -> None:
        rows.append([label, _cell(on, pick), _cell(off, pick), target])

    row("alerts stored (db)", "stored", f"{alerts}/{alerts}")
    row("first lawyer notified p50", "first_p50", "")
    row("first lawyer notified p99", "first_p99", "")
    row("first lawyer notified max", "first_max", "")
    row("every lawyer of region saw it p50", "every_p50", "")
    row("every lawyer of region saw it p99", "every_p99", f"≤ {TARGET_EVERY_P99:g} s")
    row("every lawyer of region saw it max", "every_max", "")
    row("alerts not seen by all its lawyers", "unreached", "0")
    row(f"all cards seen (timeout {within:g} s)", "finished", "")
    row("messages sent (send*/edit* OK)", "messages", "")
    row("429s from Telegram's limits", "limit_429", "0")
    row("  of which chat / group / overall", "kinds", "")
    row("429s injected / all faults", "injected", "")
    row("duplicate cards (lawyer, alert)", "duplicates", "0")
    row("peak RSS of the bot (VmHWM)", "rss", f"< {TARGET_RSS_MB:g} MB")
    rows.append(["best possible: every lawyer saw it p99", sec(b_on.p99), sec(b_off.p99), ""])
    rows.append(["best possible: last card after start", sec(best_on.last_card),
                 sec(best_off.last_card), ""])
    per_region = lawyers // max(1, regions)
    cards = alerts * per_region
    cycle = max(limits.per_chat_window / limits.per_chat,
                lawyers * limits.overall_window / limits.overall)
    fault_note = (f", faults at rate {fault_rate:g} (429, 500, dropped connection)"
                  if fault_rate else "")
    lines = [
        f"scenario burst: {alerts} alerts from {alerts} reporters over {seconds:g} s near "
        f"{regions} region centres, {lawyers} on-call lawyers ({per_region} per region), "
        f"{groups} groups, Telegram's limits enforced{fault_note}",
        "times from the reporter's location handed to the bot (getUpdates answer); a lawyer "
        "has seen alert N at the first successful sendMessage/editMessageText to their chat "
        "containing \"Alert #N\"",
        "",
        table(["", "coalescing on", "coalescing off", "target"], rows),
        "",
        f"best possible, bundled: all {lawyers} lawyer chats need a message whenever new "
        f"alerts keep arriving; at {limits.overall} msg/s overall and 1 msg/s per chat a "
        f"lawyer can be reached once per max(1, {lawyers}/{limits.overall}) ≈ {cycle:.2f} s "
        f"(≤ {BUNDLE} cards per bundle suffice: {alerts / regions / seconds * cycle:.1f} new "
        "alerts per region per cycle).",
        f"best possible, one card per message: {alerts}×{per_region} = {cards} cards at "
        f"{limits.overall} msg/s ≥ {cards * limits.overall_window / limits.overall:.1f} s for "
        f"the last, i.e. ≈ {b_off.max:.0f} s after the last alert arrived (simulated FIFO "
        "schedule under the exact limits; pins, confirmations and group notices ignored).",
    ]
    lines += _verdicts(on, off)
    return "\n".join(lines)


def _verdicts(*results: BurstResult | None) -> list[str]:
    out = []
    for r in results:
        if r is None:
            continue
        name = "coalescing on" if r.coalesce else "coalescing off"
        misses = []
        if r.limit_429:
            misses.append(f"{r.limit_429} 429s from the limits")
        if math.isnan(r.every.p99) or r.every.p99 > TARGET_EVERY_P99 or r.unreached:
            misses.append(f"every-lawyer p99 {sec(r.every.p99)} "
                          f"({r.unreached} alerts not reached)")
        if not r.peak_rss_mb < TARGET_RSS_MB:
            misses.append(f"peak RSS {r.peak_rss_mb:.1f} MB")
        if r.duplicates:
            misses.append(f"{r.duplicates} duplicate cards")
        out.append(f"{name}: " + ("all targets met" if not misses
                                  else "targets NOT met: " + "; ".join(misses)))
    return out
