// The request form shows only what the chosen request type needs (categories for access and
// deletion, the fields to correct for a correction). Without this script every part stays
// visible and the form still works. External file: the pages allow no inline script (CSP).
(function () {
  "use strict";
  var form = document.getElementById("request-form");
  if (!form) { return; }
  var parts = form.querySelectorAll("[data-types]");
  function chosen() {
    var checked = form.querySelector("input[name=type]:checked");
    return checked ? checked.value : "";
  }
  function update() {
    var type = chosen();
    for (var i = 0; i < parts.length; i++) {
      var wanted = parts[i].getAttribute("data-types").split(" ");
      parts[i].hidden = wanted.indexOf(type) < 0;
    }
  }
  var radios = form.querySelectorAll("input[name=type]");
  for (var j = 0; j < radios.length; j++) { radios[j].addEventListener("change", update); }
  update();
})();
