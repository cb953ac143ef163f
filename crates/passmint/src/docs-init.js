// Starts Swagger UI on /openapi.json (a file of its own: the page's CSP allows no inline script).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // No call to swagger.io's validator: nothing leaves this server.
    validatorUrl: null,
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
});
