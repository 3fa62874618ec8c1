// OAuth 2.0 Form Post Response Mode: submit the response form to the client at once.
// (The button is there for browsers without JavaScript.)
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("form-post");
  if (form) {
    form.submit();
  }
});
