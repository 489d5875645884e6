"""Setting values from their text: each parser takes the variable's name for its one-line error.

Pure functions over strings; `aurora.settings` is the one place that reads the environment and uses them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from limits import parse_many


class SettingsError(ValueError):
    """A setting has a value Aurora cannot run with; the message names the variable."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_DATABASE_SCHEMES = ("sqlite", "postgresql")


def parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def parse_int(name: str, raw: str, *, low: int, high: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={value} is out of range ({low}..{high})")
    return value


def parse_rate_limit(name: str, raw: str) -> str | None:
    if raw.strip().lower() == "off":
        return None
    try:
        limits = parse_many(raw)
    except ValueError:
        limits = []
    if not limits:
        raise SettingsError(
            f"{name}={raw!r} is not a rate limit (examples: '60/minute', '100 per hour')"
        )
    return raw.strip()


def parse_database_url(name: str, raw: str) -> str:
    value = raw.strip()
    scheme = value.split(":", 1)[0].split("+", 1)[0]
    if "://" not in value or scheme not in _DATABASE_SCHEMES:
        raise SettingsError(
            f"{name} must be a postgresql:// or sqlite:// URL (got scheme {scheme!r})"
        )
    # Only the spelling "postgresql" is accepted (SQLAlchemy 2 refuses the short "postgres://" that
    # Heroku hands out); a URL without a driver gets psycopg2, the one Aurora installs, named.
    if value.startswith("postgresql://"):
        value = "postgresql+psycopg2://" + value[len("postgresql://"):]
    return value


def parse_url(name: str, raw: str, schemes: tuple[str, ...]) -> str:
    value = raw.strip().rstrip("/")
    if not re.match(rf"^({'|'.join(schemes)})://[^/\s]+", value):
        if "@" in raw:
            # What comes before the host may be a user and password (redis://:password@host).
            hidden = "...@" + raw.rsplit("@", 1)[1]
            raise SettingsError(f"{name}={hidden!r} must be a {' or '.join(schemes)} URL (what comes before '@' "
                                "is not shown: it may hold a password)")
        raise SettingsError(f"{name}={raw!r} must be a {' or '.join(schemes)} URL")
    try:
        # What the clients read the port with: a bad one would raise there, at startup.
        _ = urlsplit(value).port
    except ValueError:
        raise SettingsError(f"{name}: the port after the host must be a number from 0 to 65535") from None
    return value


# Discord's own webhook URLs, and any http(s) URL for a Discord elsewhere.
_DISCORD_WEBHOOK = re.compile(
    r"https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api(?:/v\d+)?/webhooks/\d+/[A-Za-z0-9_-]+"
)
_ANY_WEBHOOK = re.compile(r"https?://[^/\s?#]+/\S*")


def parse_webhook_url(name: str, raw: str, *, any_host: bool) -> str:
    """A Discord webhook URL (`any_host`: any http(s) URL). It holds a token: never part of a message."""
    value = raw.strip()
    if not (_DISCORD_WEBHOOK.fullmatch(value) or (any_host and _ANY_WEBHOOK.fullmatch(value))):
        raise SettingsError(
            f"{name} is not a Discord webhook URL "
            "(https://discord.com/api/webhooks/<id>/<token>; the value is not shown: it holds a token)"
        )
    return value


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a simple KEY=VALUE `.env` file; real environment variables take precedence."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export "):]
        key, sep, value = stripped.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"{path}:{line_number} is not KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


ALERT_THRESHOLDS = (
    ("AURORA_ALERT_OFFLINE_MINUTES", "alert_offline_minutes", 1, 1440),
    ("AURORA_ALERT_STALE_MINUTES", "alert_stale_minutes", 1, 1440),
    ("AURORA_ALERT_PING_MS", "alert_ping_ms", 1, 60_000),
    ("AURORA_ALERT_FAILURES_PER_HOUR", "alert_failures_per_hour", 1, 1_000_000),
    ("AURORA_ALERT_COMMAND_P95_MS", "alert_command_p95_ms", 1, 900_000),
    ("AURORA_ALERT_LATE_PER_HOUR", "alert_late_per_hour", 1, 1_000_000),
)


def parse_alert_settings(get: Callable[[str], str | None], kwargs: dict, *, any_webhook_host: bool) -> None:
    """AURORA_ALERT_* and AURORA_PUBLIC_URL. The webhook URL is a secret: never part of a message."""
    if (raw := get("AURORA_ALERT_WEBHOOK_URL")) is not None:
        kwargs["alert_webhook_url"] = parse_webhook_url("AURORA_ALERT_WEBHOOK_URL", raw, any_host=any_webhook_host)
    for name, key, low, high in ALERT_THRESHOLDS:
        if (raw := get(name)) is not None:
            kwargs[key] = parse_int(name, raw, low=low, high=high)
    if (raw := get("AURORA_PUBLIC_URL")) is not None:
        kwargs["public_url"] = parse_url("AURORA_PUBLIC_URL", raw, ("http", "https"))
