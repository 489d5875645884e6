"""The web side around the API and the page: the per-app context, security headers and access, /metrics,
and the app server."""
