"""Start-up that never hangs and never lies, measured as a new operator meets it: the real
``qorgau`` command in a subprocess, with one bad setting or situation at a time (issue 10,
point 10). Each ends in one clear line (exit 2 where the program cannot go on), or a short
warning line where it can."""

from __future__ import annotations

import http.server
import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ALMATY, World, rows
from tests.test_settings import (
    CLI,
    TOKEN,
    _scrub,
    answer,
    clean_env,
    one_line_error,
    qorgau,
    serving,
)

# A cap for waiting on a line from a running bot; never a timing assertion.
CAP = 45.0


class Running:
    """``qorgau ARGS`` left running; its stderr is collected line by line."""

    def __init__(self, cwd: Path, *args: str, **settings: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CLI, *args], cwd=cwd, env=clean_env(**settings),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._seen:
                self.lines.append(line.rstrip("\n"))
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    def wait_for(self, pattern: str, count: int = 1) -> list[str]:
        """The first ``count`` lines matching ``pattern`` (fails after CAP seconds)."""
        with self._seen:
            self._seen.wait_for(
                lambda: len(self._matching(pattern)) >= count or self.proc.poll() is not None,
                timeout=CAP)
            found = self._matching(pattern)
        assert len(found) >= count, f"no {pattern!r} in:\n{_scrub(self.text)}"
        return found[:count]

    def _matching(self, pattern: str) -> list[str]:
        return [ln for ln in self.lines if re.search(pattern, ln)]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=CAP)
        self._reader.join(timeout=CAP)
        return code


UNREACHABLE = {"QORGAU_BOT_TOKEN": TOKEN, "QORGAU_TELEGRAM_API_URL": "http://127.0.0.1:9"}


def run_bot(tmp_path: Path, **settings: str) -> Running:
    values = {**UNREACHABLE, "QORGAU_DATABASE": str(tmp_path / "q.db"), **settings}
    return Running(tmp_path, "run", **values)


# --- the database setting ---------------------------------------------------------------


def test_a_database_url_is_one_line_not_a_hang(tmp_path: Path) -> None:
    """Once a traceback and then a hang forever (looking alive in a container)."""
    for command in ("run", "migrate", "demo"):
        proc = qorgau(tmp_path, command, QORGAU_DATABASE="sqlite:///qorgau.db", **UNREACHABLE)
        line = one_line_error(proc, "QORGAU_DATABASE")
        assert "SQLite" in line and "postgresql://" in line
    assert list(tmp_path.iterdir()) == [], "nothing may be created for a URL"


def test_an_unreachable_postgresql_server_is_one_line_without_the_password(
        tmp_path: Path) -> None:
    for command in ("run", "migrate"):
        proc = qorgau(tmp_path, command, QORGAU_DATABASE="postgresql://q:s3cret@db.invalid/q",
                      **UNREACHABLE)
        line = one_line_error(proc, "QORGAU_DATABASE")
        assert "cannot connect to postgresql://q@db.invalid/q" in line
        assert "s3cret" not in proc.stdout + proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_database_path_is_one_line(tmp_path: Path) -> None:
    """/proc cannot hold a file even for root (CI runs as root, so a chmod proves nothing);
    the line must come without aiosqlite's thread printing a traceback after it."""
    for command in ("migrate", "run"):
        proc = qorgau(tmp_path, command, QORGAU_DATABASE="/proc/qorgau.db", **UNREACHABLE)
        one_line_error(proc, "QORGAU_DATABASE")


# --- .env -------------------------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "says"), [("utf-16", "UTF-16"), ("utf-16-le", "UTF-16"),
                                                ("latin-1", "line 2")])
def test_env_file_not_in_utf8_is_one_line(tmp_path: Path, encoding: str, says: str) -> None:
    (tmp_path / ".env").write_text("QORGAU_ADMIN_IDS=1\n# café\n", encoding=encoding)
    for command in ("run", "migrate", "demo"):
        proc = qorgau(tmp_path, command, QORGAU_DATABASE=str(tmp_path / "q.db"))
        line = one_line_error(proc, ".env")
        assert says in line and "UTF-8" in line


# --- the demo ---------------------------------------------------------------------------


@pytest.mark.parametrize(("variable", "value"), [("QORGAU_COALESCE", "maybe"),
                                                 ("QORGAU_FLOOD_MESSAGES_PER_MINUTE", "0"),
                                                 ("QORGAU_ACK_TIMEOUT_SECONDS", "inf")])
def test_demo_with_a_bad_setting_is_one_line(tmp_path: Path, variable: str, value: str) -> None:
    proc = qorgau(tmp_path, "demo", "--speed", "0.05", **{variable: value})
    one_line_error(proc, variable)
    assert proc.stdout == "", "the scene must not start"


# --- warnings that let it run -------------------------------------------------------------


