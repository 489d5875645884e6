"""Settings: defaults, parsing, and one clear line for every bad value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aurora.settings import Settings, SettingsError, load_settings, settings_from_mapping

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_run_the_embedded_demo():
    settings = settings_from_mapping({})
    assert settings == Settings()
    assert settings.database_url == "sqlite:///aurora.db"
    assert settings.database_is_default and settings.demo
    assert (settings.host, settings.port) == ("127.0.0.1", 8050)
    assert settings.refresh_seconds == 30
    assert settings.rate_limit == "60/minute"
    assert settings.page_rate_limit == "600/minute"
    assert not settings.bot_enabled


def test_values_are_parsed():
    settings = settings_from_mapping(
        {
            "DATABASE_URL": "postgresql://aurora:pw@db.internal:5432/aurora",
            "DISCORD_TOKEN": "abc.def.ghi",
            "AURORA_HOST": "0.0.0.0",
            "AURORA_PORT": "9000",
            "AURORA_REFRESH_SECONDS": "10",
            "AURORA_RATE_LIMIT": "100 per hour",
        }
    )
    assert settings.database_url == "postgresql+psycopg2://aurora:pw@db.internal:5432/aurora"
    assert not settings.database_is_default
    assert not settings.demo  # never seed demo rows into a database Aurora does not own
    assert settings.bot_enabled
    assert (settings.host, settings.port, settings.refresh_seconds) == ("0.0.0.0", 9000, 10)
    assert settings.rate_limit == "100 per hour"


def test_init_db_has_its_own_generous_limits():
    assert (Settings().ddl_timeout_seconds, Settings().ddl_lock_timeout_seconds) == (3600, 60)
    settings = settings_from_mapping({"AURORA_DDL_TIMEOUT_SECONDS": "7200", "AURORA_DDL_LOCK_TIMEOUT_SECONDS": "5"})
    assert (settings.ddl_timeout_seconds, settings.ddl_lock_timeout_seconds) == (7200, 5)


def test_rate_limit_can_be_switched_off_for_a_limiting_proxy():
    assert settings_from_mapping({"AURORA_RATE_LIMIT": "off"}).rate_limit is None
    assert settings_from_mapping({"AURORA_RATE_LIMIT": "OFF"}).rate_limit is None


def test_the_page_has_its_own_rate_limit_setting():
    settings = settings_from_mapping({"AURORA_PAGE_RATE_LIMIT": "100 per minute;2000/hour"})
    assert (settings.page_rate_limit, settings.rate_limit) == ("100 per minute;2000/hour", "60/minute")
    assert settings_from_mapping({"AURORA_PAGE_RATE_LIMIT": "off"}).page_rate_limit is None


def test_serving_limits_are_parsed():
    defaults = settings_from_mapping({})
    assert (defaults.max_body_bytes, defaults.app_threads) == (256 * 1024, 8)
    settings = settings_from_mapping({"AURORA_MAX_BODY_KB": "64", "AURORA_THREADS": "16"})
    assert (settings.max_body_bytes, settings.app_threads) == (64 * 1024, 16)


def test_the_token_never_appears_in_repr():
    assert "abc.def.ghi" not in repr(settings_from_mapping({"DISCORD_TOKEN": "abc.def.ghi"}))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AURORA_PORT", "eighty"),
        ("AURORA_PORT", "70000"),
        ("AURORA_REFRESH_SECONDS", "0"),
        ("AURORA_REFRESH_SECONDS", "1.5"),
        ("AURORA_RATE_LIMIT", "lots"),
        ("AURORA_PAGE_RATE_LIMIT", "lots"),
        ("AURORA_PAGE_RATE_LIMIT", "600/fortnight"),
        ("DATABASE_URL", "mysql://root@localhost/aurora"),
        ("DATABASE_URL", "aurora.db"),
        ("AURORA_DEMO", "maybe"),
        ("DISCORD_TOKEN", "two words"),
        ("DISCORD_API_BASE", "ftp://example"),
        ("DISCORD_GATEWAY_URL", "http://example"),
        ("AURORA_DDL_TIMEOUT_SECONDS", "0"),
        ("AURORA_DDL_TIMEOUT_SECONDS", "1h"),
        ("AURORA_DDL_LOCK_TIMEOUT_SECONDS", "90000"),
        ("AURORA_MAX_BODY_KB", "0"),
        ("AURORA_MAX_BODY_KB", "256k"),
        ("AURORA_THREADS", "0"),
        ("AURORA_THREADS", "1000"),
    ],
)
def test_a_bad_value_names_the_variable(name, value):
    with pytest.raises(SettingsError) as raised:
        settings_from_mapping({name: value})
    message = str(raised.value)
    assert message.startswith(name)
    assert "\n" not in message


def test_env_file_is_read_and_the_environment_wins(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nAURORA_PORT=9100\nexport AURORA_HOST='0.0.0.0'\nAURORA_REFRESH_SECONDS=15\n")
    monkeypatch.setenv("AURORA_REFRESH_SECONDS", "20")
    settings = load_settings(env_file)
    assert (settings.port, settings.host, settings.refresh_seconds) == (9100, "0.0.0.0", 20)


def test_a_malformed_env_file_line_is_named(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("AURORA_PORT=9100\nnot a setting\n")
    with pytest.raises(SettingsError, match=r"\.env:2 is not KEY=VALUE"):
        load_settings(env_file)


def run_app(tmp_path, env, *args):
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), *args],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_startup_with_a_bad_setting_prints_one_line_and_no_traceback(tmp_path):
    result = run_app(tmp_path, {"AURORA_PORT": "eighty"})
    assert result.returncode == 2
    assert result.stderr.strip() == "aurora: AURORA_PORT='eighty' is not a whole number"
    assert "Traceback" not in result.stdout + result.stderr


def test_existing_database_without_tables_points_to_init_db(tmp_path):
    database = tmp_path / "existing.db"
    env = {"DATABASE_URL": f"sqlite:///{database}"}
    result = run_app(tmp_path, env)
    assert result.returncode == 2
    assert "DATABASE_URL: tables missing (users, transactions, moderation_cases)" in result.stderr
    assert "python app.py init-db" in result.stderr
    assert "Traceback" not in result.stderr

    created = run_app(tmp_path, env, "init-db")
    assert created.returncode == 0, created.stderr
    assert "created: table users" in created.stdout and "init-db done" in created.stdout


def test_scale_out_defaults_keep_everything_in_one_process():
    settings = settings_from_mapping({})
    assert (settings.role, settings.redis_url, settings.redis_prefix) == ("all", None, "aurora")


def test_roles_and_redis_are_parsed():
    web = settings_from_mapping(
        {"AURORA_ROLE": "Web", "REDIS_URL": "rediss://:pw@cache.internal:6380/2", "AURORA_REDIS_PREFIX": "prod.eu",
         "AURORA_BOT_TTL_SECONDS": "45"}
    )
    assert (web.role, web.redis_url, web.redis_prefix, web.bot_ttl_seconds) == (
        "web", "rediss://:pw@cache.internal:6380/2", "prod.eu", 45
    )
    assert "pw@" not in repr(web)  # the URL can carry Redis's password
    bot = settings_from_mapping({"AURORA_ROLE": "bot", "REDIS_URL": "redis://127.0.0.1:6379/0", "DISCORD_TOKEN": "a.b.c"})
    assert bot.role == "bot" and bot.bot_enabled
    # Role all with Redis: still one process with the bot thread, but limits and stats are shared.
    assert settings_from_mapping({"REDIS_URL": "redis://127.0.0.1"}).role == "all"


@pytest.mark.parametrize(
    ("env", "starts_with", "mentions"),
    [
        ({"AURORA_ROLE": "worker"}, "AURORA_ROLE", "all, bot or web"),
        ({"AURORA_ROLE": "web"}, "REDIS_URL is required with AURORA_ROLE=web", "redis://"),
        ({"AURORA_ROLE": "bot", "DISCORD_TOKEN": "a.b.c"}, "REDIS_URL is required with AURORA_ROLE=bot", "redis://"),
        ({"AURORA_ROLE": "bot", "REDIS_URL": "redis://h"}, "DISCORD_TOKEN is required", "AURORA_ROLE=bot"),
        ({"AURORA_ROLE": "web", "REDIS_URL": "redis://h", "DISCORD_TOKEN": "a.b.c"}, "DISCORD_TOKEN is set",
         "never starts the bot"),
        ({"REDIS_URL": "http://cache:6379"}, "REDIS_URL", "redis or rediss"),
        ({"REDIS_URL": "redis://"}, "REDIS_URL", "redis or rediss"),
        ({"REDIS_URL": "redis://:pw@cache:abc/0"}, "REDIS_URL", "port after the host"),
        ({"REDIS_URL": "redis://cache:70000"}, "REDIS_URL", "port after the host"),
        ({"AURORA_REDIS_PREFIX": "has space"}, "AURORA_REDIS_PREFIX", "letters, digits"),
        ({"AURORA_BOT_TTL_SECONDS": "1"}, "AURORA_BOT_TTL_SECONDS", "out of range"),
    ],
)
def test_a_bad_scale_out_setting_is_one_clear_line(env, starts_with, mentions):
    with pytest.raises(SettingsError) as raised:
        settings_from_mapping(env)
    message = str(raised.value)
    assert message.startswith(starts_with) and mentions in message
    assert "\n" not in message


@pytest.mark.parametrize("raw", ["redis:/:s3cret-pass@cache:6379/0", "unix://user:s3cret-pass@/run/redis.sock"])
def test_a_refused_redis_url_never_shows_its_password(raw):
    with pytest.raises(SettingsError) as raised:
        settings_from_mapping({"REDIS_URL": raw})
    message = str(raised.value)
    assert message.startswith("REDIS_URL=") and "redis or rediss" in message
    assert "s3cret" not in message and "user" not in message


def test_role_web_without_redis_stops_startup_with_one_line(tmp_path):
    result = run_app(tmp_path, {"AURORA_ROLE": "web"})
    assert result.returncode == 2
    assert result.stderr.strip().startswith("aurora: REDIS_URL is required with AURORA_ROLE=web")
    assert "Traceback" not in result.stdout + result.stderr


def test_what_each_role_may_run_is_decided_by_the_settings():
    redis_url = "redis://127.0.0.1:6379/0"
    alone, bot = Settings(), Settings(role="bot", redis_url=redis_url, discord_token="token")
    web = Settings(role="web", redis_url=redis_url)
    assert (alone.web_refusal, alone.bot_thread_refusal) == (None, None)
    assert alone.bot_process_refusal is not None  # role all runs the bot as a thread, not as a process
    assert bot.web_refusal is not None and bot.bot_process_refusal is None and bot.runs_bot_process
    assert Settings(role="bot", redis_url=redis_url).bot_process_refusal is not None  # no token
    assert web.bot_thread_refusal is not None and web.web_refusal is None and web.reads_bot_from_redis
    with_token = Settings(discord_token="token")
    assert with_token.workers_refusal(1) is None and "3 workers" in with_token.workers_refusal(3)
    assert alone.workers_refusal(4) is None and web.workers_refusal(4) is None
