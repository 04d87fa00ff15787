// The driver's day on one page. Stops open in place (#stop-N); every action is given an
// id here, kept in localStorage first and sent from there, so nothing recorded is lost
// when the network drops or the session ends. The server treats an id it has seen as the
// same action. What is still waiting is shown at the top of the page. A service worker
// (driver-sw.js) keeps the page so that it opens without the network.
(function () {
  "use strict";
  var KEY = "waybill.driver.queue";
  // Stops whose actions the server has taken, by day: a page kept from before shows them done.
  var SENT = "waybill.driver.sent";
  var app, actionsUrl, csrf, sending = false;

  // What the page says, in the driver's language (the page's data-words), "{name}" filled in.
  var WORDS = null;
  function t(key, values) {
    if (WORDS === null) {
      var holder = document.getElementById("driver-app");
      try { WORDS = JSON.parse((holder && holder.dataset.words) || "{}"); } catch (e) { WORDS = {}; }
    }
    var text = WORDS[key] || key;
    Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(String(values[name])); });
    return text;
  }

  function queue() {
    try { return JSON.parse(localStorage.getItem(KEY) || "[]"); } catch (e) { return []; }
  }
  function save(items) { localStorage.setItem(KEY, JSON.stringify(items)); showPending(); }
  function newId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return "a" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }

  function showPending() {
    var items = queue();
    var el = document.getElementById("pending");
    if (!el) { return; }
    el.hidden = items.length === 0;
    el.textContent = (items.length === 1 ? t("pending_one") : t("pending", {n: items.length})) +
      (navigator.onLine ? "" : " " + t("offline"));
  }

  // -- sending ------------------------------------------------------------------------------
  function flush() {
    var items = queue();
    if (sending || !items.length || !navigator.onLine) { showPending(); return; }
    sending = true;
    var batch = items.slice(0, 50);
    fetch(actionsUrl, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify({actions: batch.map(function (a) { return a.body; })})
    }).then(function (response) {
      if (response.status === 401 || response.redirected || response.status === 403) {
        document.getElementById("signed-out").hidden = false;  // keep the queue; sign in again
        throw new Error("signed out");
      }
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    }).then(function (answer) {
      var answered = {};
      answer.results.forEach(function (r) { answered[r.id] = r; });
      var sent = sentStops();
      batch.forEach(function (a) { if (answered[a.body.id] && answered[a.body.id].ok) { sent.stops.push(a.stop); } });
      localStorage.setItem(SENT, JSON.stringify(sent));
      save(queue().filter(function (a) { return !answered[a.body.id]; }));
      answer.results.forEach(function (r) {
        var item = batch.filter(function (a) { return a.body.id === r.id; })[0];
        if (item && !r.ok) { refused(item.stop, r.message); }
      });
      sending = false;
      if (queue().length) { flush(); }
    }).catch(function () {
      sending = false;
      showPending();
    });
  }

  function sentStops() {
    var day = app.dataset.day, kept;
    try { kept = JSON.parse(localStorage.getItem(SENT) || "{}"); } catch (e) { kept = {}; }
    return kept.day === day ? kept : {day: day, stops: []};
  }

  function refused(stopId, message) {
    var section = document.getElementById("stop-" + stopId);
    var row = document.getElementById("row-" + stopId);
    if (row) { row.classList.remove("done"); row.querySelector(".state").textContent = "!"; }
    if (!section) { return; }
    section.querySelectorAll("form, details.fail").forEach(function (f) { f.hidden = false; });
    section.querySelector(".done-note").hidden = true;
    var error = section.querySelector(".form-error");
    if (error) { error.hidden = false; error.textContent = t("not_recorded", {message: message}); }
  }

  function enqueue(stopId, body) {
    body.id = newId();
    body.captured_at = new Date().toISOString();
    var items = queue();
    items.push({stop: stopId, body: body});
    save(items);
    markDone(stopId);
    location.hash = "";
    flush();
  }

  function markDone(stopId) {
    var row = document.getElementById("row-" + stopId);
    var section = document.getElementById("stop-" + stopId);
    if (!row || !section) { return; }
    row.classList.add("done");
    row.querySelector(".state").textContent = t("done");
    section.querySelectorAll("form, details.fail").forEach(function (f) { f.hidden = true; });
    section.querySelector(".done-note").hidden = false;
    var total = 0, done = 0;  // parcels, not stops
    document.querySelectorAll("#stops li").forEach(function (li) {
      var n = Number(li.dataset.parcels) || 1;
      total += n;
      if (li.classList.contains("done")) { done += n; }
    });
    document.getElementById("progress").textContent = t("progress", {done: done, left: total - done});
  }

  // -- position and photos ------------------------------------------------------------------
  function withPosition(body, then) {
    if (!navigator.geolocation) { then(body); return; }
    var finished = false;
    var done = function () { if (!finished) { finished = true; then(body); } };
    navigator.geolocation.getCurrentPosition(function (p) {
      body.lat = p.coords.latitude; body.lon = p.coords.longitude; done();
    }, done, {timeout: 4000, maximumAge: 60000});
    setTimeout(done, 4500);
  }

  function withPhoto(input, body, then) {
    var file = input && input.files && input.files[0];
    if (!file) { then(body); return; }
    var reader = new FileReader();  // a data: URL (the CSP lets images come from data:, not blob:)
    reader.onerror = function () { then(body); };
    reader.onload = function () {
      var img = new Image();
      img.onload = function () {  // shrink to 1280 px so the queue stays small
        var scale = Math.min(1, 1280 / Math.max(img.width, img.height));
        var canvas = document.createElement("canvas");
        canvas.width = Math.round(img.width * scale); canvas.height = Math.round(img.height * scale);
        canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
        body.photo = canvas.toDataURL("image/jpeg", 0.7);
        then(body);
      };
      img.onerror = function () { then(body); };
      img.src = reader.result;
    };
    reader.readAsDataURL(file);
  }

  // -- the camera (ZXing, loaded the first time it is asked for) -------------------------------
  var scanner = null, scanning = null;

  function loadScanner(then) {
    if (window.ZXingBrowser) { then(); return; }
    var script = document.createElement("script");
    script.src = app.dataset.scanner;
    script.onload = then;
    script.onerror = function () { window.alert(t("no_scanner")); };
    document.head.appendChild(script);
  }

  function stopCamera() {
    if (scanning) { scanning.stop(); scanning = null; }
    document.getElementById("camera").hidden = true;
  }

  // Fill ``input`` with the first code the camera reads, then hand it to ``done``.
  function scanWithCamera(input, done) {
    loadScanner(function () {
      var video = document.getElementById("camera");
      input.closest("form").insertBefore(video, input.closest("label").nextSibling);
      video.hidden = false;
      scanner = scanner || new ZXingBrowser.BrowserMultiFormatReader();
      scanner.decodeFromVideoDevice(undefined, video, function (result, error, controls) {
        scanning = controls;
        if (result) {
          stopCamera();
          input.value = result.getText();
          if (done) { done(); }
        }
      }).then(function (controls) { scanning = controls; }).catch(function (e) {
        video.hidden = true;
        window.alert(t("no_camera", {error: e.name}));
      });
    });
  }

  // -- the stops ------------------------------------------------------------------------------
  function show() {
    stopCamera();
    var id = location.hash.replace("#stop-", "");
    document.querySelectorAll(".stop-detail").forEach(function (s) { s.hidden = s.dataset.stop !== id; });
    document.getElementById("stops").hidden = !!document.getElementById("stop-" + id);
    var open = document.getElementById("stop-" + id);
    if (open) { window.scrollTo(0, 0); resizePads(open); }
  }

  var pads = {};
  function resizePads(section) {
    section.querySelectorAll("canvas.pad").forEach(function (canvas) {
      var ratio = Math.max(window.devicePixelRatio || 1, 1);
      canvas.width = canvas.offsetWidth * ratio;
      canvas.height = canvas.offsetHeight * ratio;
      canvas.getContext("2d").scale(ratio, ratio);
      if (pads[section.dataset.stop]) { pads[section.dataset.stop].clear(); }
    });
  }

  function setUpDelivery(section) {
    var stopId = section.dataset.stop;
    var canvas = section.querySelector("canvas.pad");
    if (canvas && window.SignaturePad) {
      pads[stopId] = new SignaturePad(canvas, {penColor: "#0b0f14"});
      section.querySelector("button.clear").addEventListener("click", function () { pads[stopId].clear(); });
    }
    var form = section.querySelector("form.deliver-form");
    form.querySelector("button.camera").addEventListener("click", function () { scanWithCamera(form.scan); });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var error = form.querySelector(".form-error");
      var scanned = form.scan.value.trim().toUpperCase().replace(/\s+/g, "");
      if (scanned !== section.dataset.number) {
        error.hidden = false;
        error.textContent = t("not_this_parcel", {number: section.dataset.number});
        return;
      }
      var pad = pads[stopId];
      if (pad && pad.isEmpty()) {
        error.hidden = false; error.textContent = t("ask_signature"); return;
      }
      if (section.dataset.kind === "return") {  // handed back to the shop, which signs
        error.hidden = true;
        var back = {type: "return", shipment_id: Number(section.dataset.shipment),
                    received_by: form.recipient_name.value.trim(), signature_svg: pad ? pad.toSVG() : null};
        withPosition(back, function (b) { enqueue(stopId, b); });
        return;
      }
      var body = {type: "deliver", shipment_id: Number(section.dataset.shipment),
                  recipient_name: form.recipient_name.value.trim(), relation: form.relation.value,
                  signature_svg: pad ? pad.toSVG() : null};
      if (form.delivery_code) { body.delivery_code = form.delivery_code.value.trim(); }
      if (form.cod_due) {
        var received = Number(String(form.cod_received.value).replace(/[^0-9]/g, ""));
        if (!(received >= 0) || String(form.cod_received.value).trim() === "") {
          error.hidden = false; error.textContent = t("enter_amount"); return;
        }
        body.cod_received = received; body.cod_method = form.cod_method.value;
        if (received !== Number(form.cod_due.value)) {
          var why = form.cod_difference_reason.value.trim();
          if (!why) {
            error.hidden = false;
            error.textContent = t("amount_differs");
            return;
          }
          body.cod_difference_reason = why;
        }
      }
      error.hidden = true;
      withPhoto(form.photo, body, function (b) { withPosition(b, function (b2) { enqueue(stopId, b2); }); });
    });
    var fail = section.querySelector("form.fail-form");
    if (!fail) { return; }  // a return has no failed attempt
    fail.addEventListener("submit", function (e) {
      e.preventDefault();
      var body = {type: "fail", shipment_id: Number(section.dataset.shipment), reason: fail.reason.value,
                  note: fail.note.value.trim()};
      withPhoto(fail.photo, body, function (b) { withPosition(b, function (b2) { enqueue(stopId, b2); }); });
    });
  }

  function setUpPickup(section) {
    var stopId = section.dataset.stop;
    var expected = JSON.parse(section.dataset.expected || "[]");
    var scanned = {};
    var form = section.querySelector("form.pickup-form");
    var error = form.querySelector(".form-error");
    function count() {
      var missing = expected.filter(function (n) { return !scanned[n]; }).length;
      form.querySelector(".missing-count").textContent = missing;
    }
    form.scan.addEventListener("keydown", function (e) {
      if (e.key !== "Enter") { return; }
      e.preventDefault();
      take();
    });
    form.querySelector("button.camera").addEventListener("click", function () { scanWithCamera(form.scan, take); });
    function take() {
      var number = form.scan.value.trim().toUpperCase().replace(/\s+/g, "");
      form.scan.value = "";
      if (!number) { return; }
      if (expected.indexOf(number) < 0) {
        error.hidden = false; error.textContent = t("not_expected", {number: number}); return;
      }
      error.hidden = true;
      scanned[number] = true;
      var li = form.querySelector('li[data-number="' + number + '"]');
      if (li) { li.classList.add("scanned"); }
      count();
    }
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var numbers = Object.keys(scanned);
      if (!numbers.length) { error.hidden = false; error.textContent = t("scan_first"); return; }
      withPosition({type: "pickup", pickup_run_id: Number(section.dataset.run), scanned: numbers},
                   function (b) { enqueue(stopId, b); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    app = document.getElementById("driver-app");
    if (!app) { return; }
    actionsUrl = app.dataset.actionsUrl;
    csrf = document.querySelector('meta[name="csrf-token"]').content;
    document.querySelectorAll(".stop-detail").forEach(function (section) {
      if (section.dataset.kind === "pickup") { setUpPickup(section); } else { setUpDelivery(section); }
      section.querySelector(".back").addEventListener("click", function (e) { e.preventDefault(); location.hash = ""; });
    });
    queue().forEach(function (a) { markDone(a.stop); });  // recorded here, not yet sent
    sentStops().stops.forEach(function (stop) { markDone(String(stop)); });  // sent since this copy was made
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register(app.dataset.worker);
      navigator.serviceWorker.ready.then(function (registration) {  // keep this first load too
        var assets = Array.prototype.map.call(
          document.querySelectorAll("script[src], link[rel=stylesheet][href]"),
          function (el) { return el.src || el.href; });
        registration.active.postMessage({keep: [location.pathname].concat(assets)});
      });
    }
    var signOut = document.querySelector("form.who");
    if (signOut) {  // nothing of the day stays on a phone that is signed out
      signOut.addEventListener("submit", function (e) {
        var waiting = queue().length;
        if (waiting && !window.confirm(waiting + " recorded actions have not been sent yet and will be lost. Sign out anyway?")) {
          e.preventDefault();
          return;
        }
        localStorage.removeItem(KEY);
        localStorage.removeItem(SENT);
        if (window.caches) { caches.delete("waybill-driver-v1"); }
      });
    }
    window.addEventListener("hashchange", show);
    window.addEventListener("online", flush);
    window.addEventListener("offline", showPending);
    setInterval(flush, 15000);
    show();
    flush();
  });
})();
