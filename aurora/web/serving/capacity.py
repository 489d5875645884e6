"""How many live streams one process can hold, from its open-files limit.

Every connection is a file descriptor; past the limit `accept()` fails. So live streams get at most
half of what the limit leaves once the process has what it needs for itself (database and Redis
pools, the bot's sockets, logs), and a full house of dashboards still leaves room for everyone
else's requests.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)

RESERVED_FILES = 64


def open_files_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def streams_for(open_files: int) -> int:
    return max(1, (open_files - RESERVED_FILES) // 2)


def raise_open_files_limit() -> None:
    """Raise the soft open-files limit to the hard one (what systemd advises services that need many
    files to do themselves; its default soft limit is 1024). Workers forked later inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as error:
            log.warning("could not raise the open-files limit from %s to %s (%s)", soft, hard, error)


def stream_cap(configured_total: int, open_files: int) -> int:
    """AURORA_STREAMS_TOTAL, but never more than the process can hold."""
    most = streams_for(open_files)
    if configured_total <= most:
        return configured_total
    log.warning(
        "AURORA_STREAMS_TOTAL=%d is more than this process can hold (open-files limit %d); serving at most "
        "%d live streams (raise LimitNOFILE / ulimit -n for more)",
        configured_total, open_files, most,
    )
    return most
