/* Form behaviour of the points pages without inline handlers (the CSP allows no inline script):
   data-confirm="question" asks before submitting; data-disable-on-submit disables the button against double taps. */
(function () {
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { e.preventDefault(); return; }
    if (form.hasAttribute("data-disable-on-submit")) {
      var button = form.querySelector("button");
      if (button) button.disabled = true;
    }
  });
})();
