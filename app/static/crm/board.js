/* «Воронка»: drag a card to another column (or «Сменить статус» on a phone), write the comment,
   and the request card's own status change does the rest. Cancel puts the card back. */
(function () {
  "use strict";
  var dialog = $("#crm-move-dialog");
  var form = document.getElementById("crm-move-form");
  if (!form) { return; }
  var pending = null; // {card, from, index}: where to put the card back on cancel
  var submitted = false;

  function openDialog(card, status, origin) {
    pending = origin;
    submitted = false;
    form.action = card.dataset.moveUrl;
    form.querySelector(".crm-move-number").textContent = card.dataset.number;
    form.elements.status.value = status;
    form.elements.comment.value = "";
    dialog.modal("show");
  }

  dialog.on("shown.bs.modal", function () { form.elements.comment.focus(); });
  dialog.on("hidden.bs.modal", function () {
    if (!submitted && pending) {
      var list = pending.from;
      list.insertBefore(pending.card, list.children[pending.index] || null);
    }
    pending = null;
  });
  form.addEventListener("submit", function () {
    submitted = true;
    form.querySelector(".crm-move-submit").disabled = true;
  });

  var touchOnly = window.matchMedia("(max-width: 767px), (hover: none)").matches;
  if (!touchOnly && window.Sortable) {
    document.querySelectorAll(".crm-board-cards").forEach(function (list) {
      Sortable.create(list, {
        group: "board",
        forceFallback: true, // mouse and pen alike, the same in every browser
        sort: false,
        filter: ".crm-card-move, a",
        preventOnFilter: false,
        onEnd: function (event) {
          if (event.from === event.to) { return; }
          openDialog(event.item, event.to.dataset.status, { card: event.item, from: event.from, index: event.oldIndex });
        }
      });
    });
  }

  $(document).on("click", ".crm-card-move", function () {
    var card = this.closest(".crm-board-card");
    openDialog(card, card.dataset.status, null);
  });

  $(document).on("click", ".crm-board-more", function () {
    var button = this;
    var offset = parseInt(button.dataset.offset, 10);
    var url = button.dataset.url + (button.dataset.url.indexOf("?") < 0 ? "?" : "&") + "offset=" + offset;
    button.disabled = true;
    $.get(url, function (html) {
      var list = button.parentNode.querySelector(".crm-board-cards");
      list.insertAdjacentHTML("beforeend", html);
      var shown = list.querySelectorAll(".crm-board-card").length;
      button.dataset.offset = String(shown);
      button.disabled = false;
      if (shown >= parseInt(button.dataset.total, 10)) { button.remove(); }
    });
  });
}());
