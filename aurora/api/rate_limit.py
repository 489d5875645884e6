"""Rate limits: one budget per client address for the API, another for the page's own requests.

`AURORA_RATE_LIMIT` is shared by the API's routes and `AURORA_PAGE_RATE_LIMIT` by Dash's (the page,
its layout, dependencies and callbacks; not the assets), each counted per client address. Every
limited request is counted once, in fixed windows (`aurora.api.rate_counters`: memory, or Redis
shared by every process), and decided in a before-request hook (after access control, before the
view and its guards); with Redis, the asyncio front has usually counted it already, many requests
in one round trip (`aurora.api.rate_front`). Every answer of a limited route carries `X-RateLimit-Limit/-Remaining/-Reset`; only a
refusal (429, JSON like every error) adds `Retry-After`.

Why not flask-limiter, which did this before: it checked twice per request, resolved the limits
and read the window back for its headers, costing several times the rest of serving `/api/stats`
(`python -m bench.limiter_cost`; README, "Rate limit").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from dash import Dash
from flask import Response, request
from limits import RateLimitItem, parse_many

from aurora.api.rate_counters import Seconds, WindowCounter, make_counter
from aurora.api.routes import API_ENDPOINTS, json_error
from aurora.config import Settings
from aurora.seams import Clock

# Where the check leaves the budget headers for BudgetHeaders.
HEADERS_ENVIRON_KEY = "aurora.rate_limit_headers"
# Where the asyncio front leaves a request's counts (aurora.api.rate_front): key -> (count, window end).
PRECOUNTED_SCOPE_KEY = "aurora.rate_counts"
# Dash's routes a page makes per load and per refresh, under its routes prefix (assets are not limited).
PAGE_ROUTES = ("", "<path:path>", "_dash-layout", "_dash-dependencies", "_dash-update-component")
# Stands for the client address in a storage key made ahead (no address contains it).
CLIENT_MARK = "\x00"


@dataclass(frozen=True)
class Window:
    """One limit of a budget (`10/second;500/hour` has two), its storage key split around the client."""

    item: RateLimitItem
    key_head: str
    key_tail: str

    @classmethod
    def of(cls, item: RateLimitItem, scope: str) -> Window:
        # limits' own key for (scope, client), made once: per request only the client is put in.
        head, tail = item.key_for(scope, CLIENT_MARK).split(CLIENT_MARK)
        return cls(item, head, tail)

    def key(self, client: str) -> str:
        return self.key_head + client + self.key_tail

    def headers(self, count: int, window_end: float) -> list[tuple[str, str]]:
        return [
            ("X-RateLimit-Limit", str(self.item.amount)),
            ("X-RateLimit-Remaining", str(max(0, self.item.amount - count))),
            ("X-RateLimit-Reset", str(math.ceil(window_end))),
        ]


@dataclass(frozen=True)
class Budget:
    """One budget per client: `scope` keys it apart from the others; its windows shortest first."""

    scope: str
    windows: tuple[Window, ...]

    @cached_property
    def periods_and_limits(self) -> tuple[int, ...]:
        """(period in seconds, requests allowed) of each window, flat, as the front's count wants them."""
        return tuple(number for window in self.windows for number in (window.item.get_expiry(), window.item.amount))

    @classmethod
    def parse(cls, scope: str, limit: str) -> Budget:
        items = sorted(parse_many(limit), key=RateLimitItem.get_expiry)
        return cls(scope, tuple(Window.of(item, scope) for item in items))


class BudgetHeaders:
    """WSGI middleware adding the budget headers the check left in the environ to the answer.

    At the WSGI level that is a list append, where Flask's after-request hook and werkzeug's
    `Headers` (validating each value) cost a noticeable share of a request.
    """

    def __init__(self, wsgi_app) -> None:
        self._app = wsgi_app

    def __call__(self, environ, start_response):
        def start_with_headers(status, response_headers, exc_info=None):
            if headers := environ.get(HEADERS_ENVIRON_KEY):
                response_headers.extend(headers)
            return start_response(status, response_headers, exc_info)

        return self._app(environ, start_with_headers)


class RateLimits:
    """The before-request hook that counts each limited request (`BudgetHeaders` labels its answer).

    A request the asyncio front has counted already (`aurora.api.rate_front`, with Redis) carries its
    counts; the hook then only decides.
    """

    def __init__(self, counter: WindowCounter, budgets: dict[str, Budget], now: Seconds) -> None:
        """`budgets`: Flask endpoint -> its budget; endpoints not in it are not limited."""
        self.counter = counter
        self.now = now
        self._budgets = budgets

    def budget_for(self, endpoint: str | None) -> Budget | None:
        return self._budgets.get(endpoint)

    def check(self) -> Response | None:
        current = request._get_current_object()  # once: each access through the proxy costs
        budget = self._budgets.get(current.endpoint)
        if budget is None:
            return None
        # Counted by address (behind trusted proxies, the forwarded one: aurora.security).
        client = current.remote_addr or "127.0.0.1"
        counted = current.environ.get("asgi.scope", {}).get(PRECOUNTED_SCOPE_KEY, {})
        shown = None
        for window in budget.windows:
            key = window.key(client)
            count, window_end = counted.get(key) or self.counter.hit(key, window.item.get_expiry())
            if count > window.item.amount:  # longer windows are not counted then, as flask-limiter did
                end = window_end if key in counted else self.counter.window_end(key)
                return refusal(window, count, end, self.now())
            # Shown: the shortest window's figures (the one a client runs into first).
            shown = shown or window.headers(count, window_end)
        current.environ[HEADERS_ENVIRON_KEY] = shown
        return None


def refusal(window: Window, count: int, window_end: float, now: float) -> Response:
    retry_after = max(1, math.ceil(window_end - now))
    return json_error(
        429,
        f"rate limit exceeded ({window.item}); retry after Retry-After seconds",
        {"Retry-After": str(retry_after), **dict(window.headers(count, window_end))},
    )


def route_budgets(app: Dash, settings: Settings) -> dict[str, Budget]:
    budgets: dict[str, Budget] = {}
    if settings.rate_limit:
        api = Budget.parse("api", settings.rate_limit)
        budgets.update(dict.fromkeys(API_ENDPOINTS, api))
    if settings.page_rate_limit:
        page = Budget.parse("page", settings.page_rate_limit)
        prefix = app.config.routes_pathname_prefix
        budgets.update(dict.fromkeys((f"{prefix}{route}" for route in PAGE_ROUTES), page))
    return budgets


def rate_limits_for(app: Dash, settings: Settings, clock: Clock) -> RateLimits | None:
    """The API's and the page's budgets and where they are counted; None with both limits off."""
    budgets = route_budgets(app, settings)
    if not budgets:
        return None

    def now() -> float:
        return clock().timestamp()

    return RateLimits(make_counter(settings, now), budgets, now)


def install_rate_limits(app: Dash, limits: RateLimits | None) -> None:
    """Count each limited request before its view; with both limits off, install nothing (no
    per-request hook at all, for deployments whose proxy limits)."""
    if limits is not None:
        app.server.before_request(limits.check)
        app.server.wsgi_app = BudgetHeaders(app.server.wsgi_app)
