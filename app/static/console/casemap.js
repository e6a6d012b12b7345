/* The console's case map: grid outlines, clustered case markers, tiles only when MAP_TILE_URL is set. */
(function () {
  "use strict";
  var COLORS = {reported: "#f79009", registered: "#fdb022", dispatched: "#2e90fa", handled: "#7a5af8",
    verified: "#12b76a", closed: "#067647", cancelled: "#98a2b3"};

  function baseMap(el, opts) {
    var map = L.map(el, {preferCanvas: false, zoomSnap: 0.5, maxZoom: 19});
    if (opts.tileUrl) {
      L.tileLayer(opts.tileUrl, {maxZoom: 19, attribution: opts.attribution || "", subdomains: "abc"}).addTo(map);
    } else {
      el.classList.add("blank");
    }
    return map;
  }

  function outlines(map, url, fit) {
    return fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (fc) {
      var layer = L.geoJSON(fc, {
        style: function (f) {
          return {color: f.properties.level <= 2 ? "#475467" : "#98a2b3", weight: f.properties.level <= 2 ? 1.5 : 0.8,
            fill: false};
        },
        onEachFeature: function (f, l) { l.bindTooltip(f.properties.name, {sticky: true}); }
      }).addTo(map);
      if (fit && layer.getBounds().isValid()) { map.fitBounds(layer.getBounds()); }
      return layer;
    });
  }

  function marker(p, caseUrl) {
    var m = L.circleMarker([p[2], p[3]], {radius: 7, color: "#fff", weight: 2, fillOpacity: 0.9,
      fillColor: p[5] ? "#d92d20" : (COLORS[p[4]] || "#2e90fa")});
    var a = document.createElement("a");
    a.href = caseUrl.replace("0", String(p[0]));
    a.textContent = p[1];
    var box = document.createElement("div");
    box.appendChild(a);
    box.appendChild(document.createTextNode(" " + p[6] + (p[5] ? "（超期）" : "")));
    m.bindPopup(box);
    return m;
  }

  window.caseMap = function (el, opts) {
    var map = baseMap(el, opts);
    map.setView([29.63, 106.66], 12);
    var ready = outlines(map, opts.gridsUrl, true);
    var cluster = L.markerClusterGroup({chunkedLoading: true, showCoverageOnHover: false});
    map.addLayer(cluster);
    fetch(opts.pointsUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (d) {
      var markers = d.points.map(function (p) { return marker(p, opts.caseUrl); });
      cluster.addLayers(markers);
      el.setAttribute("data-points", String(d.points.length));
      var note = document.getElementById("map-note");
      if (note) {
        note.textContent = "共显示 " + d.points.length + " 件" + (d.truncated ? "（只显示前 " + d.limit + " 件，请缩小筛选范围）" : "");
      }
      ready.then(function () { if (markers.length) { map.fitBounds(cluster.getBounds(), {maxZoom: 16}); } });
    });
    return map;
  };

  window.singleCaseMap = function (el, opts) {
    var map = baseMap(el, opts);
    map.setView([opts.lat, opts.lng], 16);
    outlines(map, opts.gridsUrl, false);
    L.circleMarker([opts.lat, opts.lng], {radius: 9, color: "#fff", weight: 3, fillColor: "#d92d20", fillOpacity: 1})
      .addTo(map).bindTooltip(opts.number, {permanent: false});
    el.setAttribute("data-points", "1");
    return map;
  };

  // The pages carry their options in data-options (no inline script: the CSP allows none).
  function start() {
    document.querySelectorAll("[data-map]").forEach(function (el) {
      var opts = JSON.parse(el.getAttribute("data-options") || "{}");
      if (el.getAttribute("data-map") === "single") { window.singleCaseMap(el, opts); } else { window.caseMap(el, opts); }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
