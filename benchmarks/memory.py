"""Peak resident memory of a block of code, for the benchmarks.

``ru_maxrss`` cannot be used: it keeps the process's all-time peak, which start-up (imports,
loading weights) already sets higher than most sampling requests reach.
"""

from __future__ import annotations

import os
import threading


class PeakRss:
    """Largest rise of this process's resident memory while the block runs."""

    def __enter__(self) -> "PeakRss":
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def rise_mib(self) -> float:
        return round((self.peak - self.start) / 2**20, 1)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
