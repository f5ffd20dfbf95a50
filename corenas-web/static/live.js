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
  }
  // The password policy checklist under new-password fields: each rule is ticked off while one
  // types. The same rules as corenas_proto's PasswordRule; the server decides in the end.
  var rules = {
    length: function (p) { return p.length >= 12 && p.length <= 128; },
    printable: function (p) { return /^[\x20-\x7e]*$/.test(p); },
    upper: function (p) { return /[A-Z]/.test(p); },
    lower: function (p) { return /[a-z]/.test(p); },
    digit: function (p) { return /[0-9]/.test(p); },
    special: function (p) { return /[^A-Za-z0-9]/.test(p); }
  };
  document.querySelectorAll("ul.policy[data-policy-for]").forEach(function (list) {
    var input = document.getElementById(list.dataset.policyFor);
    if (!input) return;
    function check() {
      list.querySelectorAll("li[data-rule]").forEach(function (li) {
        var ok = input.value !== "" && rules[li.dataset.rule] && rules[li.dataset.rule](input.value);
        li.classList.toggle("met", !!ok);
      });
    }
    input.addEventListener("input", check);
    check();
  });

  // Sections marked data-live are fetched again and swapped in when what they show changed
  // shape (a drive came or went, a job started or ended, an alert): the server renders them, so
  // the script holds no second copy of the page. The fetch is marked as the page's own read, so
  // it does not keep the session alive.
  var busy = false, again = false;
  function refresh() {
    if (!document.querySelector("[data-live]")) return;
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-CoreNAS-Live": "1" } })
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (el) {
          var next = el.id && fresh.getElementById(el.id);
          if (next) el.replaceWith(document.importNode(next, true));
        });
      })
      .catch(function () {})
      .then(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  var known = {};
  document.querySelectorAll("[data-job-state]").forEach(function (el) { known[el.dataset.jobState] = el.dataset.status || ""; });
  function onJobEvent(j) {
    var shown = Object.prototype.hasOwnProperty.call(known, j.id);
    var ended = active.indexOf(j.status) < 0;
    onJob(j);
    // A new job, or a listed one whose state changed (paused, ended): the server renders the
    // row again (state names, actions, the queue).
    if ((!shown && !ended) || (shown && known[j.id] !== j.status)) {
      known[j.id] = j.status;
      refresh();
    }
  }
  if (!document.querySelector("[data-job], [data-live], [data-job-page]") || !window.EventSource) return;
  var es = new EventSource("/api/v1/events");
  es.addEventListener("job", function (e) { onJobEvent(JSON.parse(e.data)); });
  es.addEventListener("device", refresh);
  es.addEventListener("alert", refresh);
  // Events were missed (the server keeps the newest only): show the current state.
  es.addEventListener("resync", refresh);
  es.addEventListener("end", function () { es.close(); });
})();
