// Live updates: one EventSource per page (each stream holds a server thread, and browsers allow
// only six connections per origin). A new stats event pokes a Dash store so the page re-renders
// at once instead of at the next interval tick; the interval stays as the fallback.
(function () {
  "use strict";
  if (!window.EventSource) {
    return;
  }
  function connect() {
    var clientside = window.dash_clientside;
    if (!clientside || !clientside.set_props || !document.getElementById("live-stats-ready")) {
      window.setTimeout(connect, 200);
      return;
    }
    var source = new EventSource("/api/stats/realtime");
    source.addEventListener("stats", function (event) {
      clientside.set_props("live-stats", { data: event.lastEventId });
    });
  }
  connect();
})();
