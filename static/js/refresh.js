// Keeps a status block up to date while a run is active: the block names its own URL
// (data-refresh-url) and says whether to go on (data-refresh-active). When it becomes
// inactive, the whole page reloads once to show results or the review link.
// Progress bars carry their width in data-width: the Content-Security-Policy refuses style
// attributes, but a script may still set element.style.
(function () {
  function sizeBars(root) {
    root.querySelectorAll(".progress-bar[data-width]").forEach(function (bar) {
      var percent = Math.min(100, Math.max(0, Number(bar.dataset.width) || 0));
      bar.style.width = percent + "%";
    });
  }

  function watch(id) {
    var block = document.getElementById(id);
    if (!block || block.dataset.refreshActive !== "true") return;
    setTimeout(function poll() {
      fetch(block.dataset.refreshUrl, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
        .then(function (html) {
          var holder = document.createElement("div");
          holder.innerHTML = html.trim();
          var fresh = holder.querySelector("#" + id);
          if (!fresh) return;
          sizeBars(fresh);
          block.replaceWith(fresh);
          block = fresh;
          if (fresh.dataset.refreshActive === "true") setTimeout(poll, 1500);
          else window.location.reload();
        })
        .catch(function () { setTimeout(poll, 5000); });
    }, 1500);
  }
  sizeBars(document);
  watch("runs");
  watch("run-status");
})();
