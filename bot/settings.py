"""Settings from the environment (prefix ``QORGAU_``) and an optional ``.env`` file.

Errors are turned into one line naming the variable and never echo its value, because the
value may be the bot token.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated
from urllib.parse import SplitResult, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from storage.crypto import Codec, parse_key

ENV_PREFIX = "QORGAU_"
DAY = 24 * 3600.0
WEEK = 7 * DAY  # the longest any wait may be: longer is a typo, and inf breaks timers
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
WEBHOOK_PORTS = (None, 443, 80, 88, 8443)  # Telegram posts to no other port
WEBHOOK_PORT = 8080  # where the webhook and the endpoints listen when no port is set


def port_of(parts: SplitResult) -> int | None:
    """A URL's port (None: the scheme's default; 0: not a valid port)."""
    try:
        return parts.port if parts.port is None or parts.port > 0 else 0
    except ValueError:  # out of range, or not a number
        return 0


class SettingsError(Exception):
    """A missing or invalid setting, already phrased for the operator."""


class Settings(BaseSettings):
    """Everything the bot can be told from outside. Times are seconds unless named otherwise."""

    # Every number is finite and bounded: "inf" or 1e400 would pass "greater than 0" and
    # then break a timer, a rounding or an SQLite integer at the first alert.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore",
        allow_inf_nan=False,
    )

    bot_token: SecretStr | None = Field(default=None, description="Bot token from @BotFather.")
    telegram_api_url: str = Field(
        default="https://api.telegram.org",
        description="Bot API server base URL; the bot calls {url}/bot{token}/{method}.",
    )
    # A file path: SQLite (the default, one process). A postgresql:// URL: PostgreSQL, where
    # two or more instances may run, one leading (storage/postgres.py).
    database: Path | str = Field(default=Path("./qorgau.db"),
                                 description="SQLite database file or PostgreSQL URL.")
    # 32 random bytes in base64 (`qorgau keygen`): seals every personal value at rest.
    data_key: SecretStr | None = Field(default=None, description="Data encryption key.")
    # The key being replaced, only while `qorgau rotate-key` runs.
    data_key_old: SecretStr | None = Field(default=None, description="Previous data key.")
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(
        default=frozenset(), description="Comma-separated Telegram user ids of coordinators."
    )
    # The time zone of every clock time people read (alert cards, on-call and check-in
    # times, "/oncall 18:30"): an IANA name; Kazakhstan keeps one zone, UTC+5.
    timezone: str = Field(default="Asia/Almaty", min_length=1, max_length=64,
                          description="IANA time zone of the times shown, e.g. Asia/Almaty.")
    ack_timeout_seconds: float = Field(default=180.0, gt=0, le=WEEK)
    repeat_seconds: float = Field(default=300.0, gt=0, le=WEEK)
    claim_timeout_seconds: float = Field(default=600.0, gt=0, le=WEEK)
    # Personal data of alerts closed longer ago than this is purged by a daily timer.
    retention_days: float = Field(default=30.0, gt=0, le=3650)
    stale_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    safe_autoclose_seconds: float = Field(default=1800.0, gt=0, le=WEEK)
    # Check-in timers and live location (issue 15).
    checkin_reminder_minutes: float = Field(default=10.0, gt=0, le=24 * 60)
    live_min_interval_seconds: float = Field(default=10.0, gt=0, le=3600)
    live_stale_seconds: float = Field(default=300.0, gt=0, le=WEEK)
    invite_ttl_hours: float = Field(default=48.0, gt=0, le=24 * 30)
    # Seconds after SOS during which one "Cancel" withdraws it before anyone is paged. Off (0)
    # by default: every second counts, and Telegram already confirms a shared location.
    undo_seconds: float = Field(default=0.0, ge=0, le=600)
    # Telegram's published limits; the outbox paces itself below them.
    rate_private_per_second: float = Field(default=1.0, gt=0, le=1000)
    rate_group_per_minute: float = Field(default=20.0, gt=0, le=60_000)
    rate_global_per_second: float = Field(default=30.0, gt=0, le=1000)
    coalesce: bool = Field(default=True, description="Bundle a chat's queued alerts into one.")
    # Input limits: a flood from one person, or fake alerts from many, cannot bury real ones.
    flood_messages_per_minute: int = Field(default=20, gt=0, le=10_000)
    flood_quiet_seconds: float = Field(default=10.0, gt=0, le=3600)
    reply_backlog_per_chat: int = Field(default=3, gt=0, le=1000)
    unregistered_alerts_per_minute: int = Field(default=10, gt=0, le=10_000)
    unregistered_alerts_per_person_per_hour: int = Field(default=2, gt=0, le=10_000)
    log_level: str = Field(default="INFO")
    # Running for real (issue 10): webhook or polling, the HTTP endpoints, logs, the proxy.
    webhook_url: str | None = Field(
        default=None, description="Public https URL Telegram posts updates to; unset: polling.")
    webhook_secret: SecretStr | None = Field(
        default=None, description="Secret Telegram sends back with each update; unset: a "
                                  "random one kept in the database.")
    http_host: str = Field(default="127.0.0.1", min_length=1, max_length=255)
    http_port: int | None = Field(
        default=None, ge=1, le=65535,
        description="Port of /healthz and /metrics (and the webhook); unset: off in polling "
                    "mode, 8080 in webhook mode.")
    log_format: str = Field(default="text", description="text, or json (one object a line).")
    proxy_url: str | None = Field(
        default=None, description="HTTP or SOCKS5 proxy for every Bot API call.")
    sms_inbox: Path | None = Field(
        default=None, description="gammu-smsd's inbox folder (files backend); unset: no SMS.")
    sms_outbox: Path | None = Field(
        default=None, description="gammu-smsd's outbox folder; unset: no SMS.")
    sms_sent: Path | None = Field(
        default=None, description="gammu-smsd's sent folder; unset: 'sent' beside the outbox.")
    sms_error: Path | None = Field(
        default=None, description="gammu-smsd's error folder; unset: 'error' beside the outbox.")
    sms_per_minute: int = Field(default=6, ge=1, le=600,
                                description="Outgoing SMS handed to gammu-smsd per minute.")
    sms_retries: int = Field(default=3, ge=0, le=20,
                             description="Sends retried after gammu-smsd reports a failure.")
    sms_retry_seconds: float = Field(default=120.0, gt=0, le=DAY)
    sms_unreachable_seconds: float = Field(
        default=120.0, gt=0, le=DAY,
        description="Fallback SMS page when the Telegram card is undelivered this long.")
    sms_unacknowledged_seconds: float = Field(
        default=600.0, gt=0, le=DAY,
        description="Fallback SMS page when nobody acknowledged the alert this long.")
    sick_after_seconds: float = Field(default=300.0, gt=0, le=WEEK)
    # The live board in a coordinators' group is edited at most once per this many seconds
    # (a group takes 20 messages a minute, shared with its other messages).
    board_edit_seconds: float = Field(default=6.0, ge=3.0, le=3600.0)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            try:
                return frozenset(int(p) for p in parts if p)
            except ValueError:
                raise ValueError("must be comma-separated integer Telegram user ids") from None
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as "
                             "Asia/Almaty") from None
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        parts = urlsplit(value)
        try:
            port_ok = parts.port is None or 0 < parts.port
        except ValueError:  # a port out of range or not a number
            port_ok = False
        if not parts.hostname or not port_ok or any(c.isspace() for c in value):
            raise ValueError("must be a URL with a host, e.g. https://api.telegram.org")
        return value.rstrip("/")

    @field_validator("database", mode="before")
    @classmethod
    def _check_database(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must be the path of the SQLite database file")
        if isinstance(value, str) and value.startswith(("postgresql://", "postgres://")):
            parts = urlsplit(value)
            try:
                parts.port  # noqa: B018 - urlsplit checks the port only when asked
            except ValueError:
                raise ValueError("the PostgreSQL URL's port must be a number, e.g. "
                                 "postgresql://qorgau:PASSWORD@db.example:5432/qorgau") from None
            if not parts.hostname or not parts.path.strip("/"):
                raise ValueError("a PostgreSQL URL needs a host and a database name, e.g. "
                                 "postgresql://qorgau:PASSWORD@db.example:5432/qorgau")
            return value
        if isinstance(value, str) and "://" in value:  # sqlite:///..., mysql://...
            raise ValueError("must be the path of a SQLite database file or a "
                             "postgresql:// URL")
        if Path(str(value)).is_dir():
            raise ValueError("is a folder; give the path of the database file inside it")
        return Path(value) if isinstance(value, str) else value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value.strip())
            if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
                raise ValueError("must be an https:// URL without ?query (Telegram posts only "
                                 "to https), e.g. https://bot.example.org/telegram")
            if port_of(parts) not in WEBHOOK_PORTS:
                raise ValueError("must use port 443, 80, 88 or 8443 (the only ones Telegram "
                                 "posts to)")
            value = value.strip()
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not SECRET_RE.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's "
                             "rule for a secret token)")
        return value

    @field_validator("log_format")
    @classmethod
    def _check_format(cls, value: str) -> str:
        form = value.strip().lower()
        if form not in ("text", "json"):
            raise ValueError("must be text or json")
        return form

    @field_validator("proxy_url")
    @classmethod
    def _check_proxy(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value.strip())
            if parts.scheme not in PROXY_SCHEMES or not parts.hostname or port_of(parts) == 0:
                raise ValueError("must be a proxy URL such as http://host:3128 or "
                                 "socks5://host:1080")
            value = value.strip()
        return value

    @field_validator("data_key", "data_key_old", mode="before")
    @classmethod
    def _check_key(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return None
            parse_key(value)  # ValueError names what is wrong, never the value
        return value

    @field_validator("bot_token", "webhook_url", "proxy_url", "webhook_secret", "http_port",
                     "sms_inbox", "sms_outbox", "sms_sent", "sms_error", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            raw = value.get_secret_value()
            head, sep, tail = raw.partition(":")
            if not (sep and head.isdigit() and len(tail) >= 20):
                raise ValueError("does not look like a bot token (digits:secret from @BotFather)")
        return value

    def token(self) -> str:
        """The token, for the one place that builds the Bot; required by ``qorgau run``."""
        if self.bot_token is None:
            raise SettingsError(f"{ENV_PREFIX}BOT_TOKEN: missing (a token from @BotFather)")
        return self.bot_token.get_secret_value()

    def codec(self, rotating: bool = False) -> Codec | None:
        """The codec of the data key (None without one: storage then refuses to open);
        ``rotating``: the old key opens what it sealed, the new one seals."""
        if self.data_key is None:
            return None
        older = []
        if rotating:
            if self.data_key_old is None:
                raise SettingsError(f"{ENV_PREFIX}DATA_KEY_OLD: missing (the key to replace)")
            older.append(parse_key(self.data_key_old.get_secret_value()))
        return Codec(parse_key(self.data_key.get_secret_value()), older)

    @property
    def listen_port(self) -> int | None:
        """Where the HTTP endpoints listen: the set port, 8080 for a webhook, else off."""
        if self.http_port is None and self.webhook_url is not None:
            return WEBHOOK_PORT
        return self.http_port

    @property
    def sms_enabled(self) -> bool:
        """The SMS channel runs only when both gammu-smsd folders are set."""
        return self.sms_inbox is not None and self.sms_outbox is not None

    @property
    def base_url(self) -> str:
        return f"{self.telegram_api_url}/bot"


ENV_FILE = Path(".env")


def check_env_file(path: Path = ENV_FILE) -> None:
    """SettingsError if ``.env`` is not UTF-8 text: an editor that saved it as UTF-16 (some
    Windows editors do) would otherwise end the program in a UnicodeDecodeError traceback."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read ({exc.strerror})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data:
        raise SettingsError(f"{path}: saved as UTF-16; save it as UTF-8 (plain text)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise SettingsError(f"{path}: line {line} is not UTF-8 text; save the file as UTF-8"
                            ) from None


def stray_variables(environ: Mapping[str, str] | None = None,
                    env_file: Path = ENV_FILE) -> list[str]:
    """``QORGAU_*`` names in the environment or ``.env`` that are no setting, each with the
    nearest known name: a misspelt variable is otherwise silently ignored and its default
    used, which an operator only finds out on the day it matters."""
    from dotenv import dotenv_values

    known = [name.upper() for name in Settings.model_fields]
    names = {k.upper() for k in (os.environ if environ is None else environ)}
    if env_file.is_file():
        names |= {k.upper() for k in dotenv_values(env_file, encoding="utf-8")}
    lines = []
    for name in sorted(n for n in names if n.startswith(ENV_PREFIX)
                       and n.removeprefix(ENV_PREFIX) not in known):
        near = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), known, n=1, cutoff=0.7)
        hint = f"; did you mean {ENV_PREFIX}{near[0]}?" if near else ""
        lines.append(f"{name} is not a Qorgau setting and is ignored{hint}")
    return lines


def load_settings(**overrides: object) -> Settings:
    """Read the settings, or raise SettingsError with one line that never shows a value."""
    check_env_file()
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{ENV_PREFIX}{field.upper()}: {msg}") from None
