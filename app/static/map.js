// Maps of the console, drawn with Leaflet (from npm) from the data-* attributes of each
// [data-map] element: data-hubs (JSON list of {code, name, kind, lat, lon, radius_km}),
// optional data-route (JSON list of [lat, lon] points, planned), data-actual (the points
// where the parcel was scanned, drawn dashed), data-routes (JSON list of {label, points}:
// drivers' tours, one colour each, stops numbered) and data-tiles (a tile URL template;
// empty draws on a plain background, for networks without the internet). Maps are drawn
// when the page loads and when htmx swaps new content in.
(function () {
  var COLOURS = ["#1b7a3a", "#b35c00", "#6a3d9a", "#0b7285", "#c2255c", "#5c940d", "#1864ab", "#862e9c"];

  function draw(el) {
    if (el.dataset.ready) { return; }
    var hubs = JSON.parse(el.dataset.hubs || "[]");
    var route = JSON.parse(el.dataset.route || "[]");
    var map = L.map(el, {scrollWheelZoom: false, maxZoom: 18});
    if (el.dataset.tiles) {
      L.tileLayer(el.dataset.tiles, {maxZoom: 18, attribution: "© OpenStreetMap contributors"}).addTo(map);
    } else {
      el.classList.add("map-plain");
    }
    var bounds = [];
    hubs.forEach(function (h) {
      var centre = h.kind === "shipping_centre";
      L.circle([h.lat, h.lon], {radius: h.radius_km * 1000, weight: 1, color: centre ? "#b3261e" : "#12508c",
                                fillOpacity: 0.08, className: "hub-area"}).addTo(map);
      L.circleMarker([h.lat, h.lon], {radius: 6, weight: 2, color: centre ? "#b3261e" : "#12508c",
                                      fillOpacity: 0.9, className: "hub-point"})
        .bindTooltip(h.code + " · " + h.name + " · " + h.radius_km + " km").addTo(map);
      bounds.push([h.lat, h.lon]);
    });
    if (route.length) {
      L.polyline(route, {color: "#1b7a3a", weight: 4, className: "route"}).addTo(map);
      route.forEach(function (p) { bounds.push(p); });
    }
    var actual = JSON.parse(el.dataset.actual || "[]");
    if (actual.length) {
      L.polyline(actual, {color: "#333", weight: 3, dashArray: "6 6", className: "actual-route"}).addTo(map);
      actual.forEach(function (p) {
        L.circleMarker(p, {radius: 4, weight: 1, color: "#333", fillOpacity: 1, className: "scan-point"}).addTo(map);
        bounds.push(p);
      });
    }
    JSON.parse(el.dataset.routes || "[]").forEach(function (r, i) {
      var colour = COLOURS[i % COLOURS.length];
      L.polyline(r.points, {color: colour, weight: 3, className: "sheet-route"}).addTo(map);
      r.points.slice(1, -1).forEach(function (p, k) {
        L.circleMarker(p, {radius: 5, weight: 1, color: colour, fillOpacity: 0.9, className: "stop-point"})
          .bindTooltip(r.label + " · stop " + (k + 1)).addTo(map);
        bounds.push(p);
      });
    });
    if (bounds.length > 1) {
      map.fitBounds(bounds, {padding: [30, 30], maxZoom: 15});
    } else {
      map.setView(bounds[0] || [10.78, 106.7], 12);  // one hub (a hub operator's), or none
    }
    el.dataset.ready = "1";
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-map]").forEach(draw);
  });
  document.addEventListener("htmx:load", function (e) {
    if (window.L) { e.detail.elt.querySelectorAll("[data-map]").forEach(draw); }
  });
})();
