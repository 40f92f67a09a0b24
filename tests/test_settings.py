"""The real ``qorgau`` command in a subprocess: bad settings stop it with one line naming the
variable (exit status 2, no traceback), and the bot token never appears in its output.

Every run gets a copy of the environment without any ``QORGAU_*`` variable and a temporary
working directory, so neither the developer's shell nor a ``.env`` file in the repository
can change the outcome.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import TEST_KEY

REPO = Path(__file__).resolve().parent.parent
# Syntactically valid (digits:35 characters), but not a real bot's token.
TOKEN = "123456789:AAFakeTokenForTestsOnly_0123456789xyz"
SECRET = TOKEN.partition(":")[2]
CLI = "import sys; from bot.cli import main; sys.exit(main())"
# Cap for commands that are expected to stop by themselves; generous for slow CI machines.
TIMEOUT = 60.0


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QORGAU_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env["QORGAU_DATA_KEY"] = TEST_KEY  # a throwaway data key, unless a test sets its own
    env.update(settings)
    return env


def qorgau(cwd: Path, *args: str, timeout: float = TIMEOUT,
           **settings: str) -> subprocess.CompletedProcess[str]:
    """``qorgau ARGS`` with only ``settings`` (QORGAU_* variables) set, run in ``cwd``."""
    try:
        return subprocess.run(
            [sys.executable, "-c", CLI, *args], cwd=cwd, env=clean_env(**settings),
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        out = _text(exc.stdout) + _text(exc.stderr)
        pytest.fail(f"`qorgau {' '.join(args)}` did not exit within {timeout:.0f} s; "
                    f"it printed:\n{_scrub(out)}")


def _text(data: str | bytes | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def _scrub(text: str) -> str:
    """Show failing output without repeating the (fake) token in the test report."""
    return text.replace(TOKEN, "<TOKEN>").replace(SECRET, "<SECRET>")


def leaks(proc: subprocess.CompletedProcess[str]) -> bool:
    return TOKEN in proc.stdout + proc.stderr or SECRET in proc.stdout + proc.stderr


def one_line_error(proc: subprocess.CompletedProcess[str], variable: str) -> str:
    """Assert the run stopped with exit status 2 and a single stderr line naming
    ``variable``; return that line."""
    shown = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{_scrub(proc.stderr)}"
    assert "Traceback" not in proc.stderr + proc.stdout, shown
    assert proc.returncode == 2, shown
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, shown
    assert variable in lines[0], shown
    return lines[0]


# --- invalid settings ---------------------------------------------------------------------


def test_missing_token_stops_run(tmp_path: Path) -> None:
    proc = qorgau(tmp_path, "run", QORGAU_DATABASE=str(tmp_path / "q.db"))
    one_line_error(proc, "QORGAU_BOT_TOKEN")
    assert not (tmp_path / "q.db").exists(), "nothing should be created before settings pass"


def test_python_dash_m_bot_is_run(tmp_path: Path) -> None:
    """``python -m bot`` is ``qorgau run``: the same one-line error without a token."""
    proc = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=clean_env(),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT,
    )
    one_line_error(proc, "QORGAU_BOT_TOKEN")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("QORGAU_ACK_TIMEOUT_SECONDS", "abc"),
        ("QORGAU_ACK_TIMEOUT_SECONDS", "-1"),
        ("QORGAU_ACK_TIMEOUT_SECONDS", "0"),
        ("QORGAU_REPEAT_SECONDS", "soon"),
        ("QORGAU_CLAIM_TIMEOUT_SECONDS", "-5"),
        ("QORGAU_ADMIN_IDS", "x"),
        ("QORGAU_ADMIN_IDS", "12,abc"),
        ("QORGAU_TELEGRAM_API_URL", "ftp://example.org"),
        ("QORGAU_TELEGRAM_API_URL", "api.telegram.org"),
        ("QORGAU_RATE_GLOBAL_PER_SECOND", "0"),
        ("QORGAU_COALESCE", "maybe"),
        # accepted by "greater than 0" once, then broke timers, roundings and SQLite
        ("QORGAU_ACK_TIMEOUT_SECONDS", "inf"),
        ("QORGAU_ACK_TIMEOUT_SECONDS", "1e400"),
        ("QORGAU_SAFE_AUTOCLOSE_SECONDS", "nan"),
        ("QORGAU_INVITE_TTL_HOURS", "1e308"),
        ("QORGAU_RATE_GLOBAL_PER_SECOND", "inf"),
        ("QORGAU_REPLY_BACKLOG_PER_CHAT", "99999999999999999999999"),
        ("QORGAU_TELEGRAM_API_URL", "http://"),
        ("QORGAU_TELEGRAM_API_URL", "https://exa mple.com"),
        ("QORGAU_TELEGRAM_API_URL", "http://127.0.0.1:99999"),
    ],
)
def test_invalid_value_is_one_line(tmp_path: Path, variable: str, value: str) -> None:
    proc = qorgau(tmp_path, "run", **{variable: value, "QORGAU_BOT_TOKEN": TOKEN})
    one_line_error(proc, variable)
    assert not leaks(proc), "the bot token appears in the output"


def test_invalid_value_stops_migrate_too(tmp_path: Path) -> None:
    proc = qorgau(tmp_path, "migrate", QORGAU_ACK_TIMEOUT_SECONDS="abc",
                  QORGAU_DATABASE=str(tmp_path / "q.db"))
    one_line_error(proc, "QORGAU_ACK_TIMEOUT_SECONDS")


@pytest.mark.parametrize("where", ["", "folder", "missing-parent", "not-a-database",
                                   "dev-null"])
def test_a_database_path_that_cannot_work_is_one_line(tmp_path: Path, where: str) -> None:
    """An empty value, a folder, a path whose parent cannot be made, or a file that is not
    a database: one line naming QORGAU_DATABASE, exit status 2, and the file untouched."""
    other = tmp_path / "notes.txt"
    other.write_text("not a database\n", encoding="utf-8")
    (tmp_path / "blocker").write_text("", encoding="utf-8")
    value = {"": "", "folder": str(tmp_path), "missing-parent": str(tmp_path / "blocker" / "q.db"),
             "not-a-database": str(other), "dev-null": os.devnull}[where]
    for command in ("migrate", "run"):
        proc = qorgau(tmp_path, command, QORGAU_DATABASE=value, QORGAU_BOT_TOKEN=TOKEN)
        line = one_line_error(proc, "QORGAU_DATABASE")
        assert not value or value not in line  # like every setting's value, never shown
    assert other.read_text(encoding="utf-8") == "not a database\n"


def test_a_postgresql_url_with_a_bad_port_is_one_line(tmp_path: Path) -> None:
    proc = qorgau(tmp_path, "migrate",
                  QORGAU_DATABASE="postgresql://u:SECRETPW@host:notaport/db")
    line = one_line_error(proc, "QORGAU_DATABASE")
    assert "port must be a number" in line and "SECRETPW" not in proc.stderr + proc.stdout


def test_copy_db_names_its_arguments_and_refuses_one_database_twice(tmp_path: Path) -> None:
    """copy-db's SOURCE and TARGET are arguments, not QORGAU_DATABASE; copying a database
    onto itself is refused before anything is opened."""
    proc = qorgau(tmp_path, "copy-db", str(tmp_path / "nosuch.db"), str(tmp_path / "c.db"))
    assert proc.returncode == 2 and proc.stderr.startswith("qorgau: copy-db: "), proc.stderr
    assert "no such database file" in proc.stderr and "QORGAU_DATABASE" not in proc.stderr
    db = tmp_path / "a.db"
    assert qorgau(tmp_path, "migrate", QORGAU_DATABASE=str(db)).returncode == 0
    proc = qorgau(tmp_path, "copy-db", str(db), str(tmp_path / "." / "a.db"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr == "qorgau: copy-db: SOURCE and TARGET are the same database\n"


def test_invalid_log_level_is_one_line(tmp_path: Path) -> None:
    """A log level Python's logging does not know must be a settings error, not a
    ValueError traceback from logging.setLevel after the settings were accepted."""
    proc = qorgau(tmp_path, "run", QORGAU_LOG_LEVEL="chatty", QORGAU_BOT_TOKEN=TOKEN,
                  QORGAU_TELEGRAM_API_URL="http://127.0.0.1:9",
                  QORGAU_DATABASE=str(tmp_path / "q.db"))
    one_line_error(proc, "QORGAU_LOG_LEVEL")


@pytest.mark.parametrize("value", ["123:short", "abc:" + "x" * 40, "1234567890" + "y" * 30])
def test_malformed_token_is_named_not_shown(tmp_path: Path, value: str) -> None:
    proc = qorgau(tmp_path, "run", QORGAU_BOT_TOKEN=value)
    line = one_line_error(proc, "QORGAU_BOT_TOKEN")
    secret = value.partition(":")[2] or value
    echoed = value in line or secret in line or value in proc.stdout
    assert not echoed, "the error must not echo the token"


def test_dotenv_in_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("QORGAU_ACK_TIMEOUT_SECONDS=abc\n", encoding="utf-8")
    proc = qorgau(tmp_path, "run", QORGAU_BOT_TOKEN=TOKEN)
    one_line_error(proc, "QORGAU_ACK_TIMEOUT_SECONDS")


def test_dotenv_token_is_not_shown(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("QORGAU_BOT_TOKEN=42:tooshort-secret\n", encoding="utf-8")
    proc = qorgau(tmp_path, "run")
    line = one_line_error(proc, "QORGAU_BOT_TOKEN")
    echoed = "tooshort-secret" in line
    assert not echoed, "the error must not echo the token"


def test_empty_token_counts_as_unset(tmp_path: Path) -> None:
    """``QORGAU_BOT_TOKEN=`` (as in .env.example, or an empty ``--env-file`` line) means "no
    token": commands that need none still work, and ``run`` says the token is missing."""
    db = tmp_path / "q.db"
    proc = qorgau(tmp_path, "migrate", QORGAU_BOT_TOKEN="", QORGAU_DATABASE=str(db))
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr}"
    line = one_line_error(qorgau(tmp_path, "run", QORGAU_BOT_TOKEN=""), "QORGAU_BOT_TOKEN")
    assert "missing" in line