def test_misspelt_variables_are_warned_with_the_nearest_name(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("QORGAU_ACK_TIMEOUT=60\n", encoding="utf-8")
    proc = qorgau(tmp_path, "migrate", QORGAU_DATABASE=str(tmp_path / "q.db"),
                  QORGAU_ADMIN_ID="111", QORGAU_NONSENSE="1")
    assert proc.returncode == 0, proc.stderr
    warnings = proc.stderr.strip().splitlines()
    assert warnings == [
        "qorgau: warning: QORGAU_ACK_TIMEOUT is not a Qorgau setting and is ignored; "
        "did you mean QORGAU_ACK_TIMEOUT_SECONDS?",
        "qorgau: warning: QORGAU_ADMIN_ID is not a Qorgau setting and is ignored; "
        "did you mean QORGAU_ADMIN_IDS?",
        "qorgau: warning: QORGAU_NONSENSE is not a Qorgau setting and is ignored",
    ], proc.stderr


def test_correct_variables_give_no_warning(tmp_path: Path) -> None:
    proc = qorgau(tmp_path, "migrate", QORGAU_DATABASE=str(tmp_path / "q.db"),
                  QORGAU_ADMIN_IDS="111", QORGAU_ACK_TIMEOUT_SECONDS="60")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


@pytest.mark.parametrize("admins", ["", "111"])
def test_empty_admin_ids_is_warned_at_start(tmp_path: Path, admins: str) -> None:
    bot = run_bot(tmp_path, QORGAU_ADMIN_IDS=admins)
    try:
        bot.wait_for("cannot reach the Bot API")
    finally:
        bot.stop()
    warned = [ln for ln in bot.lines if "QORGAU_ADMIN_IDS is empty" in ln]
    assert len(warned) == (0 if admins else 1), bot.text
    if warned:
        assert "WARNING" in warned[0] and "nobody can invite lawyers" in warned[0]


# --- a Bot API URL that answers with a web page -----------------------------------------------

PAGE = b"<html><head><title>Access denied</title></head><body>" + b"blocked " * 500 + b"</body>"


class _Pages(http.server.BaseHTTPRequestHandler):
    """A proxy's or block page where the Bot API should be; getMe is answered as the Bot
    API would when ``server.get_me_works``, so the poller meets the page too."""

    def do_POST(self) -> None:
        if self.path.endswith("/getMe") and getattr(self.server, "get_me_works", False):
            answer(self, 200, json.dumps({"ok": True, "result": {
                "id": 1, "is_bot": True, "first_name": "Q", "username": "qorgau_bot",
                "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}}).encode())
        else:
            answer(self, getattr(self.server, "status", 200), PAGE, "text/html")

    do_GET = do_POST

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def pages() -> Iterator[http.server.ThreadingHTTPServer]:
    with serving(_Pages) as server:
        yield server


def _url(server: http.server.ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.parametrize("get_me_works", [False, True])
def test_a_web_page_instead_of_the_bot_api_is_one_short_line_per_retry(
        tmp_path: Path, pages: http.server.ThreadingHTTPServer, get_me_works: bool) -> None:
    """Once logged as the whole page and a traceback on every retry: at start (getMe) and
    while polling (getUpdates)."""
    pages.get_me_works = get_me_works  # type: ignore[attr-defined]
    bot = run_bot(tmp_path, QORGAU_TELEGRAM_API_URL=_url(pages), QORGAU_ADMIN_IDS="111")
    try:
        word = "getUpdates failed" if get_me_works else "cannot reach the Bot API"
        bot.wait_for(word, count=2)
    finally:
        bot.stop()
    assert "Traceback" not in bot.text and "blocked" not in bot.text, bot.text[:3000]
    retries = [ln for ln in bot.lines if word in ln]
    assert all(len(ln) < 250 for ln in retries), retries
    if not get_me_works:  # at start the line also says what answered
        assert all("not the Bot API" in ln for ln in retries), retries
    others = [ln.split(" ", 2)[-1] for ln in bot.lines
              if ln not in retries and re.search(r" (WARNING|ERROR) ", ln)]
    assert len(others) == len(set(others)), bot.text  # nothing else per retry (start-up
    assert all(len(ln) < 250 for ln in others), others  # steps may each say it once)


def test_an_error_page_instead_of_the_bot_api_names_the_url(
        tmp_path: Path, pages: http.server.ThreadingHTTPServer) -> None:
    """A 404 page is a wrong URL, not a rejected token (python-telegram-bot calls both
    InvalidToken)."""
    pages.status = 404  # type: ignore[attr-defined]
    proc = qorgau(tmp_path, "run", QORGAU_TELEGRAM_API_URL=_url(pages), QORGAU_ADMIN_IDS="1",
                  QORGAU_BOT_TOKEN=TOKEN, QORGAU_DATABASE=str(tmp_path / "q.db"))
    line = one_line_error(proc, "QORGAU_TELEGRAM_API_URL")
    assert "blocked" not in line


# --- two instances on one database ------------------------------------------------------------


@pytest.mark.parametrize("first_ends", [signal.SIGTERM, signal.SIGKILL])
def test_a_second_instance_on_one_database_exits_naming_the_first(
        tmp_path: Path, first_ends: int) -> None:
    first = run_bot(tmp_path, QORGAU_ADMIN_IDS="111")
    try:
        first.wait_for("cannot reach the Bot API")
        second = qorgau(tmp_path, "run", QORGAU_DATABASE=str(tmp_path / "q.db"),
                        QORGAU_ADMIN_IDS="111", **UNREACHABLE)
        line = one_line_error(second, "QORGAU_DATABASE")
        assert f"pid {first.proc.pid}" in line and "another running Qorgau" in line
    finally:
        first.stop(first_ends)
    # The lock lives as long as the process, even one killed with SIGKILL.
    third = run_bot(tmp_path, QORGAU_ADMIN_IDS="111")
    try:
        third.wait_for("cannot reach the Bot API")
    finally:
        third.stop()
    # Reading commands do not take the lock: migrate works beside a running bot.


def test_migrate_works_beside_a_running_bot(tmp_path: Path) -> None:
    bot = run_bot(tmp_path, QORGAU_ADMIN_IDS="111")
    try:
        bot.wait_for("cannot reach the Bot API")
        proc = qorgau(tmp_path, "migrate", QORGAU_DATABASE=str(tmp_path / "q.db"))
        assert proc.returncode == 0, proc.stderr
    finally:
        bot.stop()


# --- an alert that reached nobody -------------------------------------------------------------


async def test_an_alert_that_reached_nobody_is_warned_and_told_to_the_first_coordinator(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    """No lawyer, and the coordinator of QORGAU_ADMIN_IDS has not registered yet: the alert
    pages nobody. The log says so (its number only); the coordinator, once registered, is
    told once."""
    await world.start()
    reporter = await world.register_reporter("Aigerim")
    mark = reporter.mark()
    with caplog.at_level("WARNING"):
        await reporter.tap("📍 SOS: send my location", location=ALMATY)
        await reporter.wait_for("received and saved", after=mark)
    warned = [r.getMessage() for r in caplog.records if "reached nobody" in r.getMessage()]
    assert warned == ["alert #1 reached nobody: no lawyer or coordinator is registered"]
    coordinator = await world.register_coordinator()
    told = await coordinator.wait_for("reached nobody")
    assert told.text is not None and "#1" in told.text and "Aigerim" not in told.text
    # Told once: a restart and another registration-like step do not repeat it.
    await world.restart()
    mark = coordinator.mark()
    await coordinator.send_command("/open")
    await coordinator.wait_for("#1", after=mark)
    await world.drain()
    assert sum("reached nobody" in (m.text or "") for m in coordinator.inbox) == 1
    assert rows(world.db, "SELECT count(*) FROM alert_events WHERE kind = 'unreached_told'"
                ) == [(1,)]


# --- the README's first command ---------------------------------------------------------------


def _first_command_choice() -> str:
    """The part of the README's first command that picks `run` or `demo`."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    first = re.findall(r"^```sh\n(.*?)\n```$", readme, re.MULTILINE | re.DOTALL)[0]
    return first[first.index("if "):]


@pytest.mark.parametrize("line", [
    "QORGAU_BOT_TOKEN={token}", "export QORGAU_BOT_TOKEN={token}",
    "QORGAU_BOT_TOKEN = \"{token}\"", "  QORGAU_BOT_TOKEN='{token}'",
])
def test_readme_first_command_runs_the_bot_with_the_token_in_dotenv(
        tmp_path: Path, pages: http.server.ThreadingHTTPServer, line: str) -> None:
    """The token only in .env (not in the shell): the first command must run the bot, not
    the demo. The Bot API here answers 404 pages, so `run` ends at once in its one line."""
    pages.status = 404  # type: ignore[attr-defined]
    (tmp_path / ".venv").symlink_to(sys.prefix)  # the venv running these tests
    (tmp_path / ".env").write_text(
        line.format(token=TOKEN) + f"\nQORGAU_TELEGRAM_API_URL={_url(pages)}\n"
        f"QORGAU_DATABASE={tmp_path / 'q.db'}\nQORGAU_ADMIN_IDS=1\n", encoding="utf-8")
    proc = subprocess.run(["bash", "-c", _first_command_choice()], cwd=tmp_path,
                          env=clean_env(), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=CAP)
    one_line_error(proc, "QORGAU_TELEGRAM_API_URL")  # `run` got the token from .env


def test_a_lock_file_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "q.db.lock").mkdir()  # root can write anywhere; a folder still blocks it
    proc = qorgau(tmp_path, "run", QORGAU_DATABASE=str(tmp_path / "q.db"),
                  QORGAU_ADMIN_IDS="1", **UNREACHABLE)
    assert "lock file" in one_line_error(proc, "QORGAU_DATABASE")
