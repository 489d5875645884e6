"""The web side around the API and the page: the per-app context and the installing of the parts on the
app, security headers and access, /metrics, Dash's own routes by name, and the app server."""
