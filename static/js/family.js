// Family accounts: the account switcher submits on change; the yearly cap
// field is shown only when paying is allowed. No inline scripts (CSP).
(function () {
  "use strict";
  document.querySelectorAll("[data-family-switcher]").forEach(function (form) {
    var select = form.querySelector("select");
    var button = form.querySelector("[data-switch-button]");
    if (button) { button.hidden = true; }
    select.addEventListener("change", function () { form.submit(); });
  });
  var add = document.querySelector("[data-family-add]");
  if (add) {
    var pay = add.querySelector("input[name=scope_pay]");
    var cap = add.querySelector("[data-pay-cap]");
    var sync = function () { cap.hidden = !pay.checked; };
    pay.addEventListener("change", sync);
    sync();
  }
})();
