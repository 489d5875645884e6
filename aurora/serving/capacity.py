"""How many connections and live streams one process can hold, from its open-files limit.

Every connection is a file descriptor; past the limit `accept()` fails and the server stalls. So
the connection cap is the limit less what the process needs for itself (database and Redis pools,
the bot's sockets, logs, the files Python opens), and live streams get at most half of the
connections, so a full house of dashboards still leaves room for everyone else's requests.
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass

log = logging.getLogger(__name__)

RESERVED_FILES = 64
MIN_CONNECTIONS = 16


@dataclass(frozen=True)
class Capacity:
    open_files: int
    connections: int
    streams: int


def capacity_for(open_files: int) -> Capacity:
    connections = max(MIN_CONNECTIONS, open_files - RESERVED_FILES)
    return Capacity(open_files, connections, connections // 2)


def current_capacity() -> Capacity:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return capacity_for(soft if soft != resource.RLIM_INFINITY else 1 << 20)


def raise_open_files_limit() -> Capacity:
    """Raise the soft open-files limit to the hard one (what systemd advises services that need many
    files to do themselves; its default soft limit is 1024) and return the resulting capacity."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as error:
            log.warning("could not raise the open-files limit from %s to %s (%s)", soft, hard, error)
    return current_capacity()


def stream_cap(configured_total: int, capacity: Capacity) -> int:
    """AURORA_STREAMS_TOTAL, but never more than the process can hold."""
    if configured_total <= capacity.streams:
        return configured_total
    log.warning(
        "AURORA_STREAMS_TOTAL=%d is more than this process can hold (open-files limit %d: %d connections, "
        "%d of them for streams); serving at most %d live streams",
        configured_total, capacity.open_files, capacity.connections, capacity.streams, capacity.streams,
    )
    return capacity.streams
