// The public map: rounded points of the cases that match the filters (no text), on the city's tiles when set,
// else on a blank background. Leaflet is served from /static/vendor/leaflet (no CDN).
(function () {
  "use strict";
  var el = document.getElementById("public-map");
  if (!el || typeof L === "undefined") { if (el) { el.style.display = "none"; } return; }
  var map = L.map(el, { zoomControl: true }).setView([29.58, 106.54], 12);
  if (el.dataset.tiles) {
    L.tileLayer(el.dataset.tiles, { attribution: el.dataset.attribution || "", maxZoom: 19 }).addTo(map);
  }
  fetch(el.dataset.points, { credentials: "same-origin" })
    .then(function (res) { return res.json(); })
    .then(function (data) {
      var bounds = [];
      data.points.forEach(function (p) {
        var marker = L.circleMarker([p.lat, p.lng], { radius: 6, weight: 1 });
        var link = document.createElement("a");
        link.href = "/cases/" + encodeURIComponent(p.case_number);
        link.textContent = p.category + " · " + p.status_label;
        marker.bindPopup(link);
        marker.addTo(map);
        bounds.push([p.lat, p.lng]);
      });
      if (bounds.length) { map.fitBounds(bounds, { maxZoom: 16, padding: [20, 20] }); }
      el.dataset.loaded = String(data.points.length);
    });
})();
