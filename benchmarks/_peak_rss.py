"""Peak resident memory of the benchmark process while a block runs (Linux /proc), shared by the benchmarks that
report memory beside time (paper §3.4-§3.5 costs: benchmarks/paper_cost.py, benchmarks/fast_inference.py)."""

from __future__ import annotations

import os
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """``with PeakRSS() as m: ...`` → ``m.seconds`` (wall time of the block), ``m.mb`` (the process's peak resident
    memory during the block, MB) and ``m.above_mb`` (that peak above the level at entry), polled every 5 ms."""

    def __enter__(self):
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        self.start = time.perf_counter()
        return self

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def _poll(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
        self.mb = round(self.peak / 2**20)
        self.above_mb = round((self.peak - self.base) / 2**20, 1)
