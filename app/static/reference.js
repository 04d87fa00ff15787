// Starts Swagger UI on the API reference page (kept out of the page for the CSP).
window.addEventListener("load", function () {
  var container = document.getElementById("swagger-ui-container");
  window.ui = SwaggerUIBundle({url: container.dataset.specUrl, dom_id: "#swagger-ui-container"});
});
