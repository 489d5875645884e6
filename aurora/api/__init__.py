"""The HTTP API: routes and JSON errors, request guards, the live stream, OpenAPI, the rate limit."""
