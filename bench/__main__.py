"""``python -m bench latency|burst|flood``: run a scenario and print its table."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.report import machine

os.environ.setdefault("PTB_TIMEDELTA", "1")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark Qorgau end to end: the bot runs as `python -m bot` against "
                    "the Bot API emulator with Telegram's real flood limits.")
    p.add_argument("scenario", choices=["latency", "burst", "outbox", "flood", "failover"],
                   help="latency: one alert at a time vs. the commit+send floor and the "
                        "framework floor (a minimal python-telegram-bot bot), encryption "
                        "on and off; "
                        "burst: many alerts at once, coalescing on and off (and --before "
                        "REV), against the computed best; "
                        "outbox: the delivery worker's cost per pass, 100 vs 5,000 pending, and "
                        "per send, empty vs 5,000 pending; "
                        "flood: one real alert with no flood and behind each of three "
                        "floods (5,000 texts, 300 unregistered SOS, 1,000 /start); "
                        "failover: two bots on one PostgreSQL, the leader killed --kills "
                        "times, the gap until the standby answers (needs --postgresql)")
    p.add_argument("--postgresql", default=None, metavar="URL",
                   help="run on PostgreSQL: a server URL whose user may create databases "
                        "(each run gets a new one); default: SQLite in a temp folder")
    p.add_argument("--kills", type=int, default=10, help="failover: leader kills (default 10)")
    p.add_argument("--alerts", type=int, default=None,
                   help="alerts to raise (default: 30 for latency, 200 for burst)")
    p.add_argument("--lawyers", type=int, default=50, help="on-call lawyers (default 50)")
    p.add_argument("--seconds", type=float, default=10.0,
                   help="burst: spread the alerts evenly over this many seconds (default 10)")
    p.add_argument("--groups", type=int, default=5,
                   help="burst: connected press-freedom groups (default 5)")
    p.add_argument("--regions", type=int, default=5, choices=range(1, 6),
                   help="burst: regions the alerts and lawyers are spread over (default 5)")
    p.add_argument("--faults", type=float, default=0.0, metavar="RATE",
                   help="burst: inject 429/500/dropped-connection faults into this share "
                        "of the bot's sends (e.g. 0.2)")
    p.add_argument("--no-compare", action="store_true",
                   help="burst: skip the run with coalescing switched off; latency: skip "
                        "the run with encryption switched off")
    p.add_argument("--before", default=None, metavar="REV",
                   help="burst: also run the bot as it was at git revision REV (e.g. the "
                        "commit before a change), side by side")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="burst: give up waiting for every card after this many seconds")
    p.add_argument("--floor-samples", type=int, default=120,
                   help="latency: commit+send floor samples (default 120; the "
                        "framework floor takes one per alert)")
    p.add_argument("--floods", default="none,texts,sos,start",
                   help="flood: which runs, comma-separated (default none,texts,sos,start)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="flood: multiply the flood sizes by this (default 1)")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="PATH",
                   help="also dump the raw figures as JSON (to PATH, or stdout)")
    return p


async def _latency(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    from bench.latency import render_latency, run_latency

    common: dict[str, Any] = dict(alerts=args.alerts or 30, lawyers=args.lawyers,
                                  floor_samples=args.floor_samples)
    result = await run_latency(**common)
    off = None if args.no_compare else await run_latency(encrypted=False, **common)
    figures = {**result.figures(), "encryption_off": off.figures() if off else None}
    return render_latency(result, off), figures


async def _burst(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    from bench.burst import run_burst
    from bench.burst_report import render_burst

    common: dict[str, Any] = dict(alerts=args.alerts or 200, lawyers=args.lawyers,
                                  seconds=args.seconds, groups=args.groups,
                                  regions=max(1, min(args.regions, args.lawyers)),
                                  fault_rate=args.faults,
                                  within=args.timeout)
    results = [await run_burst(coalesce=True, label="now", **common)]
    if args.before:
        with source_of(args.before) as code:
            results.append(await run_burst(coalesce=True, code=code,
                                           label=f"before ({args.before})", **common))
    if not args.no_compare:
        results.append(await run_burst(coalesce=False, label="coalescing off", **common))
    text = render_burst(results, **common)
    return text, {"runs": {r.label: r.figures() for r in results}, "config": common}


@contextmanager
def source_of(rev: str) -> Iterator[Path]:
    """The bot's source at git revision ``rev``, in a temporary directory (run with
    PYTHONPATH pointing there): the same scenario against the code before a change."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="qorgau-before-") as tmp:
        archive = subprocess.run(["git", "archive", rev], cwd=root, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp)


async def _outbox(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    from bench.outbox import BACKLOGS, measure_sends, render_outbox, render_sends, run_outbox

    results = await run_outbox()
    sends = [await measure_sends(backlog) for backlog in BACKLOGS]
    return (render_outbox(results) + "\n\n" + render_sends(sends),
            {"passes": [vars(r) for r in results], "sends": [vars(r) for r in sends]})


async def _flood(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    from bench.flood import FLOODS, render_flood, run_flood

    chosen = [f.strip() for f in args.floods.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FLOODS]
    if unknown:
        raise SystemExit(f"unknown flood(s): {unknown}; choose from {FLOODS}")
    results = []
    for flood in chosen:
        results.append(await run_flood(flood, lawyers=args.lawyers, scale=args.scale,
                                       within=args.timeout))
        print(f"{flood}: done", flush=True)
    return render_flood(results), {"runs": [r.figures() for r in results]}


async def _failover(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    from bench.failover import render_failover, run_failover

    result = await run_failover(args.kills)
    return render_failover(result), result.figures()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    if args.postgresql:
        from bench import server

        server.SERVER = args.postgresql
        print("database: PostgreSQL (a new database per run)", flush=True)
    run = {"latency": _latency, "burst": _burst, "outbox": _outbox,
           "flood": _flood, "failover": _failover}[args.scenario]
    text, figures = asyncio.run(run(args))
    print()
    print(text, flush=True)
    if args.json is not None:
        dump = json.dumps({"scenario": args.scenario, "machine": machine(), **figures},
                          indent=2, default=str)
        if args.json == "-":
            print(dump)
        else:
            with open(args.json, "w", encoding="utf-8") as out:
                out.write(dump + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
