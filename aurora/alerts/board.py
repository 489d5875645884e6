"""The alerts the page and the API show, handed from the monitor's thread to the requests'."""

from __future__ import annotations

import threading

from aurora.stats.model import AlertRecord


class AlertBoard:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = 0
        self._records: tuple[AlertRecord, ...] = ()

    def show(self, records: tuple[AlertRecord, ...]) -> None:
        with self._lock:
            if records != self._records:
                self._records = records
                self._version += 1

    def latest(self) -> tuple[int, tuple[AlertRecord, ...]]:
        with self._lock:
            return self._version, self._records
