// Live updates: one EventSource per page (browsers allow only six connections per origin). A new
// stats event pokes a Dash store so the page re-renders at once instead of at the next interval
// tick; the interval stays as the fallback. A stream is opened only while the server says it has
// room for one (the hidden #live-stats-ready element's data-streams, updated at every refresh), so
// a full server means polling rather than a refused request; a stream that ends (its lifetime is
// over) or fails is reopened on the same terms, after a pause. Every open page gets an event at the
// same moment: each waits a random moment of up to SPREAD_MILLISECONDS before asking for the new
// figures, so the server sees them asked over a few seconds rather than in one burst
// (bench.viewers --pages waits the same). The names and values below are aurora/ids.py's LIVE_*
// and aurora/stream.py's RETRY_MILLISECONDS.
(function () {
  "use strict";
  if (!window.EventSource) {
    return;
  }
  var RETRY_MILLISECONDS = 5000;
  var CHECK_MILLISECONDS = 1000;
  var SPREAD_MILLISECONDS = 2000;
  var source = null;
  var notBefore = 0;

  function serverHasRoom() {
    var ready = document.getElementById("live-stats-ready");
    return ready !== null && ready.getAttribute("data-streams") === "open";
  }

  function open(clientside) {
    source = new EventSource("/api/stats/realtime");
    source.addEventListener("stats", function (event) {
      var eventId = event.lastEventId;
      window.setTimeout(function () {
        clientside.set_props("live-stats", { data: eventId });
      }, Math.random() * SPREAD_MILLISECONDS);
    });
    source.addEventListener("error", function () {
      source.close();
      source = null;
      notBefore = Date.now() + RETRY_MILLISECONDS;
    });
  }

  window.setInterval(function () {
    var clientside = window.dash_clientside;
    if (source === null && Date.now() >= notBefore && clientside && clientside.set_props && serverHasRoom()) {
      open(clientside);
    }
  }, CHECK_MILLISECONDS);
})();
