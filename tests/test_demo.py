"""``qorgau demo`` plays its whole story against the emulator and ends by itself with exit
code 0; the story reads as one: registration in a line per person, each scene under a
heading that matches it, whole messages with their buttons labelled by who sees them, every
alert closed, a summary of times, 80 columns, and never a place, a PIN or an invite code.
Options are checked, and Ctrl-C removes the temporary database."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from demo.scene import WIDTH, columns, wrap

SCRIPT = "import sys; from bot.cli import main; sys.exit(main(['demo', '--speed', '{speed}']))"
HEADING = re.compile(r"^━━ (\d+)\. ")


def clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QORGAU_")}
    env["PYTHONWARNINGS"] = "default"  # unclosed sessions or sockets would show on stderr
    env["TMPDIR"] = str(tmp)  # where the demo's temporary database goes
    return env


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """One run for all assertions: it takes ~40 s because the flood limits are the real ones."""
    cwd: Path = tmp_path_factory.mktemp("demo")
    return subprocess.run([sys.executable, "-c", SCRIPT.format(speed=0.5)], env=clean_env(cwd),
                          cwd=cwd, timeout=180, capture_output=True, text=True,
                          encoding="utf-8", check=False)


def scenes(out: str) -> dict[str, list[str]]:
    """Heading -> the lines under it, up to the next heading (headings may wrap)."""
    found: dict[str, list[str]] = {}
    lines = out.splitlines()
    n = 0
    current: list[str] | None = None
    while n < len(lines):
        if HEADING.match(lines[n]):
            title = [lines[n]]
            while not title[-1].endswith("━━━") and n + 1 < len(lines):
                n += 1
                title.append(lines[n])
            current = found.setdefault(" ".join(title).rstrip("━ "), [])
        elif current is not None:
            current.append(lines[n])
        n += 1
    return found


def scene(out: str, starts: str) -> str:
    for title, lines in scenes(out).items():
        if HEADING.sub("", title).startswith(starts):
            return "\n".join(lines)
    raise AssertionError(f"no scene {starts!r} in {list(scenes(out))}")


def test_demo_ends_by_itself_with_success(demo_run: subprocess.CompletedProcess[str]) -> None:
    assert demo_run.returncode == 0, demo_run.stdout[-3000:] + demo_run.stderr[-3000:]
    assert "Done in" in demo_run.stdout
    assert "Warning" not in demo_run.stderr, demo_run.stderr
    assert "Unclosed" not in demo_run.stderr, demo_run.stderr


def test_the_story_fits_80_columns(demo_run: subprocess.CompletedProcess[str]) -> None:
    for line in demo_run.stdout.splitlines():
        assert columns(line) <= WIDTH, line


def test_registration_is_one_line_per_person(
        demo_run: subprocess.CompletedProcess[str]) -> None:
    text = scene(demo_run.stdout, "The team and the reporters register")
    for who, role in (("Dana", "coordinator"), ("Marat", "lawyer"), ("Saule", "lawyer"),
                      ("Yerlan", "lawyer"), ("Aida", "reporter"), ("Bek", "reporter"),
                      ("Cara", "reporter"), ("Press Freedom KZ", "group")):
        mine = [ln for ln in text.splitlines() if ln.split(role)[0].strip() == who]
        assert len(mine) == 1, (who, text)
    assert "┌" not in text and "▸" not in text  # no dialogue: the registration is summed up


def test_scenes_are_numbered_and_match_their_headings(
        demo_run: subprocess.CompletedProcess[str]) -> None:
    out = demo_run.stdout
    numbers = [int(m.group(1)) for ln in out.splitlines() if (m := HEADING.match(ln))]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 9
    for title, lines in scenes(out).items():
        body = "\n".join(lines)
        for alert in re.findall(r"#\d+", HEADING.sub("", title)):
            assert alert in body, (title, body)  # a heading names what its scene shows
    detained = scene(out, "Aida is detained in Almaty, Bek in Astana")
    assert "Aida taps [📍 SOS: send my location]" in detained
    assert "Bek taps [📍 SOS" in detained
    assert "Alert #1 received and saved" in detained and "Alert #2 received and saved" in detained
    race = scene(out, "Almaty: Marat acknowledges #1")
    assert race.count("Alert #1 is yours.") == 1
    assert race.count("Alert #1 was already taken by") == 1
    assert "Only one claim can win" in race
    astana = scene(out, "Astana: nobody answers #2")
    assert "⏰ Still unanswered after" in astana and "wave 2" in astana
    assert "🚨 Alert #2 · Astana" in astana and "Yerlan sees a pop-up: Alert #2 is yours." in astana
    assert "still looking for a lawyer for alert #2" in astana
    board = scene(out, "Coordinators' board")
    assert "Open alerts: 2" in board and "🟢 #1" in board and "🟢 #2" in board
    checkin = scene(out, "Cara's check-in timer runs out")
    assert "Timer set until" in checkin and "left on your timer" in checkin
    assert "Time is up" in checkin
    assert "⏱ Raised by itself: the reporter missed a check-in" in checkin
    duress = scene(out, "Aida, detained again, is forced to cancel")
    assert "Cancelled." in duress and "the bot deletes" in duress and "‼️ DURESS" in duress


def block_lines(out: str, first: str) -> list[str]:
    """The lines of the first labelled block whose text starts with ``first``."""
    lines = out.splitlines()
    for n, line in enumerate(lines):
        if line.startswith("  │ " + first) and lines[n - 1].startswith("  ┌ "):
            body = [lines[n - 1]]
            for more in lines[n:]:
                if not more.startswith("  │ "):
                    break
                body.append(more[4:])
            return body
    raise AssertionError(f"no block starting {first!r}")


def test_cards_and_notices_are_shown_whole_with_their_buttons(
        demo_run: subprocess.CompletedProcess[str]) -> None:
    out = demo_run.stdout
    card = block_lines(out, "🚨 Alert #1 · Almaty")
    assert card[0].startswith("  ┌ Marat (lawyer)") and card[0].endswith(" · new message")
    assert "Saule (lawyer)" in card[0] or \
        "↳ Saule (lawyer): the same message as Marat above" in out
    assert card[1:] == ["🚨 Alert #1 · Almaty", "Reporter: “Aida”", card[3],
                        "Location: shared, taken just now",
                        "Position: (two numbers, not printed here)",
                        "State: waiting for a lawyer",
                        "[Acknowledge #1]  [Claim the case #1]", "[Can't take it #1]",
                        "[Show on map #1]"]
    receipt = block_lines(out, "Alert #1 received and saved.")
    assert receipt[0] == "  ┌ Aida (reporter) · new message"
    assert receipt[-2:] == ["keyboard: [📍 SOS: send my location]  [🆘 Alert without location]",
                            "[✅ I'm safe]"]  # the keyboard wraps between buttons only
    group = [ln for ln in out.splitlines() if ln.startswith("  ┌ Press Freedom KZ (group)")]
    assert group, "the group's notices are shown as blocks of their own"
    closing = block_lines(out, "Your alert #1 is closed (released).")
    assert "│ Released without charges" in closing and closing[-1].startswith("keyboard:")
    assert 'Press Freedom KZ (group): "🚨 Alert #1 · Almaty" is edited in place → ' \
           "Notice #1: closed." in out.replace("\n    ", " ")


def test_every_alert_is_closed_and_the_times_are_summed_up(
        demo_run: subprocess.CompletedProcess[str]) -> None:
    summary = scene(demo_run.stdout, "Summary")
    assert "Alerts still open: 0 of 4." in summary
    rows = {m.group(1): m.groups() for m in re.finditer(
        r"#(\d)\s+(\w+)\s+(\d+\.\d\d) s\s+(\d+\.\d) s\s+(\w+)\s+(.+)", summary)}
    assert sorted(rows) == ["1", "2", "3", "4"], summary
    assert rows["1"][1] == "Almaty" and rows["1"][4:] == ("Marat", "released")
    assert rows["2"][1] == "Astana" and rows["2"][4:] == ("Yerlan", "fined")
    assert rows["3"][4:] == ("Marat", "other")
    assert rows["4"][5] == "released, DURESS"
    assert "outbox drained: yes" in summary


def test_demo_never_prints_a_place_a_pin_or_an_invite_code(
        demo_run: subprocess.CompletedProcess[str]) -> None:
    out = demo_run.stdout + demo_run.stderr
    for fragment in ("43.2", "76.9", "51.1", "71.4", "location hidden"):
        assert fragment not in out
    assert "a map pin of the reporter's place (not printed here)" in out
    assert "4821" not in out and "90357" not in out
    assert "start=" not in out or "start=<single-use code>" in out


@pytest.mark.parametrize("speed", ["0", "-1", "nan", "inf", "fast"])
def test_speed_must_be_a_positive_number(speed: str, tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-c", SCRIPT.format(speed=speed)],
                         env=clean_env(tmp_path), cwd=tmp_path, timeout=60,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 2 and "--speed" in run.stderr, run.stderr
    assert run.stdout == ""  # refused before anything starts


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_removes_the_temporary_database(sig: signal.Signals, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT.format(speed=1)],
                            env=clean_env(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8")
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until the story is under way, with its database
        if line.startswith("━━ 2."):
            break
    databases = list(tmp_path.glob("qorgau-demo-*/demo.db"))
    assert databases, list(tmp_path.iterdir())
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out[-2000:], err[-3000:])
    assert not list(tmp_path.glob("qorgau-demo-*")), list(tmp_path.iterdir())
    assert "Traceback" not in err, err


def test_wrap_keeps_words_and_indentation() -> None:
    assert wrap("one two three", 7) == ["one two", "three"]
    assert wrap("  indented words here", 10) == ["  indented", "  words", "  here"]
    assert wrap("x" * 12, 5) == ["xxxxx", "xxxxx", "xx"]
    assert columns("🚨 a") == 4
    assert wrap("", 10) == [""]


def test_demo_shows_the_live_board_changing(demo_run: subprocess.CompletedProcess[str]) -> None:
    """The coordinators' board is one pinned message, edited in place as alerts arrive, are
    acknowledged and claimed (demo/board_scene.py), and shown whole in its scene."""
    out = demo_run.stdout
    detained = scene(out, "Aida is detained in Almaty, Bek in Astana")
    assert "Coordinators (group) · a message edited in place" in detained, detained
    assert "🔴 Waiting: 2 · 🟡 Acknowledged: 0 · 🟢 Held: 0" in detained
    edits = [ln for ln in out.replace("\n    ", " ").splitlines()
             if ln.startswith('  ↳ Coordinators (group): "📋 Live board" is edited in place')]
    assert any("🟢 Held: 2" in ln for ln in edits), edits
    board = block_lines(out, "📋 Live board")
    assert board[0].startswith("  ┌ Coordinators (group) · "), board
    shown = scene(out, "Coordinators' board")
    whole = block_lines(shown, "📋 Live board")
    assert whole[0].startswith("  ┌ Coordinators (group) · pinned message, edited"), whole
    assert "│ • “Yerlan”: 1 open case" in shown and "│ [🔎 #2]" in shown, shown  # whole
