"""The rate limit's Redis counts, made by the asyncio front before the app runs: one round trip for many.

Counted from the Flask app, each request held a pool thread on a Redis round trip, and under load
that wait and the thread's wake-up cost more than the rest of serving `/api/stats` (README, "Rate
limit"). Here the event loop counts each limited request once its body is read: the counts of
every request that arrives while one round trip is on the wire go out together in the next (one
pipelined script call each), and the app's check (`aurora.api.rate_limit`) finds its counts made.
The limit stays exact across processes: each request is counted in Redis before it is answered,
except that a client with a budget of thousands a window is counted in leases of counts taken
ahead (`aurora.api.rate_leases`), which never let more through than the limit.

The front counts what the check would: a route with a budget (Flask's own URL map says which),
the access token presented when one is required (`aurora.security.token_accepted`), keyed by the
same client address. Whatever it does not count (Redis marked down, or the app served without
this front, as under Flask's test client) the check counts itself.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import redis.asyncio
from flask import Flask
from redis.exceptions import NoScriptError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RoutingException

from aurora.api.rate_counters import Seconds, SharedCounter
from aurora.api.rate_leases import LEASE_FROM, CountLeases, Lease, lease_size
from aurora.api.rate_limit import PRECOUNTED_SCOPE_KEY, Budget, RateLimits
from aurora.config import Settings
from aurora.scaleout.redis_link import SOCKET_TIMEOUT_SECONDS, connect_async
from aurora.security import forwarded_client, token_accepted

# The requests of one client in one budget that arrived together, counted in each window of the
# budget (shortest first): those over a window are not counted in the longer ones (as in the check),
# and once none is left the script stops. ARGV: how many requests, then (period, limit) per window.
# Each window counted gives its count after them and its TTL.
COUNT_WINDOWS = """
local amount = tonumber(ARGV[1])
local result = {}
for i, key in ipairs(KEYS) do
  local current = redis.call('incrby', key, amount)
  if current == amount then redis.call('expire', key, ARGV[2 * i]) end
  result[#result + 1] = current
  result[#result + 1] = redis.call('ttl', key)
  amount = math.min(amount, math.max(tonumber(ARGV[2 * i + 1]) - (current - amount), 0))
  if amount == 0 then break end
end
return result
"""
COUNT_WINDOWS_SHA = hashlib.sha1(COUNT_WINDOWS.encode()).hexdigest()
# The longest a request waits for its count: the round trip before its own and its own, each at
# most a socket timeout. Then the app counts it itself (in memory while Redis is marked down).
COUNT_WAIT_SECONDS = 4 * SOCKET_TIMEOUT_SECONDS

Windows = tuple[tuple[str, ...], tuple[int, ...]]  # storage keys; (period, limit) per window


def share_out(amounts: list[int], windows: Windows, result: list[int]) -> list[list[tuple[int, int]]]:
    """Each request (in arrival order) its (count, TTL) in each window it was counted in. A request
    taking several counts (a lease: single-window budgets only) gets the last of its run."""
    limits = windows[1][1::2]
    shares: list[list[tuple[int, int]]] = [[] for _ in amounts]
    counted = len(amounts)  # the first `counted` requests are counted in this window
    for limit, current, ttl in zip(limits, result[0::2], result[1::2], strict=False):
        end = current - sum(amounts[:counted])
        for position in range(counted):
            end += amounts[position]
            shares[position].append((end, ttl))
        counted = min(counted, max(limit - (current - counted), 0))
    return shares


class WindowCounts:
    """Rate-limit windows counted in Redis for many requests of one event loop: the requests that
    arrive while a round trip is on the wire go out together in the next, one pipeline, one script
    call per client and budget (no transaction: each call is atomic on its own)."""

    def __init__(self, connect: Callable[[], redis.asyncio.Redis]) -> None:
        self._connect = connect
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: redis.asyncio.Redis | None = None
        self._pending: dict[Windows, list[tuple[asyncio.Future, int]]] = {}
        self._flusher: asyncio.Task | None = None

    async def __call__(
        self, keys: tuple[str, ...], periods_and_limits: tuple[int, ...], amount: int = 1
    ) -> list[tuple[int, int]]:
        """This request's (count, TTL) in each window of the budget it was counted in (`amount`
        counts: a lease, whose last count it gets)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a client's connections belong to the loop that made them
            self._loop, self._client, self._pending, self._flusher = loop, self._connect(), {}, None
        future = loop.create_future()
        self._pending.setdefault((keys, periods_and_limits), []).append((future, amount))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        # Bounded, whatever happens to the round trip: a request never waits on the count for long.
        async with asyncio.timeout(COUNT_WAIT_SECONDS):
            return await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = list(self._pending.items()), {}
            try:
                results = await self._execute(batch)
            except BaseException as error:  # each waiting request learns of it, then the flush ends
                self._settle(batch, [error] * len(batch))
                if not isinstance(error, Exception):
                    raise
                continue
            self._settle(batch, results)

    @staticmethod
    def _settle(batch: list[tuple[Windows, list[tuple[asyncio.Future, int]]]], results: list) -> None:
        for (windows, requests), result in zip(batch, results, strict=True):
            amounts = [amount for _, amount in requests]
            shares = [result] * len(requests) if isinstance(result, BaseException) else \
                share_out(amounts, windows, result)
            for (future, _), share in zip(requests, shares, strict=True):
                if future.done():  # its request was cancelled (the client went away)
                    continue
                if isinstance(share, Exception):
                    future.set_exception(share)
                elif isinstance(share, BaseException):  # the loop is stopping
                    future.cancel()
                else:
                    future.set_result(share)

    async def _execute(self, batch: list[tuple[Windows, list[tuple[asyncio.Future, int]]]]) -> list:
        results = await self._send(batch)
        # A Redis started afresh has forgotten the script: nothing was counted; load it and go again.
        if any(isinstance(result, NoScriptError) for result in results):
            await self._client.script_load(COUNT_WINDOWS)
            results = await self._send(batch)
        return results

    async def _send(self, batch: list[tuple[Windows, list[tuple[asyncio.Future, int]]]]) -> list:
        pipeline = self._client.pipeline(transaction=False)
        for (keys, periods_and_limits), requests in batch:
            amount = sum(amount for _, amount in requests)
            pipeline.evalsha(COUNT_WINDOWS_SHA, len(keys), *keys, amount, *periods_and_limits)
        return await pipeline.execute(raise_on_error=False)

    async def close(self) -> None:
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            await client.aclose()


class FrontCounts:
    """Counts a request's rate-limit windows in Redis from the event loop (see the module's text)."""

    def __init__(self, limits: RateLimits, counter: SharedCounter, server: Flask, settings: Settings,
                 now: Seconds) -> None:
        self._limits = limits
        self._counter = counter
        self._server = server
        self._hops = settings.trusted_proxy_hops
        self._token = settings.access_token.encode() if settings.access_token else None
        self._now = now
        self._adapter = None
        self._leases = CountLeases()
        url = settings.redis_url
        self._counts = WindowCounts(lambda: connect_async(url))

    async def count(self, scope: dict) -> None:
        """Count the request in its budget's windows and leave the counts in `scope`, if it has a budget."""
        headers = scope["headers"]
        if self._token is not None and not token_accepted(header(headers, b"authorization"), self._token):
            return
        budget = self._limits.budget_for(self._endpoint(scope))
        if budget is None or not self._counter.available():
            return
        client = scope["client"][0] if scope.get("client") else "127.0.0.1"
        if self._hops:
            client = forwarded_client(client, header(headers, b"x-forwarded-for"), self._hops)
        keys = [window.key(client) for window in budget.windows]
        if len(keys) == 1 and budget.windows[0].item.amount >= LEASE_FROM:
            counts = await self._leased(keys[0], budget)
        else:
            counts = await self._counted(keys, budget)
        if counts is not None:
            scope[PRECOUNTED_SCOPE_KEY] = counts

    async def _counted(self, keys: list[str], budget: Budget, amount: int = 1) -> dict | None:
        """Each window's (count, end), counted in Redis now; None if Redis did not answer."""
        storage_keys = tuple(self._counter.storage_key(key) for key in keys)
        try:
            counted = await self._counts(storage_keys, budget.periods_and_limits, amount)
        except Exception as error:  # any failure: the app's check counts this request instead
            self._counter.failed(error)
            return None
        self._counter.recovered()
        now = self._now()
        # One (count, TTL) per window counted: fewer than the keys when it stopped early.
        return {key: (count, now + max(ttl, 0)) for key, (count, ttl) in zip(keys, counted, strict=False)}

    async def _leased(self, key: str, budget: Budget) -> dict | None:
        """The next count of this process's lease on the client's window, taking a new lease if
        it has run out (aurora.api.rate_leases)."""
        await self._leases.wait_for_claim(key)
        if (taken := self._leases.take(key, self._now())) is not None:
            return {key: taken}
        limit = budget.windows[0].item.amount
        amount = lease_size(limit, self._leases.counted(key, self._now()))
        claim = self._leases.claiming(key)
        counts, lease = None, None
        try:
            counts = await self._counted([key], budget, amount)
            if counts is not None:
                last, ends = counts[key]
                first = last - amount + 1
                # This request takes the first count; the lease keeps the rest up to the limit.
                lease = Lease(next=first + 1, last=min(last, limit), ends=ends)
                counts = {key: (first, ends)}
        finally:
            self._leases.claimed(key, claim, lease, self._now())
        return counts

    def _endpoint(self, scope: dict) -> str | None:
        if self._adapter is None:  # bound at the first request, once every route is registered
            self._adapter = self._server.url_map.bind("localhost")
        try:
            endpoint, _ = self._adapter.match(scope["path"], method=scope["method"])
        except (HTTPException, RoutingException):
            return None  # not found, a redirect, a method not allowed: the check does not count them either
        return endpoint

    async def close(self) -> None:
        await self._counts.close()


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    """A request header as the WSGI environ holds it (repeated headers joined by commas), or None."""
    values = [value.decode("latin1") for key, value in headers if key == name]
    return ",".join(values) if values else None


def front_counts(limits: RateLimits | None, server: Flask, settings: Settings) -> FrontCounts | None:
    """The front's counting, when the limit is counted in Redis; otherwise the check counts alone."""
    if limits is None or not isinstance(limits.counter, SharedCounter):
        return None
    return FrontCounts(limits, limits.counter, server, settings, limits.now)
