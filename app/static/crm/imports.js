// The import's progress bar: asks the server every second while the import runs, so a reload
// of the page shows where it stands.
(function () {
  var box = document.querySelector(".crm-import-progress");
  if (!box || box.dataset.running !== "1") return;
  function show(state) {
    Object.keys(state).forEach(function (key) {
      var field = box.querySelector('[data-field="' + key + '"]');
      if (field) field.textContent = state[key];
    });
    var percent = state.total ? Math.floor((100 * state.done) / state.total) : 0;
    var bar = box.querySelector(".progress-bar");
    bar.style.width = percent + "%";
    bar.textContent = percent + "%";
    bar.setAttribute("aria-valuenow", state.done);
    document.querySelector(".crm-import-state").textContent = state.state_label;
  }
  function poll() {
    fetch(box.dataset.url, { credentials: "same-origin" })
      .then(function (answer) { return answer.json(); })
      .then(function (state) {
        show(state);
        if (state.finished) window.location.reload();
        else setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
