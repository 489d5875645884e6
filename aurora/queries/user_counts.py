"""Active users for the incremental stats: a counted base plus the users registered since.

Users have no insertion order to follow, so a base is counted by walking the table in id order,
one piece (`users_after`, keyset: `id > after ORDER BY id LIMIT`) at a time: the active users registered before the
walk's start (`split`) and before the month-ago edge of that moment. Figures then add, live, the
users registered since `split` and the thin slice between that month-ago edge and today's.

A new walk starts every half reconcile period and is spread over the refreshes so that it ends
within the next half (at once when a whole half has passed): a delete, an update or a back-dated
user is in the figures within one reconcile period. The first walk runs as fast as the refresh's
time allows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from aurora.queries.bounded_counts import ROWS_PER_STATEMENT, count_between, count_from
from aurora.queries.figure_definitions import ACTIVE_USER_ROWS, month_edge
from aurora.storage.tables import users


@dataclass(frozen=True)
class UsersPiece:
    """One piece of users in id order: how many are active and registered before two moments."""

    last_id: int | None
    active_before_split: int
    active_before_month_edge: int
    is_last: bool  # no users after this piece


def users_after(conn: Connection, after_id: int | None, split: datetime, month_edge: datetime) -> UsersPiece:
    """The next piece of users with id > after_id (from the first user when None)."""
    inner = select(users.c.id, users.c.is_active, users.c.created_at)
    if after_id is not None:
        inner = inner.where(users.c.id > after_id)
    piece = inner.order_by(users.c.id).limit(ROWS_PER_STATEMENT).subquery()
    active = piece.c.is_active.is_(True)
    query = select(
        func.count(),
        func.max(piece.c.id),
        func.count().filter(active, piece.c.created_at < split),
        func.count().filter(active, piece.c.created_at < month_edge),
    )
    rows, last_id, before_split, before_month_edge = conn.execute(query).one()
    return UsersPiece(last_id, before_split, before_month_edge, is_last=rows < ROWS_PER_STATEMENT)


@dataclass(frozen=True)
class UserBase:
    split: datetime
    month_edge: datetime
    active_before_split: int
    active_before_month_edge: int
    pieces: int


@dataclass(frozen=True)
class UserWalk:
    """A base being counted: the pieces so far, and the id span (for the progress shown)."""

    split: datetime
    after_id: int | None = None
    active_before_split: int = 0
    active_before_month_edge: int = 0
    pieces: int = 0
    first_id: int | None = None
    last_id: int | None = None

    @property
    def done(self) -> float:
        if self.after_id is None or self.first_id is None or self.last_id is None or self.last_id <= self.first_id:
            return 0.0
        return min(1.0, (self.after_id - self.first_id) / (self.last_id - self.first_id))


@dataclass(frozen=True)
class UserCounts:
    base: UserBase | None = None
    walk: UserWalk | None = None

    @property
    def progress(self) -> float:
        if self.base is not None:
            return 1.0
        return self.walk.done if self.walk is not None else 0.0


def _start_walk(conn: Connection, now: datetime) -> UserWalk:
    first_id, last_id = conn.execute(select(func.min(users.c.id), func.max(users.c.id))).one()
    return UserWalk(split=now, first_id=first_id, last_id=last_id)


def advance(
    conn: Connection,
    counts: UserCounts,
    now: datetime,
    elapsed: timedelta,
    period: timedelta,
    out_of_time: Callable[[], bool],
) -> UserCounts:
    """Walk the pieces due by now; `out_of_time()` says when this refresh has spent its time."""
    half = period / 2
    base, walk = counts.base, counts.walk
    expected = base.pieces if base is not None else 1
    allowance = math.ceil(expected * (max(elapsed, timedelta(0)) / half))
    walked = 0
    while True:
        if walk is None:
            if base is not None and now - base.split < half:
                break
            walk = _start_walk(conn, now)
        overdue = base is None or now - walk.split >= half
        if (walked >= allowance and not overdue) or (walked and out_of_time()):
            break
        piece = users_after(conn, walk.after_id, walk.split, month_edge(walk.split))
        walked += 1
        walk = replace(
            walk,
            after_id=piece.last_id if piece.last_id is not None else walk.after_id,
            active_before_split=walk.active_before_split + piece.active_before_split,
            active_before_month_edge=walk.active_before_month_edge + piece.active_before_month_edge,
            pieces=walk.pieces + 1,
        )
        if piece.is_last:
            base = UserBase(walk.split, month_edge(walk.split), walk.active_before_split,
                            walk.active_before_month_edge, walk.pieces)
            walk = None
    return UserCounts(base, walk)


def active_users(conn: Connection, base: UserBase) -> int:
    return base.active_before_split + count_from(conn, ACTIVE_USER_ROWS, base.split)


def active_users_month_ago(conn: Connection, base: UserBase, now: datetime) -> int:
    edge = month_edge(now)
    if edge >= base.month_edge:
        return base.active_before_month_edge + count_between(conn, ACTIVE_USER_ROWS, base.month_edge, edge)
    return base.active_before_month_edge - count_between(conn, ACTIVE_USER_ROWS, edge, base.month_edge)
