// The page's live updates and its table switch, as clientside callbacks (registered in
// aurora/layouts/callbacks.py). Ids, the stream's address, timings and labels are handed in by the
// layout (the page-settings store, aurora/layouts/page.py's page_settings), not written here.
//
// One EventSource per page (browsers allow only six connections per origin), opened while the
// server says it has room for one (each refresh answer says so). Once its first stats event came
// the page's interval is off: the stream brings every change and one update is one request (a
// stream with no stats to send, the database failing from the start, leaves the page polling).
// A new stats event sets the live store after a random moment of up to spreadMilliseconds (every
// open page gets the event at the same moment: the server then sees their requests over a few
// seconds rather than in one burst); events arriving meanwhile only move that store to the newest. A stream that ends or fails turns the interval back on (the
// page polls) and is reopened on the same terms after retryMilliseconds.
(function () {
  "use strict";
  var source = null;
  var notBefore = 0;
  var pending = null;
  var newestEventId = null;

  function open(settings) {
    var clientside = window.dash_clientside;
    source = new EventSource(settings.streamPath);
    source.addEventListener("stats", function (event) {
      clientside.set_props(settings.interval, { disabled: true });
      // One timer at a time, and it sets the newest event: a second event inside the spread must
      // not get its own timer, which could fire first and leave the page on the older stats.
      newestEventId = event.lastEventId;
      if (pending === null) {
        pending = window.setTimeout(function () {
          pending = null;
          clientside.set_props(settings.liveStats, { data: newestEventId });
        }, Math.random() * settings.spreadMilliseconds);
      }
    });
    source.addEventListener("error", function () {
      source.close();
      source = null;
      notBefore = Date.now() + settings.retryMilliseconds;
      clientside.set_props(settings.interval, { disabled: false });
    });
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    live: {
      followStream: function (room, settings) {
        var clientside = window.dash_clientside;
        if (window.EventSource && settings && clientside.set_props && source === null &&
            room === true && Date.now() >= notBefore) {
          open(settings);
        }
        return clientside.no_update;
      },
      tableSwitch: function (nClicks, settings) {
        var shown = Boolean(nClicks) && nClicks % 2 === 1;
        return [!shown, shown ? settings.hideTable : settings.showTable, shown ? "true" : "false"];
      },
    },
  });
})();
