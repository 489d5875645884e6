"""Alerts as plain functions: settings, conditions from the figures, start/clear with hold and
cooldown, the embeds, the page's strip and the contract. No threads, no network."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from aurora.alerts.conditions import DatabaseState, RecentFigures, Thresholds, active_conditions
from aurora.alerts.messages import alert_payload
from aurora.alerts.state import COOLDOWN, AlertEvent, AlertLedger
from aurora.bot.snapshot import BotSnapshot, CommandCount, ShardSnapshot
from aurora.layouts import ids
from aurora.layouts.alerts_strip import alert_strip
from aurora.layouts.callbacks import OUTPUTS, page_values
from aurora.layouts.page import build_layout
from aurora.settings import Settings, SettingsError, settings_from_mapping
from aurora.stats.json_form import alerts_to_list
from aurora.stats.model import RESOLVED_SHOWN, AlertRecord
from tests.layouts.test_page import CONNECTED, stats_with
from tests.support import NOW, connected_snapshot, iso_z


def stats_of_page():
    return stats_with(CONNECTED)


pytestmark = pytest.mark.clock

WEBHOOK = "https://discord.com/api/webhooks/123456789012345678/AbC-def_GhI"
THRESHOLDS = Thresholds.from_settings(Settings())
UP = connected_snapshot(shards=())


FRESH = DatabaseState(False)


def conditions(bot: BotSnapshot = UP, database: DatabaseState = FRESH, ping=None, failures=0) -> dict:
    return active_conditions(
        bot, database, ping_mean_ms=ping, failures_last_hour=failures, thresholds=THRESHOLDS
    )


# --- settings -------------------------------------------------------------------------------------
def test_alert_settings_defaults_and_values():
    settings = Settings()
    assert settings.alert_webhook_url is None
    assert (
        settings.alert_offline_minutes,
        settings.alert_stale_minutes,
        settings.alert_ping_ms,
        settings.alert_failures_per_hour,
        settings.public_url,
    ) == (5, 10, 500, 20, None)
    parsed = settings_from_mapping(
        {
            "AURORA_ALERT_WEBHOOK_URL": WEBHOOK,
            "AURORA_ALERT_OFFLINE_MINUTES": "3",
            "AURORA_ALERT_STALE_MINUTES": "15",
            "AURORA_ALERT_PING_MS": "800",
            "AURORA_ALERT_FAILURES_PER_HOUR": "50",
            "AURORA_PUBLIC_URL": "https://aurora.example.org/",
        }
    )
    assert parsed.alert_webhook_url == WEBHOOK
    assert (
        parsed.alert_offline_minutes,
        parsed.alert_stale_minutes,
        parsed.alert_ping_ms,
        parsed.alert_failures_per_hour,
        parsed.public_url,
    ) == (3, 15, 800, 50, "https://aurora.example.org")
    assert "AbC-def_GhI" not in repr(parsed)
    for host in ("discordapp.com", "ptb.discord.com"):
        assert settings_from_mapping(
            {"AURORA_ALERT_WEBHOOK_URL": WEBHOOK.replace("discord.com", host)}
        ).alert_webhook_url


@pytest.mark.parametrize(
    "url",
    [
        "http://discord.com/api/webhooks/1/secret-token",  # not https
        "https://discord.com.evil.example/api/webhooks/1/secret-token",
        "https://discord.com/api/channels/1/secret-token",
        "https://discord.com/api/webhooks/not-a-number/secret-token",
        "https://127.0.0.1:9/api/webhooks/1/secret-token",  # only with DISCORD_API_BASE pointed elsewhere
    ],
)
def test_a_bad_webhook_url_names_the_variable_but_never_echoes_it(url):
    with pytest.raises(SettingsError) as raised:
        settings_from_mapping({"AURORA_ALERT_WEBHOOK_URL": url})
    message = str(raised.value)
    assert message.startswith("AURORA_ALERT_WEBHOOK_URL ") and "\n" not in message
    assert "secret-token" not in message and url not in message


def test_any_http_webhook_when_discord_is_pointed_elsewhere():
    env = {
        "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10",
        "AURORA_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/api/webhooks/1/t",
    }
    assert settings_from_mapping(env).alert_webhook_url == "http://127.0.0.1:9/api/webhooks/1/t"


@pytest.mark.parametrize(
    "name", ["AURORA_ALERT_OFFLINE_MINUTES", "AURORA_ALERT_PING_MS", "AURORA_ALERT_FAILURES_PER_HOUR"]
)
def test_a_bad_threshold_names_the_variable(name):
    with pytest.raises(SettingsError, match=f"^{name}="):
        settings_from_mapping({name: "0"})


# --- conditions -----------------------------------------------------------------------------------
def test_a_connected_bot_with_fresh_figures_holds_no_condition():
    assert conditions() == {}
    assert conditions(BotSnapshot(status="disabled", taken_at=NOW)) == {}


@pytest.mark.parametrize("status", ["connecting", "reconnecting", "disconnected"])
def test_a_bot_not_connected_is_offline(status):
    assert conditions(replace(UP, status=status)) == {"bot_offline": f"The bot is {status}."}


def test_one_shard_down_is_shard_down_and_all_down_is_offline():
    shards = (ShardSnapshot(0, "connected", 40.0), ShardSnapshot(1, "reconnecting", None))
    found = conditions(replace(UP, status="reconnecting", shards=shards))
    assert set(found) == {"shard_down"} and "1 of 2 shards" in found["shard_down"]
    all_down = tuple(replace(shard, status="reconnecting") for shard in shards)
    assert set(conditions(replace(UP, status="reconnecting", shards=all_down))) == {"bot_offline"}


def test_stale_or_missing_figures_are_data_stale():
    assert "since 14:37 UTC" in conditions(database=DatabaseState(True, NOW))["data_stale"]
    assert DatabaseState.of(None, preparing=None).stale
    assert not DatabaseState.of(None, preparing=0.4).stale  # first counts under way: not stale


def test_ping_and_failures_above_their_thresholds():
    found = conditions(ping=612.4, failures=21)
    assert found["ping_high"].startswith("Gateway latency 612 ms")
    assert found["command_failures"].startswith("21 failed commands")
    assert conditions(ping=500, failures=20) == {}


def test_recent_figures_window_the_ping_and_count_failures_per_hour():
    figures = RecentFigures()

    def seen(minutes: float, latency: float | None, failures: int, status: str = "connected") -> tuple:
        bot = replace(
            UP, status=status, latency_ms=latency, command_failures=(CommandCount("balance", failures),)
        )
        return figures.observe(NOW + timedelta(minutes=minutes), bot)

    assert seen(0, 100.0, 7) == (None, 0)  # one sample is no mean; the first total is the baseline
    assert seen(4, 200.0, 7) == (None, 0)
    assert seen(5, 300.0, 12) == (200.0, 5)
    # 11 minutes on, the first sample left the 10-minute window; a restarted bot counts from 0.
    assert seen(11, 700.0, 3) == (400.0, 8)
    assert seen(66, None, 3, status="reconnecting") == (None, 3)  # the failures of minutes 0-6 left the hour


# --- start and clear ------------------------------------------------------------------------------
def run(ledger: AlertLedger, minutes: float, holding: dict) -> list[AlertEvent]:
    return ledger.step(NOW + timedelta(minutes=minutes), holding, THRESHOLDS.hold)


def test_a_condition_alerts_once_after_its_threshold_and_once_when_it_clears():
    ledger = AlertLedger()
    offline = {"bot_offline": "The bot is reconnecting."}
    assert run(ledger, 0, offline) == [] and run(ledger, 4.9, offline) == []
    started = run(ledger, 5, offline)
    assert [(e.kind, e.condition, e.since) for e in started] == [("started", "bot_offline", NOW)]
    assert run(ledger, 9, offline) == []  # once, not at every check
    assert ledger.records() == (AlertRecord("bot_offline", NOW),)
    resolved = run(ledger, 14, {})
    assert [(e.kind, e.since, e.at) for e in resolved] == [("resolved", NOW, NOW + timedelta(minutes=14))]
    assert run(ledger, 15, {}) == []
    assert ledger.records() == (AlertRecord("bot_offline", NOW, NOW + timedelta(minutes=14)),)


def test_a_short_outage_sends_nothing_and_flapping_is_held_by_the_cooldown():
    ledger = AlertLedger()
    ping = {"ping_high": "Gateway latency 900 ms"}
    assert (
        run(ledger, 0, {"bot_offline": "x"}) == [] and run(ledger, 3, {}) == []
    )  # 3 min: under the threshold
    assert [e.kind for e in run(ledger, 10, ping)] == ["started"]
    assert [e.kind for e in run(ledger, 11, {})] == ["resolved"]
    assert run(ledger, 12, ping) == []  # back within the cooldown: held
    cooled = 10 + COOLDOWN.total_seconds() / 60
    events = run(ledger, cooled, ping)
    assert [(e.kind, e.since) for e in events] == [("started", NOW + timedelta(minutes=12))]


def test_the_ledger_survives_a_round_trip_and_keeps_the_last_resolved():
    ledger = AlertLedger()
    for spell in range(RESOLVED_SHOWN + 2):
        start = spell * 60
        run(ledger, start, {"ping_high": "x"})
        run(ledger, start + 1, {})
    run(ledger, 999, {"data_stale": "x"})
    run(ledger, 1010, {"data_stale": "x"})
    again = AlertLedger.from_plain(ledger.to_plain())
    assert again.records() == ledger.records()
    assert len(again.records()) == 1 + RESOLVED_SHOWN and again.records()[0].resolved_at is None
    assert run(again, 1011, {"data_stale": "x"}) == []  # already sent: a restart sends nothing twice


# --- messages, contract and page ------------------------------------------------------------------
def test_embeds_carry_the_figure_the_duration_and_the_link():
    since, at = NOW, NOW + timedelta(minutes=14, seconds=20)
    started = alert_payload(
        AlertEvent("started", "ping_high", since, since, "Gateway latency 900 ms."), "https://a.example"
    )
    embed = started["embeds"][0]
    assert embed["title"] == "High gateway latency" and embed["description"] == "Gateway latency 900 ms."
    assert embed["url"] == "https://a.example" and embed["color"] == 0xE5484D
    assert f"<t:{int(since.timestamp())}:f>" in embed["fields"][0]["value"]
    assert started["allowed_mentions"] == {"parse": []}
    resolved = alert_payload(AlertEvent("resolved", "ping_high", since, at))["embeds"][0]
    assert resolved["title"] == "Resolved: High gateway latency"
    assert resolved["description"] == "Resolved after 14 min." and "url" not in resolved


def test_contract_and_strip_show_active_then_resolved():
    records = (
        AlertRecord("bot_offline", NOW),
        AlertRecord("data_stale", NOW - timedelta(hours=1), NOW - timedelta(minutes=46)),
    )
    alerts = alerts_to_list(records)
    assert alerts == [
        {"condition": "bot_offline", "since": iso_z(NOW), "resolvedAt": None},
        {
            "condition": "data_stale",
            "since": iso_z(NOW - timedelta(hours=1)),
            "resolvedAt": iso_z(NOW - timedelta(minutes=46)),
        },
    ]
    children, hidden = alert_strip(alerts)
    assert not hidden and children[0].children == "Alerts"
    items = children[1].children
    assert items[0].className == "alert active" and items[0].children[1].startswith("Bot offline since ")
    assert items[1].className == "alert resolved" and items[1].children[1].endswith("after 14 min")
    assert alert_strip([]) == ([], True)


def outputs_of(stats) -> dict:
    keys = [(output.component_id, output.component_property) for output in OUTPUTS]
    return dict(zip(keys, page_values(stats), strict=True))


def test_the_page_shows_the_strip_at_first_render_and_at_each_refresh():
    stats = replace(stats_of_page(), alerts=(AlertRecord("ping_high", NOW),))
    layout = build_layout(30, stats)
    strip = next(child for child in layout.children if getattr(child, "id", None) == ids.ALERTS)
    assert strip.hidden is False and "High gateway latency since" in str(
        strip.children[1].children[0].children
    )
    values = outputs_of(stats)
    assert values[(ids.ALERTS, "hidden")] is False
    quiet = outputs_of(stats_of_page())
    assert quiet[(ids.ALERTS, "hidden")] is True and quiet[(ids.ALERTS, "children")] == []
