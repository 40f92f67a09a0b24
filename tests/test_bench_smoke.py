"""The benchmark still runs and prints its tables (tiny sizes: this checks the plumbing,
not the figures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.latency import render_latency, run_latency

ROOT = Path(__file__).resolve().parent.parent


async def test_latency_runs_in_process_and_prints_its_rows() -> None:
    result = await run_latency(alerts=3, lawyers=5, floor_samples=6)
    assert result.stored == 3 and result.undelivered == 0
    # every alert was timed from the emulator's record of handing over the update
    assert result.latency.n == 3 and result.floor.n == 6 and result.framework.n == 3
    assert 0 < result.latency.p50 < 5.0
    # the minimal bot answered every location, timed from its own getUpdates answer
    assert 0 < result.framework.p50 < 5.0
    assert result.figures()["framework_over_floor_p50"] > 0
    text = render_latency(result)
    for row in ("alert → first lawyer card", "floor: commit + sendMessage",
                "framework floor: update → handler → commit + sendMessage",
                "ratio latency / floor", "ratio latency / framework floor", "target",
                "p50 within 1.5x floor",
                "a minimal python-telegram-bot bot (framework floor p50) reached"):
        assert row in text


def test_burst_cli_prints_the_table() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench", "burst", "--alerts", "6", "--lawyers", "4",
         "--seconds", "2", "--groups", "1", "--no-compare"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    assert out.startswith("machine: ")
    for row in ("alerts stored (db)", "first lawyer notified p99",
                "every lawyer of region saw it p99", "messages sent", "429s from Telegram's limits",
                "duplicate cards", "peak RSS of the bot", "reporter told \"received\" p99",
                "each group shows each alert max", "location pins sent", "now / best",
                "why: "):
        assert row in out, row
    assert "6/6" in out
    assert "NOT reached" not in out


def test_help_names_the_scenarios() -> None:
    out = subprocess.run([sys.executable, "-m", "bench", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert "latency" in out and "burst" in out and "--no-compare" in out
