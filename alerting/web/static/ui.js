// Live alerts: the server tells this page (server-sent events) that the tenant's alerts
// changed; the page fetches its alert list again, filtered and grouped as shown.
(function () {
  "use strict";
  var box = document.getElementById("alerts");
  if (!box || !window.EventSource) { return; }
  var pending = false, again = false;
  function refresh() {
    // A change during a fetch is fetched again after it: the last one is always shown.
    if (pending) { again = true; return; }
    pending = true;
    fetch(box.dataset.fragment, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { box.innerHTML = html; })
      .catch(function () { /* the next event tries again */ })
      .finally(function () {
        pending = false;
        if (again) { again = false; refresh(); }
      });
  }
  // EventSource reconnects by itself, sending Last-Event-ID so nothing is missed.
  var source = new EventSource(box.dataset.live);
  source.addEventListener("alert", refresh);
})();
