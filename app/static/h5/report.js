/* The H5 report form: photos resized in the browser, a location (WeChat gcj02, the browser's wgs84, the sign, or a
   map point), category suggestions as the citizen types, and a submit that a double tap, a retry or a reload never
   turns into two cases (the page's idempotency key lives in sessionStorage until the case is made). */
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form) return;
  var $ = function (id) { return document.getElementById(id); };
  var KEY = "h5-report-key", MAX_EDGE = 1600, maxPhotos = +form.dataset.maxPhotos || 9;
  var photos = [], map = null, marker = null;

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    var a = new Uint8Array(16); crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  var key = sessionStorage.getItem(KEY) || newKey();
  sessionStorage.setItem(KEY, key);
  $("idempotency_key").value = key;

  function setLocation(lat, lng, crs, text, moveMap) {
    $("lat").value = lat.toFixed(6); $("lng").value = lng.toFixed(6); $("crs").value = crs;
    $("where").textContent = text + "（" + lat.toFixed(5) + ", " + lng.toFixed(5) + "）";
    if (map && moveMap !== false) { marker.setLatLng([lat, lng]); map.setView([lat, lng], 17); }
  }

  // The map: a point moved or tapped on it is in the tiles' coordinate system (MAP_TILE_CRS).
  if (window.L) {
    var start = form.dataset.signLat ? [+form.dataset.signLat, +form.dataset.signLng] : [29.5752, 106.5318];
    map = L.map("map").setView(start, 16);
    if (form.dataset.tileUrl) {
      L.tileLayer(form.dataset.tileUrl, { maxZoom: 19, attribution: form.dataset.tileAttribution }).addTo(map);
    }
    marker = L.marker(start, { draggable: true }).addTo(map);
    var tileCrs = form.dataset.tileCrs || "wgs84";
    marker.on("dragend", function () {
      var p = marker.getLatLng(); setLocation(p.lat, p.lng, tileCrs, "已选地图上的位置", false);
    });
    map.on("click", function (e) { marker.setLatLng(e.latlng); setLocation(e.latlng.lat, e.latlng.lng, tileCrs, "已选地图上的位置", false); });
  }
  if (form.dataset.signLat) setLocation(+form.dataset.signLat, +form.dataset.signLng, "wgs84", "标牌位置");
  var atSign = $("at-sign");
  if (atSign) atSign.addEventListener("click", function () {
    setLocation(+form.dataset.signLat, +form.dataset.signLng, "wgs84", "标牌位置");
  });

  // Inside WeChat: wx.getLocation in GCJ-02 once wx.config is signed; elsewhere (or if that fails) the browser.
  var wxReady = false;
  if (form.dataset.jssdk === "1" && window.wx) {
    fetch("/api/poi/jssdk-config?url=" + encodeURIComponent(location.href.split("#")[0]))
      .then(function (r) { return r.ok ? r.json() : null; }).then(function (c) {
        if (!c) return;
        wx.config({ debug: false, appId: c.appId, timestamp: c.timestamp, nonceStr: c.nonceStr,
                    signature: c.signature, jsApiList: ["getLocation", "openLocation", "chooseImage"] });
        wx.ready(function () { wxReady = true; });
      }).catch(function () {});
  }
  function browserLocation() {
    if (!navigator.geolocation) { $("where").textContent = "无法定位，请在地图上点选位置"; return; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      setLocation(pos.coords.latitude, pos.coords.longitude, "wgs84", "已定位");
    }, function () { $("where").textContent = "定位失败，请在地图上点选位置"; }, { enableHighAccuracy: true, timeout: 10000 });
  }
  $("locate").addEventListener("click", function () {
    if (wxReady) {
      wx.getLocation({ type: "gcj02", success: function (res) {
        setLocation(+res.latitude, +res.longitude, "gcj02", "已定位（微信）");
      }, fail: browserLocation });
    } else browserLocation();
  });

  // Photos: shrunk to MAX_EDGE as JPEG where the browser can (canvas), else sent as they are.
  function resize(file) {
    return new Promise(function (resolve) {
      if (!window.createImageBitmap || !/^image\//.test(file.type)) return resolve(file);
      createImageBitmap(file).then(function (img) {
        var scale = Math.min(1, MAX_EDGE / Math.max(img.width, img.height));
        if (scale === 1 && file.size < 1.5e6) return resolve(file);
        var c = document.createElement("canvas");
        c.width = Math.round(img.width * scale); c.height = Math.round(img.height * scale);
        c.getContext("2d").drawImage(img, 0, 0, c.width, c.height);
        c.toBlob(function (b) { resolve(b ? new File([b], "photo.jpg", { type: "image/jpeg" }) : file); }, "image/jpeg", 0.85);
      }).catch(function () { resolve(file); });
    });
  }
  $("photo").addEventListener("change", function () {
    var files = Array.prototype.slice.call(this.files, 0, maxPhotos - photos.length);
    Promise.all(files.map(resize)).then(function (done) {
      done.forEach(function (f) {
        photos.push(f);
        var img = document.createElement("img"); img.alt = "已选照片"; img.src = URL.createObjectURL(f);
        $("thumbs").appendChild(img);
      });
      $("photo").value = "";
    });
  });

  // Category suggestions as the citizen types (the same suggestion as the bot).
  var timer = null;
  $("description").addEventListener("input", function () {
    clearTimeout(timer);
    var text = this.value;
    timer = setTimeout(function () {
      fetch("/api/report/suggest?text=" + encodeURIComponent(text)).then(function (r) { return r.json(); })
        .then(function (data) {
          var box = $("suggestions"); box.innerHTML = "";
          data.suggestions.forEach(function (s) {
            var b = document.createElement("button"); b.type = "button"; b.textContent = s.name;
            b.dataset.code = s.code;
            if ($("category_code").value === s.code) b.className = "on";
            b.addEventListener("click", function () {
              var on = $("category_code").value === s.code;
              $("category_code").value = on ? "" : s.code;
              Array.prototype.forEach.call(box.children, function (x) { x.className = ""; });
              if (!on) b.className = "on";
            });
            box.appendChild(b);
          });
        }).catch(function () {});
    }, 250);
  });

  var sending = false;
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (sending) return;  // a double tap: the first request is on its way (and the key makes a retry harmless)
    $("error").hidden = true;
    if (!$("lat").value) { $("error").textContent = "请先选择问题的位置"; $("error").hidden = false; return; }
    sending = true; $("submit").disabled = true; $("submit").textContent = "正在提交…";
    var data = new FormData(form);
    data.delete("photo");
    photos.forEach(function (f, i) { data.append("photo", f, f.name || ("photo" + i + ".jpg")); });
    fetch(form.action, { method: "POST", body: data, headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        if (res.ok) { sessionStorage.removeItem(KEY); location.href = res.body.url; return; }
        throw new Error(res.body.message || "提交失败，请重试");
      }).catch(function (err) {
        sending = false; $("submit").disabled = false; $("submit").textContent = "提交上报";
        $("error").textContent = err.message || "网络不好，请重试"; $("error").hidden = false;
      });
  });
})();
