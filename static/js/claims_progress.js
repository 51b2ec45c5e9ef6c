// Settlement batch page: poll the batch's progress JSON and update the bar
// until the batch is settled. No inline script (Content-Security-Policy).
(function () {
  "use strict";
  function start() {
    var box = document.getElementById("batch-progress");
    if (!box) { return; }
    var url = box.getAttribute("data-progress-url");
    var bar = document.getElementById("progress-bar");
    function show(data) {
      bar.value = data.percent;
      bar.textContent = data.percent + "%";
      box.setAttribute("data-status", data.status);
      Object.keys(data).forEach(function (key) {
        var el = box.querySelector('[data-field="' + key + '"]');
        if (el) { el.textContent = data[key]; }
      });
    }
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          show(data);
          if (data.status !== "done") { window.setTimeout(poll, 1000); }
        })
        .catch(function () { window.setTimeout(poll, 5000); });
    }
    if (box.getAttribute("data-status") !== "done") { poll(); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
