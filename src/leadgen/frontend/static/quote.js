// Progressive enhancement for the quote form.
(function () {
  "use strict";
  // After the server sent the form back with errors, the box that lists them gets the focus, so a
  // screen reader reads it first.
  var summary = document.querySelector(".error-summary");
  if (summary) { summary.focus(); }

  // The form's submission token belongs to its page in the browser's history. Back to a sent form
  // loads the page again (it is not cached) with a new token, while the browser puts the answers
  // back: the token this history entry had is put back too, so that sending it again is the same
  // request, which the server answers without storing it twice. A new visit has a new entry.
  var token = document.querySelector("input[data-submission]");
  if (!token || !window.history || !window.history.replaceState) { return; }
  var state = window.history.state;
  if (state && typeof state === "object" && typeof state.quoteSubmission === "string") {
    token.value = state.quoteSubmission;
  } else {
    var kept = (state && typeof state === "object") ? state : {};
    kept.quoteSubmission = token.value;
    window.history.replaceState(kept, "");
  }
})();