# --- the documented settings --------------------------------------------------------------


def _setting_names() -> set[str]:
    from bot.settings import ENV_PREFIX, Settings

    return {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def test_env_example_lists_every_setting() -> None:
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#?\s*(QORGAU_[A-Z_]+)=", text, re.MULTILINE))
    assert listed == _setting_names()


def test_readme_lists_every_setting() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = sorted(n for n in _setting_names() if f"`{n}`" not in readme)
    assert not missing, f"README.md does not describe {missing}"


def test_env_example_is_accepted(tmp_path: Path) -> None:
    """.env.example copied as it is to .env is valid (the token is left empty)."""
    (tmp_path / ".env").write_text((REPO / ".env.example").read_text(encoding="utf-8"),
                                   encoding="utf-8")
    proc = qorgau(tmp_path, "migrate", QORGAU_DATABASE=str(tmp_path / "q.db"))
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr}"


# --- a valid token that cannot be used ----------------------------------------------------


@dataclass
class Outcome:
    returncode: int | None  # None: still running when we stopped looking
    stdout: str
    stderr: str
    stopped_by_sigterm: bool = False


# How long an unreachable Bot API is watched before the bot is asked to stop.
WATCH = 12.0


@pytest.fixture(scope="module")
def unreachable_api(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """``qorgau run`` with a well-formed token against a port nothing listens on.

    The bot may give up (exit non-zero) or keep retrying with a warning, as a bot whose
    network is blocked for a while should; if it is still running after ``WATCH`` seconds
    it gets SIGTERM, like ``docker stop``, and must then end promptly."""
    tmp_path = tmp_path_factory.mktemp("unreachable")
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "run"], cwd=tmp_path,
        env=clean_env(QORGAU_BOT_TOKEN=TOKEN, QORGAU_TELEGRAM_API_URL="http://127.0.0.1:9",
                      QORGAU_DATABASE=str(tmp_path / "q.db")),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        out, err = proc.communicate(timeout=WATCH)
        return Outcome(proc.returncode, out, err)
    except subprocess.TimeoutExpired:
        pass
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=15)
        return Outcome(proc.returncode, out, err, stopped_by_sigterm=True)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return Outcome(None, out, err, stopped_by_sigterm=True)


