// While an export builds, asks the server for its progress every second and updates the bar and
// its words in place (no page reload); once it is ready, shows the link to the download page.
// An external file (not inline) so the pages' CSP can forbid inline scripts.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box || !box.getAttribute("data-url")) return;
  var url = box.getAttribute("data-url");
  function tick() {
    fetch(url, {credentials: "same-origin"})
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (p) {
        if (!p || !p.state) return;
        box.setAttribute("data-state", p.state);
        document.getElementById("progress-text").textContent = p.text;
        var bar = document.getElementById("progress-bar");
        bar.max = p.categories_total || 1;
        bar.value = p.state === "queued" ? 0 : p.categories_done;
        if (p.state === "queued" || p.state === "building") {
          setTimeout(tick, 1000);
        } else {
          document.getElementById("progress-ready").hidden = false;
        }
      })
      .catch(function () { setTimeout(tick, 3000); });
  }
  setTimeout(tick, 1000);
})();
