// Counts down the wait before another code may be requested, then enables the button.
// An external file (not inline) so the pages' CSP can forbid inline scripts.
(function () {
  "use strict";
  var wait = document.getElementById("wait");
  var button = document.getElementById("resend");
  if (!wait || !button) return;
  var left = parseInt(wait.getAttribute("data-wait") || "0", 10);
  var label = wait.getAttribute("data-label") || "";
  if (!(left > 0)) return;
  var timer = setInterval(function () {
    left -= 1;
    if (left <= 0) {
      clearInterval(timer);
      button.disabled = false;
      wait.textContent = "";
    } else {
      wait.textContent = left + " " + label;
    }
  }, 1000);
})();
