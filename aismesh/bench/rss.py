"""Peak resident memory of every service (and its children) while the benchmark runs."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def tree(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += children(p)
    return seen


class RssSampler:
    """Every ``interval`` s, the RSS of each named process tree: peak of the sum and of one process."""

    def __init__(self, pids: Callable[[], dict[str, int]], interval: float = 0.2) -> None:
        self.pids = pids
        self.interval = interval
        self.peak_total: dict[str, int] = {}
        self.peak_single: dict[str, int] = {}
        self.cell_total: dict[str, int] = {}
        self.cell_single: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def peaks(self) -> dict[str, dict[str, int]]:
        """The peaks over the whole run."""
        return {"total_kib": dict(self.peak_total), "single_kib": dict(self.peak_single)}

    def take_cell(self) -> dict[str, dict[str, int]]:
        """The peaks since the previous call (one cell), then start over for the next."""
        out = {"total_kib": dict(self.cell_total), "single_kib": dict(self.cell_single)}
        self.cell_total.clear()
        self.cell_single.clear()
        return out

    def _run(self) -> None:
        roots = self.pids()
        while not self._stop.wait(self.interval):
            for name, pid in roots.items():
                sizes = [rss_kib(p) for p in tree(pid)]
                total, single = sum(sizes), max(sizes, default=0)
                for peaks, value in ((self.peak_total, total), (self.peak_single, single),
                                     (self.cell_total, total), (self.cell_single, single)):
                    peaks[name] = max(peaks.get(name, 0), value)
            if not any(rss_kib(p) for p in roots.values()):
                roots = self.pids()  # restarted services: look them up again
