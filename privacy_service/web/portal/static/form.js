// The request form shows only what the chosen request type needs (categories for access and
// deletion, the fields to correct for a correction), and the requester's own name and contact
// only when the request is for someone else. Without this script every part stays
// visible and the form still works. External file: the pages allow no inline script (CSP).
(function () {
  "use strict";
  var form = document.getElementById("request-form");
  if (!form) { return; }
  function chosen(name) {
    var checked = form.querySelector("input[name=" + name + "]:checked");
    return checked ? checked.value : "";
  }
  function show(attribute, value) {
    var parts = form.querySelectorAll("[" + attribute + "]");
    for (var i = 0; i < parts.length; i++) {
      var wanted = parts[i].getAttribute(attribute).split(" ");
      parts[i].hidden = wanted.indexOf(value) < 0;
    }
  }
  function update() {
    show("data-types", chosen("type"));
    show("data-who", chosen("for"));
  }
  var radios = form.querySelectorAll("input[name=type], input[name=for]");
  for (var j = 0; j < radios.length; j++) { radios[j].addEventListener("change", update); }
  update();
})();
