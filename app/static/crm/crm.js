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
