// The driver's service worker: the day's page and what it loads are kept on the phone so
// the page opens without the network. The page itself is asked for first (it changes as
// the day goes); when the network is down the copy from its last load is shown, and the
// actions queue (driver.js) does the rest. Assets are served from the copy and refreshed.
var CACHE = "waybill-driver-v1";

self.addEventListener("install", function () { self.skipWaiting(); });

// The page that registered this worker loaded before the worker existed, so nothing of
// it passed through here: it sends its address and its assets to be kept at once, and
// the page opens offline after its very first load.
self.addEventListener("message", function (event) {
  var keep = event.data && event.data.keep;
  if (!Array.isArray(keep)) { return; }
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return Promise.all(keep.map(function (address) {
      var url = new URL(address, self.location.origin);
      if (url.origin !== self.location.origin) { return null; }
      return fetch(url.href, {credentials: "same-origin"}).then(function (response) {
        if (!response.ok || response.redirected) { return null; }
        return cache.put(url.pathname.indexOf("/driver/") === 0 ? url.pathname : url.href, response);
      }).catch(function () { return null; });
    }));
  }));
});
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

function isAsset(url) {
  return url.pathname.indexOf("/static/") === 0 || url.pathname.indexOf("/vendor/") === 0;
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate" && url.pathname.indexOf("/driver/") === 0) {
    event.respondWith(fetch(request).then(function (response) {
      if (response.ok && !response.redirected) {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { cache.put(url.pathname, copy); });
      }
      return response;
    }).catch(function () {
      return caches.match(url.pathname).then(function (kept) {
        return kept || new Response("Offline, and this page was never opened here.",
                                    {status: 503, headers: {"Content-Type": "text/plain"}});
      });
    }));
  } else if (isAsset(url)) {
    event.respondWith(caches.open(CACHE).then(function (cache) {
      return cache.match(request).then(function (kept) {
        var fresh = fetch(request).then(function (response) {
          if (response.ok) { cache.put(request, response.clone()); }
          return response;
        });
        return kept || fresh;
      });
    }));
  }
});