def test_unreachable_api_never_shows_token(unreachable_api: Outcome) -> None:
    output = unreachable_api.stdout + unreachable_api.stderr
    leaked = TOKEN in output or SECRET in output
    assert not leaked, f"the bot token appears in the output:\n{_scrub(output)}"


def test_unreachable_api_is_reported_and_stops_cleanly(unreachable_api: Outcome) -> None:
    """An unreachable Bot API is an operator's problem, not a crash: it is said in plain
    words (no traceback), and the bot either exits non-zero or retries until SIGTERM, which
    ends it promptly and cleanly."""
    r = unreachable_api
    output = _scrub(r.stdout + r.stderr)
    assert "Traceback" not in output, (
        f"`qorgau run` with an unreachable QORGAU_TELEGRAM_API_URL printed a traceback "
        f"(exit {r.returncode}):\n{output}")
    assert r.returncode is not None, f"`qorgau run` ignored SIGTERM for 15 s:\n{output}"
    if not r.stopped_by_sigterm:
        assert r.returncode != 0, f"gave up on the Bot API but exited 0:\n{output}"
    assert re.search(r"Bot API|QORGAU_TELEGRAM_API_URL|127\.0\.0\.1:9", r.stderr), (
        f"nothing says the Bot API cannot be reached:\n{output}")


