"""Counts taken from Redis ahead of the requests they count, for budgets too large to need each one.

A client with a budget of thousands of requests a window is a poller or an integration, not an
abuser, and counting each of its requests in Redis would cost a round trip per request. For a
window of at least `LEASE_FROM` requests, a process takes a lease: a run of consecutive counts
(one script call counts them all in Redis) that it then hands to that client's next requests
without asking Redis. Counts stay unique across processes, so the limit is never exceeded; what a
lease gives up is only this: counts a process took but did not use before the window ended may
make another process refuse a request a little early. A lease is at most 1/`LEASE_FROM` of the
window (and `LEASE_MOST` counts), and shrinks to single counts as the window fills, so that share
is at most one lease per process. Smaller budgets (the default `60/minute`) are counted one
request at a time, exactly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

# Windows of at least this many requests are counted in leases, each at most 1/LEASE_FROM of it.
LEASE_FROM = 1000
LEASE_MOST = 100
# Below this many times a lease's size left in the window, leases shrink (single counts at the end).
LEASES_LEFT = 64
LEASES_KEPT = 10_000


@dataclass
class Lease:
    next: int  # the next count to hand out
    last: int  # the last count this lease holds (never above the limit)
    ends: float  # when the window ends (Unix seconds on the injected clock)


def lease_size(limit: int, counted: int) -> int:
    """How many counts to take for a window of `limit`, `counted` of them known to be taken."""
    return max(1, min(LEASE_MOST, limit // LEASE_FROM, (limit - counted) // LEASES_LEFT))


class CountLeases:
    """This process's leases, one per client window, and the claims on their way (one at a time)."""

    def __init__(self) -> None:
        self._leases: dict[str, Lease] = {}
        self._claims: dict[str, asyncio.Future] = {}

    def take(self, key: str, now: float) -> tuple[int, float] | None:
        """The next count of `key`'s lease and its window's end, or None when there is none left."""
        lease = self._leases.get(key)
        if lease is None or lease.next > lease.last or lease.ends <= now:
            return None
        count, lease.next = lease.next, lease.next + 1
        return count, lease.ends

    def counted(self, key: str, now: float) -> int:
        """The highest count of `key`'s window this process has seen (0 for none or an ended one)."""
        lease = self._leases.get(key)
        return lease.last if lease is not None and lease.ends > now else 0

    async def wait_for_claim(self, key: str) -> None:
        """Wait while another request of this process claims a lease for `key` (one claim at a time)."""
        while (claim := self._claims.get(key)) is not None:
            await asyncio.shield(claim)

    def claiming(self, key: str) -> asyncio.Future:
        claim = self._claims[key] = asyncio.get_running_loop().create_future()
        return claim

    def claimed(self, key: str, claim: asyncio.Future, lease: Lease | None, now: float) -> None:
        """The claim is over: keep its lease (None: it failed) and let the waiting requests go on."""
        if lease is not None:
            if len(self._leases) >= LEASES_KEPT:
                self._leases = {kept: held for kept, held in self._leases.items() if held.ends > now}
            self._leases[key] = lease
        del self._claims[key]
        claim.set_result(None)
