// Each form of a page is posted once: a second click while the first request is on its way would
// be judged by what the first one changed (a password change, by the password it just replaced).
// Without JavaScript the second request still goes, and the server copes with it as it can.
(function () {
  "use strict";
  var BUTTONS = "button:not([type]), button[type=submit], input[type=submit]";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !(form instanceof HTMLFormElement) || form.method !== "post") {
      return;
    }
    if (form.dataset.submitted) {
      event.preventDefault();  // Enter pressed again in one of its inputs
      return;
    }
    form.dataset.submitted = "true";
    // Once the form's values are taken: a button disabled now would leave its own out.
    window.setTimeout(function () {
      form.querySelectorAll(BUTTONS).forEach(function (button) { button.disabled = true; });
    }, 0);
  });

  // A page the browser shows again from its back-forward cache can be posted again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) {
      return;
    }
    document.querySelectorAll("form[data-submitted]").forEach(function (form) {
      delete form.dataset.submitted;
      form.querySelectorAll(BUTTONS).forEach(function (button) { button.disabled = false; });
    });
  });
})();