def answer(handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes,
           content_type: str = "application/json") -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler],
            ) -> Iterator[http.server.ThreadingHTTPServer]:
    """A small HTTP server on a free local port, for the duration of the block."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class _Unauthorized(http.server.BaseHTTPRequestHandler):
    """A Bot API that rejects every token, as api.telegram.org does a revoked one."""

    def do_POST(self) -> None:
        answer(self, 401, json.dumps({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}).encode())

    do_GET = do_POST

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def rejecting_api() -> Iterator[str]:
    with serving(_Unauthorized) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}"


def test_rejected_token_is_not_shown(tmp_path: Path, rejecting_api: str) -> None:
    """python-telegram-bot's InvalidToken message contains the token itself; it must not
    reach the terminal (or a container's log) when the server rejects the token."""
    proc = qorgau(tmp_path, "run", QORGAU_BOT_TOKEN=TOKEN, QORGAU_TELEGRAM_API_URL=rejecting_api,
                  QORGAU_DATABASE=str(tmp_path / "q.db"))
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, _scrub(output)
    leaked = TOKEN in output or SECRET in output
    assert not leaked, (
        f"the rejected bot token is printed (exit {proc.returncode}):\n{_scrub(output)}")
    assert "Traceback" not in output, _scrub(output)
    assert "QORGAU_BOT_TOKEN" in proc.stderr, _scrub(output)


# --- help and migrate ---------------------------------------------------------------------


def test_help(tmp_path: Path) -> None:
    proc = qorgau(tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage: qorgau" in proc.stdout
    assert "lawyer" in proc.stdout
    for command in ("run", "emulator", "demo", "migrate", "export"):
        assert re.search(rf"^\s+{command}\s+\S", proc.stdout, re.MULTILINE), (
            f"{command} is not described in:\n{proc.stdout}")


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("run", ["Run the bot", "QORGAU_TELEGRAM_API_URL"]),
        ("emulator", ["emulator", "--port", "--host", "--token"]),
        ("demo", ["emulator", "--speed"]),
        ("migrate", ["database", "QORGAU_DATABASE"]),
        ("export", ["--since", "CSV", "YYYY-MM-DD"]),
    ],
)
def test_subcommand_help(tmp_path: Path, command: str, words: list[str]) -> None:
    proc = qorgau(tmp_path, command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert f"usage: qorgau {command}" in proc.stdout
    for word in words:
        assert word in proc.stdout, f"{word!r} missing from:\n{proc.stdout}"


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    proc = qorgau(tmp_path, "fly")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "usage: qorgau" in proc.stderr


def test_migrate_creates_database(tmp_path: Path) -> None:
    db = tmp_path / "data" / "qorgau.db"
    proc = qorgau(tmp_path, "migrate", QORGAU_DATABASE=str(db))
    assert proc.returncode == 0, proc.stderr
    assert db.is_file()
    match = re.search(r"schema version (\d+)", proc.stdout)
    assert match and int(match.group(1)) >= 1, proc.stdout
    # Migrating again is a no-op at the same version.
    again = qorgau(tmp_path, "migrate", QORGAU_DATABASE=str(db))
    assert again.returncode == 0, again.stderr
    assert f"schema version {match.group(1)}" in again.stdout


def test_migrate_default_database_is_in_working_directory(tmp_path: Path) -> None:
    proc = qorgau(tmp_path, "migrate")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "qorgau.db").is_file()
