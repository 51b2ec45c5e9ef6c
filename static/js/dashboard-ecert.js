// Electronic certificate: fetch a short-lived signed token as a QR code and
// refresh it before it expires. No inline script (strict CSP).
(function () {
  "use strict";
  function setup(card) {
    var url = card.getAttribute("data-ecert-url");
    var img = card.querySelector(".ecert-qr");
    var status = card.querySelector(".ecert-status");
    var button = card.querySelector(".ecert-refresh");
    var left = 0;
    var timer = null;
    function tick() {
      left -= 1;
      if (left <= 5) { load(); return; }
      status.textContent = status.getAttribute("data-valid") + " " + String(left);
    }
    function load() {
      if (timer) { clearInterval(timer); timer = null; }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
        .then(function (data) {
          img.src = data.svg;
          img.setAttribute("data-token", data.token);
          left = data.expires_in;
          status.textContent = status.getAttribute("data-valid") + " " + String(left);
          timer = setInterval(tick, 1000);
        })
        .catch(function () { status.textContent = status.getAttribute("data-error"); });
    }
    button.addEventListener("click", load);
    load();
  }
  document.querySelectorAll("[data-ecert-url]").forEach(setup);
})();
