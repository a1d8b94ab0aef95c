// box-mcp console: progressive enhancement only. Every page works without it.
// The approvals page polls a small JSON feed and reloads when the set of waiting requests changes.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) { return; }
  var feed = live.getAttribute("data-feed");
  var shown = live.getAttribute("data-pending") || "";
  var polls = 0;
  function busy() {
    var el = document.activeElement;
    return el && (el.tagName === "TEXTAREA" || el.tagName === "INPUT");
  }
  function poll() {
    polls += 1;
    if (polls > 2000) { live.textContent = "reload for updates"; return; }
    fetch(feed, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data && data.pending.join(",") !== shown && !busy()) { window.location.reload(); return; }
        window.setTimeout(poll, 3000);
      })
      .catch(function () { window.setTimeout(poll, 10000); });
  }
  window.setTimeout(poll, 3000);
})();
