"use strict";
// Swagger UI for blogapi, served by the app (no CDN). Authorize offers the OAuth2 password flow
// only (swagger.css hides the client fields that flow never uses), and a refused login shows the
// server's own reason.
(() => {
  const root = document.getElementById("swagger-ui");
  const tokenUrl = new URL(root.dataset.tokenUrl, document.baseURI).href;

  const csrfToken = () => (document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/) || [])[1];

  // Signed in to the admin, calls also carry the session: unsafe ones then need the CSRF token.
  const requestInterceptor = (request) => {
    const token = csrfToken();
    if (token && request.method && request.method !== "GET") {
      request.headers["X-CSRFToken"] = token;
    }
    return request;
  };

  // Swagger UI's login error shows an OAuth2 `error_description`; a body with only DRF's
  // `detail` gets it as that description, so the reason reaches the dialog either way.
  const responseInterceptor = (response) => {
    const body = response.body;
    if (!response.ok && response.url === tokenUrl && body && body.detail && !body.error_description) {
      response.body = { error: "invalid_grant", ...body, error_description: body.detail };
      response.data = response.text = JSON.stringify(response.body);
    }
    return response;
  };

  window.ui = SwaggerUIBundle({
    url: root.dataset.schemaUrl,
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    persistAuthorization: true,
    // Otherwise Swagger UI fetches a badge from validator.swagger.io.
    validatorUrl: null,
    requestInterceptor,
    responseInterceptor,
  });
})();
