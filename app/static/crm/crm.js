/* The quick organisation card: fetched from the server (which checks access) into a modal. */
$(document).on("click", ".crm-card-link", function (event) {
  event.preventDefault();
  var url = $(this).data("card-url");
  var body = $("#crm-card-body");
  body.html('<i class="fa fa-spinner fa-spin"></i>');
  $("#crm-card-modal").modal("show");
  $.get(url)
    .done(function (html) { body.html(html); })
    .fail(function (xhr) { body.html($("<p class='text-danger'>").text(xhr.status + " " + xhr.statusText)); });
});

/* Equipment editor: add/remove rows; each field suggests catalogue values narrowed by the fields
   to its left (type -> name -> sub-name -> capacity). */
(function () {
  var FIELDS = ["equipment_type", "name", "subname", "capacity"];

  function rowValues(row) {
    var values = {};
    FIELDS.forEach(function (field) {
      values[field] = row.find("[data-catalogue-field=" + field + "]").val() || "";
    });
    return values;
  }

  // The list hangs from <body>, placed under its input: inside the form's table it would be
  // clipped by the scrolling wrapper around the fieldset.
  function openList() { return $("body > .crm-suggestions"); }
  function closeSuggestions() { $(".crm-suggestions").remove(); }

  function place(list, input) {
    var offset = input.offset();
    list.css({ top: offset.top + input.outerHeight(), left: offset.left, minWidth: input.outerWidth() });
  }

  function showSuggestions(input) {
    var editor = input.closest(".crm-equipment-editor");
    var row = input.closest("tr");
    var field = input.data("catalogue-field");
    var params = rowValues(row);
    params.field = field;
    params.q = input.val();
    var ticket = (input.data("suggest-ticket") || 0) + 1;
    input.data("suggest-ticket", ticket);
    $.getJSON(editor.data("suggest-url"), params).done(function (answer) {
      // Only the answer to the latest keystroke counts; earlier ones may arrive later.
      if (!input.is(":focus") || input.data("suggest-ticket") !== ticket) { return; }
      closeSuggestions();
      var values = answer.result || [];
      if (!values.length) { return; }
      var listId = (input.attr("id") || "crm-item") + "-suggestions";
      var list = $('<ul class="dropdown-menu crm-suggestions" role="listbox"></ul>').attr("id", listId);
      values.forEach(function (value, index) {
        $('<li role="option"><a href="#" tabindex="-1"></a></li>')
          .attr("id", listId + "-" + index)
          .find("a").text(value).end().appendTo(list);
      });
      list.data("input", input);
      input.attr({ "aria-controls": listId, "aria-expanded": "true" });
      $("body").append(list);
      place(list, input);
    });
  }

  function pick(input, value) {
    input.val(value);
    closeSuggestions();
    input.attr("aria-expanded", "false");
    var next = input.closest("td").next("td").find(".crm-suggest");
    if (next.length) { next.focus(); } else { input.closest("td").nextAll("td").find("input").first().focus(); }
  }

  function move(input, step) {
    var items = openList().find("li");
    if (!items.length) { showSuggestions(input); return; }
    var current = items.index(items.filter(".active"));
    var next = current < 0 ? (step > 0 ? 0 : items.length - 1) : (current + step + items.length) % items.length;
    items.removeClass("active").attr("aria-selected", "false");
    var chosen = items.eq(next).addClass("active").attr("aria-selected", "true");
    input.attr("aria-activedescendant", chosen.attr("id"));
    // Keep the highlighted value in view inside the list's own scroll area.
    chosen[0].scrollIntoView({ block: "nearest" });
  }

  $(document).on("focus input", ".crm-suggest", function () { showSuggestions($(this)); });
  $(document).on("mousedown", ".crm-suggestions a", function (event) {
    event.preventDefault();
    var input = $(this).closest(".crm-suggestions").data("input");
    if (input) { pick(input, $(this).text()); }
  });
  $(document).on("click", ".crm-suggestions a", function (event) { event.preventDefault(); });
  $(document).on("blur", ".crm-suggest", function () {
    var input = $(this);
    setTimeout(function () {
      var list = openList();
      if (!input.is(":focus") && list.length && list.data("input") && list.data("input")[0] === input[0]) {
        closeSuggestions();
      }
    }, 150);
  });
  $(document).on("keydown", ".crm-suggest", function (event) {
    var input = $(this);
    var list = openList();
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      move(input, event.key === "ArrowDown" ? 1 : -1);
    } else if (event.key === "Enter") {
      // Enter picks the highlighted value; it never submits the request form from an item field.
      event.preventDefault();
      var active = list.find("li.active a");
      if (active.length) { pick(input, active.text()); } else { closeSuggestions(); }
    } else if (event.key === "Escape") {
      if (list.length) { event.preventDefault(); event.stopPropagation(); }
      closeSuggestions();
    } else if (event.key === "Tab") {
      closeSuggestions();
    }
  });
  // The quantity field is in the same rows: Enter there must not save the form either.
  $(document).on("keydown", ".crm-equipment-editor input:not(.crm-suggest)", function (event) {
    if (event.key === "Enter") { event.preventDefault(); }
  });
  $(window).on("resize", function () {
    var list = openList();
    if (list.length && list.data("input")) { place(list, list.data("input")); }
  });

  $(document).on("click", ".crm-item-add", function () {
    var editor = $(this).closest(".crm-equipment-editor");
    var body = editor.find("tbody");
    var index = 0;
    body.find("tr.crm-item-row").each(function () { index = Math.max(index, Number($(this).data("index")) + 1); });
    var html = editor.find("template.crm-item-template").html().replace(/__index__/g, index);
    var row = $(html);
    body.append(row);
    row.find("[data-catalogue-field=equipment_type]").focus();
  });
  $(document).on("click", ".crm-item-remove", function () {
    var body = $(this).closest("tbody");
    if (body.find("tr.crm-item-row").length > 1) {
      $(this).closest("tr").remove();
    } else {
      $(this).closest("tr").find("input").val("");
    }
  });
})();

// A list's search form is fetched when its panel is first opened (CrmModelView.search_panel);
// jQuery runs the form's own script (FAB's AdminFilters) as it inserts it.
$(document).on("show.bs.collapse", ".panel-collapse", function () {
  var placeholder = $(this).find(".crm-search-panel");
  if (!placeholder.length || placeholder.data("loading")) { return; }
  placeholder.data("loading", true);
  $.get(placeholder.data("url"))
    .done(function (html) { placeholder.replaceWith(html); })
    .fail(function (xhr) {
      placeholder.data("loading", false).html($("<p class='text-danger'>").text(xhr.status + " " + xhr.statusText));
    });
});

/* The contact rows of a new organisation: add and remove rows; Enter in a row does not save the form. */
$(document).on("click", ".crm-rows-editor .crm-row-add", function () {
  var editor = $(this).closest(".crm-rows-editor");
  var body = editor.find("tbody");
  var index = 0;
  body.find("tr").each(function () { index = Math.max(index, Number($(this).data("index")) + 1); });
  var row = $(editor.find("template.crm-row-template").html().replace(/__index__/g, index));
  body.append(row);
  row.find("input").first().focus();
});
$(document).on("click", ".crm-rows-editor .crm-row-remove", function () {
  var body = $(this).closest("tbody");
  if (body.find("tr").length > 1) { $(this).closest("tr").remove(); } else { $(this).closest("tr").find("input").val("").prop("checked", false); }
});
$(document).on("keydown", ".crm-rows-editor input", function (event) {
  if (event.key === "Enter") { event.preventDefault(); }
});
