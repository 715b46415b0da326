// Counts down the resend cool-down on the code page; the button is enabled when it ends.
// The server decides too: this only saves a pointless tap. No inline script (CSP).
(function () {
  "use strict";
  var button = document.getElementById("resend");
  var label = document.getElementById("wait");
  if (!button || !label) { return; }
  var left = parseInt(button.getAttribute("data-wait") || "0", 10);
  var suffix = label.getAttribute("data-suffix") || "";
  if (!(left > 0)) { return; }
  var timer = setInterval(function () {
    left -= 1;
    if (left <= 0) {
      clearInterval(timer);
      button.disabled = false;
      label.textContent = "";
    } else {
      label.textContent = left + " " + suffix;
    }
  }, 1000);
})();
