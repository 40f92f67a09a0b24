"""Settings from the environment (prefix ``QORGAU_``) and an optional ``.env`` file.

Errors are turned into one line naming the variable and never echo its value, because the
value may be the bot token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "QORGAU_"
WEEK = 7 * 24 * 3600.0  # the longest any wait may be: longer is a typo, and inf breaks timers


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
    database: Path = Field(default=Path("./qorgau.db"), description="SQLite database file.")
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(
        default=frozenset(), description="Comma-separated Telegram user ids of coordinators."
    )
    ack_timeout_seconds: float = Field(default=180.0, gt=0, le=WEEK)
    repeat_seconds: float = Field(default=300.0, gt=0, le=WEEK)
    claim_timeout_seconds: float = Field(default=600.0, gt=0, le=WEEK)
    # Personal data of alerts closed longer ago than this is purged by a daily timer.
    retention_days: float = Field(default=30.0, gt=0, le=3650)
    stale_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    safe_autoclose_seconds: float = Field(default=1800.0, gt=0, le=WEEK)
    invite_ttl_hours: float = Field(default=48.0, gt=0, le=24 * 30)
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
        if Path(str(value)).is_dir():
            raise ValueError("is a folder; give the path of the database file inside it")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("bot_token", mode="before")
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

    @property
    def base_url(self) -> str:
        return f"{self.telegram_api_url}/bot"


def load_settings(**overrides: object) -> Settings:
    """Read the settings, or raise SettingsError with one line that never shows a value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{ENV_PREFIX}{field.upper()}: {msg}") from None
