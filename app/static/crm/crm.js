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

  function closeSuggestions() { $(".crm-suggestions").remove(); }

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
      var list = $('<ul class="dropdown-menu crm-suggestions" role="listbox"></ul>');
      values.forEach(function (value) {
        $('<li role="option"><a href="#"></a></li>').find("a").text(value).end().appendTo(list);
      });
      input.after(list);
    });
  }

  $(document).on("focus input", ".crm-suggest", function () { showSuggestions($(this)); });
  $(document).on("mousedown", ".crm-suggestions a", function (event) {
    event.preventDefault();
    var input = $(this).closest("td").find(".crm-suggest");
    input.val($(this).text());
    closeSuggestions();
    var next = input.closest("td").next("td").find(".crm-suggest");
    if (next.length) { next.focus(); }
  });
  $(document).on("blur", ".crm-suggest", function () {
    var input = $(this);
    setTimeout(function () { if (!input.is(":focus")) { input.siblings(".crm-suggestions").remove(); } }, 150);
  });
  $(document).on("keydown", ".crm-suggest", function (event) { if (event.key === "Escape") { closeSuggestions(); } });

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
