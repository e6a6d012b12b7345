/* Inside WeChat: a "微信内导航" link per POI on a sign page, through the JS-SDK's openLocation (poi/sign.html). */
(function () {
  if (!window.wx) return;
  fetch("/api/poi/jssdk-config?url=" + encodeURIComponent(location.href.split("#")[0]))
    .then(function (r) { return r.ok ? r.json() : null; }).then(function (c) {
      if (!c) return;
      wx.config({ debug: false, appId: c.appId, timestamp: c.timestamp, nonceStr: c.nonceStr, signature: c.signature,
                  jsApiList: ["openLocation"] });
      wx.ready(function () {
        document.querySelectorAll("li.poi[data-gcj] .nav").forEach(function (nav) {
          var li = nav.parentNode, ll = li.getAttribute("data-gcj").split(","), b = document.createElement("a");
          b.href = "#"; b.textContent = "微信内导航";
          b.addEventListener("click", function (e) {
            e.preventDefault();
            wx.openLocation({ latitude: +ll[0], longitude: +ll[1], name: li.getAttribute("data-name"),
                              address: li.getAttribute("data-addr"), scale: 17 });
          });
          nav.insertBefore(b, nav.querySelector("a"));
        });
      });
    }).catch(function () {});
})();
