"""assets/live.js in Chromium, against a stand-in EventSource and Dash's `set_props`: whatever order
the spread's timers would fire in, the page ends on the newest stats event."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

LIVE_JS = Path(__file__).resolve().parents[2] / "assets" / "live.js"
SETTINGS = {"streamPath": "/api/stats/realtime", "interval": "refresh-interval", "liveStats": "live-stats",
            "spreadMilliseconds": 400, "retryMilliseconds": 1000, "showTable": "Show", "hideTable": "Hide"}

# A stream the test feeds by hand, `set_props` calls recorded, and the spread's random draws given:
# the first event waits most of the spread, the second almost nothing.
STAND_INS = """
window.sentProps = [];
window.dash_clientside = {no_update: null, set_props: (id, props) => window.sentProps.push([id, props])};
window.streams = [];
window.EventSource = class {
  constructor(url) { this.url = url; this.listeners = {}; window.streams.push(this); }
  addEventListener(name, listener) { this.listeners[name] = listener; }
  close() {}
  send(id) { this.listeners.stats({lastEventId: id}); }
};
const draws = [0.9, 0.0];
Math.random = () => (draws.length ? draws.shift() : 0.5);
"""


def test_a_second_event_inside_the_spread_leaves_the_page_on_the_newest(page):
    page.set_content("<html><body></body></html>")
    page.add_script_tag(content=STAND_INS)
    page.add_script_tag(content=LIVE_JS.read_text())
    page.evaluate("settings => window.dash_clientside.live.followStream(true, settings)", SETTINGS)
    page.evaluate("() => { window.streams[0].send('older'); window.streams[0].send('newer'); }")
    page.wait_for_timeout(800)  # the spread (400 ms) twice over
    sent = page.evaluate("() => window.sentProps.filter(([id]) => id === 'live-stats').map(([, p]) => p.data)")
    assert sent and sent[-1] == "newer"
    assert page.console_errors == []
