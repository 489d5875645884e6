// The interactive day in the browser: the viewer's time zone for the page (a clientside callback,
// aurora/layouts/interactive_day_callbacks.py), and Escape closing the hour panel (by clicking its Close
// button, so the address is cleared by the same callback as a click). The ids are
// aurora/layouts/ids.py's HOUR_PANEL and HOUR_PANEL_CLOSE.
(function () {
  "use strict";
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    aurora: {
      browserZone: function () {
        var zone = null;
        try {
          zone = Intl.DateTimeFormat().resolvedOptions().timeZone || null;
        } catch (error) {
          zone = null;
        }
        return { zone: zone, offsetMinutes: -new Date().getTimezoneOffset() };
      },
    },
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") {
      return;
    }
    var panel = document.getElementById("hour-panel");
    var close = document.getElementById("hour-panel-close");
    if (panel !== null && close !== null && !panel.hidden) {
      close.click();
    }
  });
})();
