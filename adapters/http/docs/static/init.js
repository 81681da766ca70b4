// Starts Swagger UI on the served contract. A file of its own because the
// page's Content-Security-Policy allows no inline script.
"use strict";

window.ui = window.SwaggerUIBundle({
  // Same origin: the document the running server was built from.
  url: "/openapi.yaml",
  dom_id: "#swagger-ui",
  presets: [window.SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  deepLinking: true,
  // Never load another document named in the query string (?url=, ?configUrl=).
  queryConfigEnabled: false,
  // No online validator badge: it would call validator.swagger.io.
  validatorUrl: null,
  // Cookies only ever go to this origin (fetch's default, stated here).
  withCredentials: false,
  // The access token lives in memory only: a reload signs out.
  persistAuthorization: false,
  displayRequestDuration: true,
});
