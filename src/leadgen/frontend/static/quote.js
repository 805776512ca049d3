// Progressive enhancement for the quote form: choosing a line shows its questions at once.
// Without JavaScript the "Show the questions" button does the same.
(function () {
  "use strict";
  var picker = document.querySelector("select[data-autosubmit]");
  if (picker && picker.form) {
    picker.addEventListener("change", function () { picker.form.submit(); });
  }
  var summary = document.querySelector(".error-summary");
  if (summary) { summary.focus(); }
})();
