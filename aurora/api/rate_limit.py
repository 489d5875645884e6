"""Rate limits: Flask-Limiter, one budget per client address for the API and another for the page.

`AURORA_RATE_LIMIT` is a shared limit on the API's routes, `AURORA_PAGE_RATE_LIMIT` one on Dash's
own (the page, its layout, dependencies and callbacks; not the assets), each keyed by the client's
address (`aurora.web.security.client_address`: behind trusted proxies the forwarded one). Fixed
windows, counted in Redis and shared by every process (keys under `AURORA_REDIS_PREFIX`), or in this
process's memory without `REDIS_URL`; while Redis does not answer, Flask-Limiter counts in memory
and tries Redis again now and then. Its check runs after access control: a request refused for
want of the token is never counted.

Every limited answer carries `X-RateLimit-Limit/-Remaining/-Reset`, and only the limiter's refusal
(a JSON 429) adds `Retry-After`. They are written here from `Limiter.current_limit`, not with
Flask-Limiter's `headers_enabled`: that puts `Retry-After` on every limited answer and raises one
already there (a 503's, the stream cap's) to the end of the client's window.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from dash import Dash
from flask import Blueprint, Response, request
from flask_limiter import Limit, Limiter, RateLimitExceeded

from aurora.api.errors import json_error
from aurora.api.routes import API_ENDPOINTS
from aurora.scaleout.redis_link import RedisError, client_options
from aurora.settings import Settings
from aurora.web.dash_routes import PAGE_ROUTES, dash_endpoints
from aurora.web.security import client_address


def storage_settings(settings: Settings) -> dict:
    """Where Flask-Limiter counts: Redis under the deployment's key prefix, or this process's memory."""
    if settings.redis_url is None:
        return {"storage_uri": "memory://"}
    # The Redis client's short timeouts and single retry (aurora.scaleout.redis_link): a silent
    # Redis costs a request one timeout before the limiter falls back to memory.
    options = {"key_prefix": settings.redis_prefix, **client_options()}
    return {"storage_uri": settings.redis_url, "storage_options": options}


def outside(endpoints: Iterable[str]) -> Callable[[], bool]:
    """A limit's `exempt_when`: true for a request to any endpoint but these."""
    kept = frozenset(endpoints)
    return lambda: request.endpoint not in kept


def install_rate_limits(app: Dash, api: Blueprint, settings: Settings) -> Limiter | None:
    """The limiter on `app`'s server, its budgets on `api` and on Dash's routes; with both limits
    off, nothing at all (no per-request hook, for deployments whose proxy limits)."""
    if not (settings.rate_limit or settings.page_rate_limit):
        return None
    page_budget = []
    if settings.page_rate_limit:
        not_the_page = outside(dash_endpoints(app, PAGE_ROUTES))
        page_budget.append(Limit(settings.page_rate_limit, scope="page", shared=True, exempt_when=not_the_page))
    limiter = Limiter(
        client_address,
        app=app.server,
        default_limits=page_budget,
        strategy="fixed-window",
        in_memory_fallback_enabled=True,
        **storage_settings(settings),
    )
    if settings.rate_limit:
        # The API's catch-all (404/405 for unknown paths) is outside the budget.
        limiter.shared_limit(settings.rate_limit, scope="api", exempt_when=outside(API_ENDPOINTS))(api)
    install_budget_headers(app, limiter)
    return limiter


def install_budget_headers(app: Dash, limiter: Limiter) -> None:
    @app.server.errorhandler(RateLimitExceeded)
    def refused(error: RateLimitExceeded) -> Response:
        return json_error(429, f"rate limit exceeded ({error.description}); retry after Retry-After seconds")

    @app.server.after_request
    def budget_headers(response: Response) -> Response:
        limit = limiter.current_limit
        if limit is None:
            return response
        try:
            reset_at, remaining = limit.reset_at, limit.remaining
        except RedisError:  # Redis went away since the count: the next request is counted in memory
            return response
        response.headers["X-RateLimit-Limit"] = str(limit.limit.amount)
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        response.headers["X-RateLimit-Reset"] = str(reset_at)
        if limit.breached:
            response.headers["Retry-After"] = str(max(1, reset_at - int(time.time())))
        return response
