"""Several open pages, one render: after a refresh every page shows the new figures, and the server
rendered that stats version once per view (time zone) however many pages asked for it; each page
asked once, for the stream's event (its interval is off while its stream is open)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aurora.demo.simulation.server import SimulatedDiscord
from aurora.layouts import ids
from aurora.web.context import context_of
from aurora.web.metrics import PROCESS_REGISTRY
from tests.support import command, insert_rows

pytestmark = [pytest.mark.browser, pytest.mark.clock]

ZONES = ("UTC", "UTC", "UTC", "Asia/Tokyo", "Asia/Tokyo")
COMMANDS_SHOWN = f"#{ids.kpi_value(ids.KPI_COMMANDS)}"
UPDATE_PATH = "/_dash-update-component"
LIVE_EVENT = f"{ids.LIVE_STATS}.data"


@pytest.fixture
def database_url(sqlite_url):
    return sqlite_url


def renders() -> float:
    return PROCESS_REGISTRY.get_sample_value("aurora_page_renders_total") or 0.0


def test_every_page_updates_from_one_render_per_view(browser, make_app, live_server, engine, clock):
    app = make_app(refresh_seconds=2, stream_max_per_client=len(ZONES))  # every page from 127.0.0.1
    server = live_server(app)
    contexts = [browser.new_context(timezone_id=zone) for zone in ZONES]
    try:
        pages = [context.new_page() for context in contexts]
        asked: list[list[str]] = [[] for _ in pages]
        for page, requests in zip(pages, asked, strict=True):
            page.on("request", lambda request, requests=requests: requests.append(
                ",".join(request.post_data_json["changedPropIds"])) if UPDATE_PATH in request.url else None)
        for page in pages:
            page.goto(server.url + "/")
            page.wait_for_selector(f"{COMMANDS_SHOWN}:text-is('0')", timeout=15_000)
        SimulatedDiscord.wait_for(lambda: context_of(app).streams.open_streams == len(pages), timeout=20)
        # Every page has answered its stream's first event (so its interval is off, the stream brings
        # every change) and shows those stats: nothing more to render.
        for _ in range(200):  # Playwright hands over the pages' requests only inside its own calls
            if all(LIVE_EVENT in requests for requests in asked):
                break
            pages[0].wait_for_timeout(100)
        assert all(LIVE_EVENT in requests for requests in asked), asked
        for page in pages:
            page.wait_for_load_state("networkidle")
        before = renders()
        for requests in asked:
            requests.clear()

        insert_rows(engine, transaction_rows=[command(clock() - timedelta(minutes=1))])
        clock.advance(seconds=3)
        for page in pages:
            page.wait_for_selector(f"{COMMANDS_SHOWN}:text-is('1')", timeout=20_000)
        for page in pages:
            page.wait_for_load_state("networkidle")

        assert renders() - before == len(set(ZONES))
        assert all(requests and set(requests) == {LIVE_EVENT} for requests in asked), asked
        headings = [page.locator(f"#{ids.ACTIVITY_ZONE}").inner_text() for page in pages]
        assert headings[:3] == ["(UTC)"] * 3
        assert all(heading.startswith("(Asia/Tokyo") for heading in headings[3:])
    finally:
        for context in contexts:
            context.close()
