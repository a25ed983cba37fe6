// Asks before a form with a data-confirm attribute is sent (deleting a file, cancelling a run).
// A static file rather than an inline onsubmit, so that a Content-Security-Policy without inline
// scripts allows it.
(function () {
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
