"""The page's renders are memoised by (stats version, zone): many concurrent requests for one view make
one render, each view its own, and the memo holds at most its bound."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
import requests

from aurora.layouts import ids
from aurora.layouts.renders import KEPT_VERSIONS, PageRender, RenderMemo, rendered_once_per_view
from aurora.layouts.zones import UTC_VIEW, view_zone
from aurora.web.dash_routes import refresh_body_from
from aurora.web.metrics import PROCESS_REGISTRY
from tests.support import Stream, command, insert_rows

KOLKATA = view_zone(None, {"zone": "Asia/Kolkata"})


def counting_render(pause: float = 0.0):
    made: list[tuple[str, str]] = []

    def render(_stats, version, zone) -> PageRender:
        time.sleep(pause)  # long enough for every request to arrive while it is being made
        made.append((version, zone.name))
        return PageRender([version, zone.name])

    return render, made


def test_concurrent_requests_for_one_view_share_one_render():
    render, made = counting_render(pause=0.3)
    memo = rendered_once_per_view(render)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(memo(None, "v1", UTC_VIEW))) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == [("v1", "UTC")]
    assert len(answers) == 20 and all(answer is answers[0] for answer in answers)


def test_each_view_and_each_version_is_rendered_once():
    render, made = counting_render()
    memo = rendered_once_per_view(render)
    for _ in range(3):
        for version in ("v1", "v2"):
            for zone in (UTC_VIEW, KOLKATA):
                assert memo(None, version, zone).page == [version, zone.name]
    assert sorted(made) == [("v1", "Asia/Kolkata"), ("v1", "UTC"), ("v2", "Asia/Kolkata"), ("v2", "UTC")]


def test_the_memo_is_bounded_by_views_not_by_requests():
    render, made = counting_render()
    memo = rendered_once_per_view(render, max_views=2)
    for version in ("v1", "v2", "v3"):
        memo(None, version, UTC_VIEW)
    memo(None, "v3", UTC_VIEW)
    memo(None, "v1", UTC_VIEW)  # aged out: made again
    assert made == [("v1", "UTC"), ("v2", "UTC"), ("v3", "UTC"), ("v1", "UTC")]


def test_a_failed_render_is_not_kept():
    calls = []

    def failing(_stats, version, zone):
        calls.append(version)
        raise RuntimeError("database text the renderer cannot take")

    memo = rendered_once_per_view(failing)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            memo(None, "v1", UTC_VIEW)
    assert calls == ["v1", "v1"]


def test_a_page_asking_for_an_announced_version_gets_it_after_a_newer_one_came():
    """Pages ask for the version their stream announced a moment later: the stats changing meanwhile
    does not make some of them render a version the stream skipped."""
    render, made = counting_render()
    memo = rendered_once_per_view(render)
    announced, newer = object(), object()
    assert memo.pinned(announced, "v1", "v1") == (announced, "v1")
    assert memo.pinned(newer, "v2", "v1") == (announced, "v1")
    assert memo(*memo.pinned(newer, "v2", "v1"), UTC_VIEW).page == ["v1", "UTC"]
    assert memo.pinned(newer, "v2", None) == (newer, "v2")  # a tick or a first call: the current stats
    assert memo.pinned(newer, "v2", "never-seen") == (newer, "v2")
    assert made == [("v1", "UTC")]


def test_only_the_last_few_versions_are_kept():
    memo = rendered_once_per_view(counting_render()[0])
    for number in range(KEPT_VERSIONS + 1):
        memo.pinned(number, f"v{number}", None)
    assert memo.pinned("now", "v-now", "v0") == ("now", "v-now")  # aged out
    assert memo.pinned("now", "v-now", f"v{KEPT_VERSIONS}") == (KEPT_VERSIONS, f"v{KEPT_VERSIONS}")


def test_prepare_renders_the_views_asked_for_since_the_last_one_newest_first():
    render, made = counting_render()
    memo = rendered_once_per_view(render)
    tokyo = view_zone(None, {"zone": "Asia/Tokyo"})
    for zone in (UTC_VIEW, KOLKATA, UTC_VIEW):
        memo(None, "v1", zone)
    made.clear()
    assert memo.prepare(None, "v2") == 2
    assert made == [("v2", "UTC"), ("v2", "Asia/Kolkata")]  # the latest asked first
    for zone in (UTC_VIEW, KOLKATA):  # the pages' requests that follow render nothing
        assert memo(None, "v2", zone).page == ["v2", zone.name]
    assert len(made) == 2
    memo(None, "v2", tokyo)
    made.clear()
    # Only what was asked for during v2; a view prepared but never asked for is not kept up.
    assert memo.prepare(None, "v3") == 3
    assert memo.prepare(None, "v4") == 0
    assert ("v4", "UTC") not in made


def test_prepare_stops_after_its_time():
    now = [0.0]
    counted, made = counting_render()

    def render(stats, version, zone) -> PageRender:
        now[0] += 0.2  # each render takes 0.2 s on the memo's clock
        return counted(stats, version, zone)

    memo = RenderMemo(render, monotonic=lambda: now[0])
    zones = [view_zone(None, {"zone": name}) for name in ("Asia/Tokyo", "Europe/Paris", "America/Denver", "UTC")]
    for zone in zones:
        memo(None, "v1", zone)
    made.clear()
    assert memo.prepare(None, "v2", seconds=0.3) == 2
    assert len(made) == 2


def test_prepare_remembers_the_version_it_was_handed():
    render, _made = counting_render()
    memo = rendered_once_per_view(render)
    memo.prepare("stats of v1", "v1")
    assert memo.pinned("stats of v2", "v2", wanted="v1") == ("stats of v1", "v1")


@pytest.fixture
def database_url(sqlite_url):
    return sqlite_url


def page_asks_for(server_url: str, version: str, zone: str) -> None:
    """What a page in `zone` posts when its stream announced `version`."""
    body = json.loads(refresh_body_from(requests.get(f"{server_url}/_dash-dependencies", timeout=10).json()))
    values = {f"{ids.LIVE_STATS}.data": version, f"{ids.BROWSER_ZONE}.data": {"zone": zone, "offsetMinutes": 0}}
    for item in body["inputs"]:
        item["value"] = values.get(f"{item['id']}.{item['property']}", item["value"])
    body["changedPropIds"] = [f"{ids.LIVE_STATS}.data"]
    answer = requests.post(f"{server_url}/_dash-update-component", json=body, timeout=10)
    assert answer.status_code == 200


def test_the_stream_announces_a_version_once_the_views_pages_asked_for_are_rendered(make_app, live_server, engine,
                                                                                     clock):
    def renders() -> float:
        return PROCESS_REGISTRY.get_sample_value("aurora_page_renders_total") or 0.0

    server = live_server(make_app(refresh_seconds=1, rate_limit="10000/minute"))
    stream = Stream(server.url)
    try:
        page_asks_for(server.url, stream.next_event()["id"], "Asia/Tokyo")
        before = renders()
        insert_rows(engine, transaction_rows=[command(clock() - timedelta(minutes=1))])
        clock.advance(seconds=2)
        requests.get(f"{server.url}/api/stats", timeout=10)  # due: refresh behind this request
        while stream.next_event()["data"]["commands"]["total"] != 1:
            pass
        assert renders() - before == 1  # the new version in Tokyo, before any page asked for it
    finally:
        stream.close()
