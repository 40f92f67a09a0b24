"""``python -m bench flood`` still runs and prints its side-by-side table (tiny floods: this
checks the plumbing, not the figures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_flood_cli_prints_the_table() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench", "flood", "--floods", "texts,sos", "--scale", "0.02",
         "--lawyers", "5", "--timeout", "30"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    assert out.startswith("machine: ")
    for row in ("100 texts, 1 account", "6 unregistered SOS", "handed to the bot",
                "every on-call lawyer of its region saw it", "its reporter told \"received\"",
                "429s from Telegram's limits", "targets"):
        assert row in out, row
    assert "—" not in out  # every figure was measured: the real alert got through
