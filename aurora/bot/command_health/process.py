"""The bot process's memory (RSS) and CPU share, from prometheus_client's process collector (the
documented reader of /proc on Linux; elsewhere it yields nothing and both figures stay unknown)."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import ProcessCollector


class ProcessReadings:
    def __init__(self) -> None:
        self._collector = ProcessCollector(registry=None)
        self._previous: tuple[datetime, float] | None = None

    def _values(self) -> dict[str, float]:
        return {sample.name: sample.value for family in self._collector.collect() for sample in family.samples}

    def read(self, now: datetime) -> tuple[int | None, float | None]:
        """(resident memory in bytes, CPU % since the previous reading); None where unknown."""
        values = self._values()
        rss = values.get("process_resident_memory_bytes")
        cpu_seconds = values.get("process_cpu_seconds_total", values.get("process_cpu_seconds"))
        share = None
        if cpu_seconds is not None:
            if self._previous is None:
                self._previous = (now, cpu_seconds)
            elif (elapsed := (now - self._previous[0]).total_seconds()) > 0:
                share = round(max(0.0, cpu_seconds - self._previous[1]) / elapsed * 100, 1)
                self._previous = (now, cpu_seconds)
        return (int(rss) if rss is not None else None), share
