"""``qorgau demo`` plays its whole scene against the emulator, ends by itself with exit code 0,
tells the story it promises, and never prints a location."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = "import sys; from bot.cli import main; sys.exit(main(['demo', '--speed', '0.5']))"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """One run for all assertions: it takes ~20 s because the flood limits are the real ones."""
    cwd: Path = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QORGAU_")}
    env["PYTHONWARNINGS"] = "default"  # unclosed sessions or sockets would show on stderr
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=cwd, timeout=120,
                          capture_output=True, text=True, encoding="utf-8", check=False)


def test_demo_ends_by_itself_with_success(demo_run: subprocess.CompletedProcess[str]) -> None:
    assert demo_run.returncode == 0, demo_run.stdout[-3000:] + demo_run.stderr[-3000:]
    assert "Done in" in demo_run.stdout
    assert "Warning" not in demo_run.stderr, demo_run.stderr
    assert "Unclosed" not in demo_run.stderr, demo_run.stderr


def test_demo_plays_the_whole_scene(demo_run: subprocess.CompletedProcess[str]) -> None:
    out = demo_run.stdout
    assert "Aida -> bot: taps" in out and "(location shared)" in out
    assert "bot -> Aida: Alert #1 received and saved" in out
    assert "bot -> Bek: Alert #2 received and saved" in out
    assert "Acknowledged alert #1" in out
    assert out.count("Alert #1 is yours.") == 1
    assert out.count("Alert #1 was already taken by") == 1
    assert "claim race:" in out and " won;" in out
    assert "bot -> Dana: ⏰ Still unanswered" in out and "wave 2" in out
    assert "still looking for a lawyer for alert #2" in out
    assert "bot -> Dana: Open alerts: 2" in out
    assert "🔴 #2" in out and "🟢 #1" in out
    assert "Case #1 closed: released." in out
    assert "bot -> Aida: Your alert #1 is closed (released)." in out
    assert "bot -> Press Freedom KZ: (edits its message) Notice #1: closed." in out
    assert "database: alert #1 (almaty) closed" in out
    assert "database: alert #2 (astana) open" in out
    # A missed check-in raises an alert by itself.
    assert "bot -> Cara: Timer set until" in out and "left on your timer" in out
    assert "bot -> Cara: Time is up" in out
    assert "⏱ Raised by itself: the reporter missed a check-in" in out
    assert "database: alert #3 (almaty) open" in out
    # A duress cancel looks like a cancel to the reporter and escalates.
    assert "bot -> Aida: Cancelled." in out and "bot -> Aida: (deletes a message)" in out
    assert "bot -> Dana: ‼️ DURESS" in out
    assert "database: alert #4 (almaty) open" in out and "wave 2, DURESS" in out
    assert "4821" not in out and "90357" not in out  # the PINs are never printed


def test_every_line_is_stamped_and_names_sender_and_receiver(
        demo_run: subprocess.CompletedProcess[str]) -> None:
    lines = [ln for ln in demo_run.stdout.splitlines() if ln.startswith("[")]
    assert len(lines) > 40
    for line in lines:
        assert line[1:].split("s]")[0].strip().replace(".", "").isdigit(), line
    talk = [ln for ln in lines if " -> " in ln]
    assert any(ln.split("] ")[1].startswith("bot -> ") for ln in talk)
    assert any(" -> bot" in ln for ln in talk)


def test_demo_never_prints_a_location(demo_run: subprocess.CompletedProcess[str]) -> None:
    # the stamps are times, not places: look only at what follows them
    out = "\n".join(ln.split("s] ", 1)[-1] for ln in demo_run.stdout.splitlines()
                    if not ln.startswith("Done in"))  # "Done in 43.2s." is a time too
    out += demo_run.stderr
    for fragment in ("43.2", "76.9", "51.1", "71.4", "location hidden"):
        assert fragment not in out
    assert "📍 location pin" in out


def test_demo_shows_the_live_board_changing(demo_run: subprocess.CompletedProcess[str]) -> None:
    """The coordinators' board is one pinned message, edited as alerts arrive, are
    acknowledged and claimed (demo/board_scene.py)."""
    out = demo_run.stdout
    assert out.count("bot -> Coordinators: 📋 Live board") == 1  # posted once, then edited
    for state in ("🔴 Waiting: 2 · 🟡 Acknowledged: 0 · 🟢 Held: 0",
                  "🔴 Waiting: 1 · 🟡 Acknowledged: 0 · 🟢 Held: 1",
                  "🔴 Waiting: 0 · 🟡 Acknowledged: 1 · 🟢 Held: 1"):
        assert "board in Coordinators (pinned, edits so far: " in out and state in out
