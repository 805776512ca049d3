// Progressive enhancement for the quote form: after the server sent it back with errors, the box
// that lists them gets the focus, so a screen reader reads it first.
(function () {
  "use strict";
  var summary = document.querySelector(".error-summary");
  if (summary) { summary.focus(); }
})();
