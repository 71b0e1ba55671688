// Gridwork console: draws the maps (Leaflet; tiles only when the server was given --map-tiles,
// otherwise grid boundaries and points on a plain background). No inline script anywhere: the
// content security policy allows scripts from the server itself only.
(function () {
  "use strict";

  function drawMap(el) {
    if (el.dataset.drawn || typeof L === "undefined") return;
    el.dataset.drawn = "1";
    var data;
    try { data = JSON.parse(el.dataset.map); } catch (e) { return; }
    var tiles = document.getElementById("map-tiles");
    var map = L.map(el, { attributionControl: !!tiles, zoomSnap: 0.25 });
    if (tiles && tiles.dataset.url) {
      L.tileLayer(tiles.dataset.url, { maxZoom: 19 }).addTo(map);
    } else {
      el.classList.add("plain");
    }
    var bounds = [];
    (data.grids || []).forEach(function (g) {
      (g.rings || []).forEach(function (ring) {
        var poly = L.polygon(ring, { color: "#1f5fa8", weight: 2, fillOpacity: 0.08 }).addTo(map);
        poly.bindTooltip(g.name);
        ring.forEach(function (p) { bounds.push(p); });
      });
    });
    (data.points || []).forEach(function (p) {
      var m = L.circleMarker([p.lat, p.lon], { radius: 7, color: "#b3261e", weight: 2, fillOpacity: 0.7 }).addTo(map);
      m.bindTooltip(p.label);
      bounds.push([p.lat, p.lon]);
    });
    if (bounds.length === 1) {
      map.setView(bounds[0], 16);
    } else if (bounds.length > 1) {
      map.fitBounds(bounds, { padding: [16, 16], maxZoom: 17 });
    } else {
      map.setView([36.665, 117.02], 13);
    }
  }

  function drawMaps(root) {
    (root || document).querySelectorAll(".map[data-map]").forEach(drawMap);
  }

  document.addEventListener("DOMContentLoaded", function () { drawMaps(document); });
  document.addEventListener("htmx:afterSwap", function (e) { drawMaps(e.target); });
})();
