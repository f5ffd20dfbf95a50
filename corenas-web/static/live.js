// Live updates for CoreNAS pages: one event stream per page (job progress, device changes).
// The pages are complete without this script; it only saves the reload.
(function () {
  "use strict";
  var lang = document.documentElement.lang || "en";
  var num = new Intl.NumberFormat(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  function size(b) {
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return i === 0 ? b + " B" : num.format(b) + " " + units[i];
  }
  function duration(s) {
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (h > 0) return h + " h " + String(m).padStart(2, "0") + " min";
    if (m > 0) return m + " min " + String(r).padStart(2, "0") + " s";
    return r + " s";
  }
  var active = ["queued", "running", "paused", "hashing"];
  function onJob(j) {
    document.querySelectorAll('[data-job="' + j.id + '"]').forEach(function (el) {
      var bar = el.querySelector("progress");
      if (bar) bar.value = j.percent;
      var pct = el.querySelector(".pct");
      if (pct) pct.textContent = num.format(j.percent) + " %";
      var rate = el.querySelector(".rate");
      if (rate) rate.textContent = j.rate_bps ? size(j.rate_bps) + "/s" : "";
      var eta = el.querySelector(".eta");
      if (eta) eta.textContent = j.eta_seconds != null ? (lang === "de" ? "Rest " : "ETA ") + duration(j.eta_seconds) : "";
    });
    var page = document.querySelector('[data-job-page="' + j.id + '"]');
    // A job page that was rendered while the job ran reloads once it has ended, to show the
    // image and its checksums.
    if (page && page.dataset.active === "1" && active.indexOf(j.status) < 0) {
      page.dataset.active = "0";
      window.location.reload();
      return;
    }
    document.querySelectorAll('[data-job-state="' + j.id + '"]').forEach(function (el) {
      el.dataset.status = j.status;
    });
  }
  if (!document.querySelector("[data-job], #drives") || !window.EventSource) return;
  var es = new EventSource("/api/v1/events");
  es.addEventListener("job", function (e) { onJob(JSON.parse(e.data)); });
  es.addEventListener("device", function () {
    var drives = document.getElementById("drives");
    if (drives) fetch("/api/v1/devices", { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (list) { if (list) drives.dataset.count = String(list.length); });
  });
  es.addEventListener("end", function () { es.close(); });
})();
