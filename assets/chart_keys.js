// Choosing an hour on the chart itself, by mouse or keyboard. Each commands bar is a focusable
// button (Tab reaches it, the arrows move between hours, Enter or Space opens its panel, its hover
// shows while it has the focus); each hour in the "Show as table" table is a button too. Both hand
// their hour to the chart's clickData, so the one callback that answers a click on a bar
// (aurora/layouts/interactive_day_callbacks.py) answers them. After a choice the hour panel is scrolled into
// view once its hour is in the address. The ids are aurora/layouts/ids.py's ACTIVITY_CHART and
// HOUR_PANEL; the hours are the bars' customdata ("2026-11-28T14:00:00Z"), the address "#hour=2026-11-28T14:00Z".
(function () {
  "use strict";
  var CHART = "activity-chart";
  var PANEL = "hour-panel";
  var clickWatched = new WeakSet();
  // The address when a choice was made: the panel is scrolled to once the address has moved on.
  var scrollFrom = /^#hour=/.test(window.location.hash) ? "" : null;
  var scheduled = false;

  function addressHour(hour) {
    return "#hour=" + hour.slice(0, 16) + "Z";
  }

  function choose(hour) {
    scrollFrom = window.location.hash;
    window.dash_clientside.set_props(CHART, { clickData: { points: [{ customdata: hour }] } });
  }

  function chartOf(element) {
    return element.closest(".js-plotly-plot");
  }

  function decorateBars(graph) {
    var trace = graph.data && graph.data[0];
    var layer = graph.querySelector(".barlayer .trace.bars");
    if (!trace || !layer || !trace.customdata) {
      return;
    }
    if (!clickWatched.has(graph) && graph.on) {
      clickWatched.add(graph);
      graph.on("plotly_click", function () {
        scrollFrom = window.location.hash;
      });
    }
    layer.querySelectorAll(".point path").forEach(function (bar, index) {
      var hour = trace.customdata[index];
      if (bar.getAttribute("data-hour") !== hour) {
        bar.setAttribute("data-hour", hour);
        bar.setAttribute("data-index", String(index));
        bar.setAttribute("tabindex", "0");
        bar.setAttribute("role", "button");
      }
      bar.setAttribute("aria-label", "Details of " + trace.hovertext[index]);
      bar.setAttribute("aria-pressed", String(addressHour(hour) === window.location.hash));
    });
  }

  function scrollToPanel() {
    var panel = document.getElementById(PANEL);
    var hash = window.location.hash;
    if (scrollFrom === null || panel === null) {
      return;
    }
    if (!/^#hour=/.test(hash)) {
      if (hash !== scrollFrom) {
        scrollFrom = null; // closed by that choice: nothing to show
      }
      return;
    }
    if (hash !== scrollFrom && !panel.hidden) {
      scrollFrom = null;
      var still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      panel.scrollIntoView({ block: "nearest", behavior: still ? "auto" : "smooth" });
    }
  }

  function decorate() {
    scheduled = false;
    var graph = document.querySelector("#" + CHART + " .js-plotly-plot");
    if (graph !== null) {
      decorateBars(graph);
    }
    document.querySelectorAll("button[data-hour]").forEach(function (button) {
      var pressed = addressHour(button.getAttribute("data-hour")) === window.location.hash;
      button.setAttribute("aria-pressed", String(pressed));
    });
    scrollToPanel();
  }

  new MutationObserver(function () {
    if (!scheduled) {
      scheduled = true;
      window.requestAnimationFrame(decorate);
    }
  }).observe(document.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: ["hidden"] });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-hour]");
    if (button !== null && button !== undefined) {
      choose(button.getAttribute("data-hour"));
    }
  });

  document.addEventListener("keydown", function (event) {
    var bar = event.target;
    if (!(bar instanceof SVGElement) || !bar.hasAttribute("data-hour")) {
      return;
    }
    var step = { ArrowLeft: -1, ArrowRight: 1 }[event.key];
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      choose(bar.getAttribute("data-hour"));
    } else if (step !== undefined) {
      var next = bar.closest(".points").querySelector('[data-index="' + (Number(bar.getAttribute("data-index")) + step) + '"]');
      if (next !== null) {
        event.preventDefault();
        next.focus();
      }
    }
  });

  // The focused bar shows its hover, as the mouse would (Plotly.Fx.hover is plotly.js's own).
  document.addEventListener("focusin", function (event) {
    var bar = event.target;
    if (bar instanceof SVGElement && bar.hasAttribute("data-index") && window.Plotly) {
      window.Plotly.Fx.hover(chartOf(bar), [{ curveNumber: 0, pointNumber: Number(bar.getAttribute("data-index")) }]);
    }
  });
  document.addEventListener("focusout", function (event) {
    var bar = event.target;
    if (bar instanceof SVGElement && bar.hasAttribute("data-index") && window.Plotly) {
      window.Plotly.Fx.unhover(chartOf(bar));
    }
  });
})();
