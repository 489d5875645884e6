"""Alerts on bot health: a command slow over the last 15 minutes (with enough runs), and too many
late answers in an hour; their settings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aurora.alerts.conditions import DatabaseState, Thresholds, active_conditions
from aurora.alerts.messages import alert_payload
from aurora.alerts.state import AlertEvent
from aurora.bot.command_health.slots import Run
from aurora.bot.command_health.window import HealthWindow
from aurora.settings import Settings, SettingsError, settings_from_mapping
from tests.support import NOW, connected_snapshot

pytestmark = pytest.mark.clock

THRESHOLDS = Thresholds.from_settings(Settings())


def holding(runs: list[tuple[timedelta, Run]], status: str = "connected") -> dict:
    window = HealthWindow(NOW - timedelta(hours=2))
    for ago, run in runs:
        window.add_run(NOW - ago, run)
    bot = connected_snapshot(shards=(), status=status, command_health=window.summary(NOW))
    return active_conditions(bot, DatabaseState(False), ping_mean_ms=None, failures_last_hour=0, thresholds=THRESHOLDS)


def stats_run(ms: float, late: bool = False) -> Run:
    return Run("stats", "slash", end_ms=ms, ack_ms=100, failed=False, late=late)


def test_the_settings_and_their_defaults():
    assert (Settings().alert_command_p95_ms, Settings().alert_late_per_hour) == (2000, 5)
    parsed = settings_from_mapping({"AURORA_ALERT_COMMAND_P95_MS": "1500", "AURORA_ALERT_LATE_PER_HOUR": "2"})
    assert (parsed.alert_command_p95_ms, parsed.alert_late_per_hour) == (1500, 2)
    for name in ("AURORA_ALERT_COMMAND_P95_MS", "AURORA_ALERT_LATE_PER_HOUR"):
        with pytest.raises(SettingsError, match=f"^{name}="):
            settings_from_mapping({name: "0"})


def test_a_slow_command_alerts_only_with_20_runs_in_the_last_15_minutes():
    slow = [(timedelta(minutes=minute % 9), stats_run(2600)) for minute in range(20)]
    found = holding(slow)
    assert set(found) == {"command_slow"}
    assert found["command_slow"].startswith("/stats: p95 ") and "(20 runs; threshold 2000 ms)" in found["command_slow"]
    assert holding(slow[:19]) == {}  # 19 runs: too few to tell
    assert holding([(ago + timedelta(minutes=20), run) for ago, run in slow]) == {}  # not the last 15 minutes
    assert holding([(ago, stats_run(1500)) for ago, _ in slow]) == {}  # under the threshold


def test_more_than_5_late_answers_in_an_hour_alert():
    late = [(timedelta(minutes=10 * n), stats_run(3500, late=True)) for n in range(6)]
    found = holding(late)
    assert found == {"late_answers": "6 answers too late for Discord in the last hour (threshold 5)."}
    assert holding(late[:5]) == {}
    assert "late_answers" not in holding(late, status="disconnected")  # offline says it already


def test_the_webhook_message_has_a_title_for_both():
    for condition in ("command_slow", "late_answers"):
        embed = alert_payload(AlertEvent("started", condition, NOW, NOW, "figure"))["embeds"][0]
        assert embed["title"] and "figure" in str(embed)
