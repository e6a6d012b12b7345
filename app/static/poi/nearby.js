/* The "nearest convenience points" button of a sign page whose sign is unknown (poi/not_found.html). */
(function () {
  var btn = document.getElementById("locate"), status = document.getElementById("status"),
      list = document.getElementById("results");
  function text(tag, cls, value) { var e = document.createElement(tag); if (cls) e.className = cls; e.textContent = value; return e; }
  function dist(m) { return m < 1000 ? Math.round(m) + " 米" : (m / 1000).toFixed(1) + " 公里"; }
  function show(data) {
    list.innerHTML = "";
    if (!data.results.length) { status.textContent = "附近暂时没有便民设施的信息。"; return; }
    status.textContent = "离您最近的 " + data.results.length + " 处：";
    data.results.forEach(function (p) {
      var li = document.createElement("li"); li.className = "poi";
      li.appendChild(text("div", "name", p.category_name + "：" + p.name));
      var state = p.open_now === true ? "营业中" : p.open_now === false ? "已关闭" : "时间未知";
      li.appendChild(text("div", "meta", dist(p.distance_m) + " · 步行约 " + p.walk_minutes + " 分钟 · " + state));
      if (p.address) li.appendChild(text("div", "addr", p.address));
      var nav = text("div", "nav", "导航：");
      [["tencent", "腾讯地图"], ["amap", "高德地图"], ["baidu", "百度地图"]].forEach(function (a) {
        var link = text("a", "", a[1]); link.href = p.nav[a[0]]; nav.appendChild(link);
      });
      li.appendChild(nav); list.appendChild(li);
    });
  }
  btn.addEventListener("click", function () {
    if (!navigator.geolocation) { status.textContent = "您的浏览器不支持定位，请在微信里给「百姓城管」发送位置。"; return; }
    status.textContent = "正在获取您的位置…";
    navigator.geolocation.getCurrentPosition(function (pos) {
      var url = "/api/poi/nearby?crs=wgs84&limit=10&lat=" + pos.coords.latitude + "&lng=" + pos.coords.longitude;
      fetch(url).then(function (r) { return r.json(); }).then(function (data) {
        if (data.results) show(data); else status.textContent = data.message || "查询失败，请稍后再试。";
      }).catch(function () { status.textContent = "网络不太好，请稍后再试。"; });
    }, function () { status.textContent = "没有拿到您的位置。请允许定位，或在微信里给「百姓城管」发送位置。"; },
    { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
  });
})();
