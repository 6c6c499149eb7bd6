"""Pure helpers of the benchmark: sizes, percentiles, and one cell's figures."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1000**3, "gb": 1000**3, "gib": 1024**3}


def parse_size(text: str) -> int:
    """'4KiB' -> 4096, '1MB' -> 1000000, '512' -> 512."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"invalid size {text!r}: use a number with B, KiB, MiB, GiB (or KB, MB, GB)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def format_size(n: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{n}B"


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


@dataclass
class CellResult:
    target: str
    op: str
    size: int
    duration_s: float = 0.0
    count: int = 0
    bytes: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    error_samples: list[str] = field(default_factory=list)
    skipped: str = ""
    client: str = "python"       # python | wrk: which load client drove the cell
    client_cpu_s: float = 0.0    # the client's CPU time (user + system) over the cell
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50/p99/max when no per-request list (wrk)

    @property
    def ops_per_s(self) -> float:
        return self.count / self.duration_s if self.duration_s else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.duration_s / 1e6 if self.duration_s else 0.0

    @property
    def client_us_per_op(self) -> float:
        """The client's CPU per request (errors included: they cost it too), in microseconds."""
        done = self.count + self.errors
        return self.client_cpu_s / done * 1e6 if done else 0.0

    def summary(self) -> dict[str, object]:
        lat = sorted(self.latencies_ms)
        p50, p99 = percentile(lat, 50), percentile(lat, 99)
        top = lat[-1] if lat else 0.0
        if not lat and self.latency_ms:
            p50, p99, top = self.latency_ms["p50"], self.latency_ms["p99"], self.latency_ms["max"]
        return {
            "target": self.target, "op": self.op, "size": self.size, "size_label": format_size(self.size),
            "skipped": self.skipped, "client": self.client, "duration_s": round(self.duration_s, 3),
            "count": self.count, "errors": self.errors, "errors_by_kind": dict(self.errors_by_kind),
            "ops_per_s": round(self.ops_per_s, 1), "mb_per_s": round(self.mb_per_s, 1),
            "p50_ms": round(p50, 3), "p99_ms": round(p99, 3), "max_ms": round(top, 3),
            "client_cpu_s": round(self.client_cpu_s, 3), "client_us_per_op": round(self.client_us_per_op, 1),
            "client_cores": round(self.client_cpu_s / self.duration_s, 2) if self.duration_s else 0.0,
            "error_samples": self.error_samples[:5],
        }


# Figures of repeated runs of one cell that are reported as their median.
MEDIAN_FIELDS = ("duration_s", "ops_per_s", "mb_per_s", "p50_ms", "p99_ms", "max_ms", "client_us_per_op",
                 "client_cores", "client_cpu_s")


def median_of_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary from the summaries of N runs of a cell: medians of the figures, errors and
    requests summed (an error in any run is reported), each run's ops/s kept."""
    if len(runs) == 1:
        return dict(runs[0], runs=1)
    out = dict(runs[0])
    for name in MEDIAN_FIELDS:
        out[name] = round(statistics.median(float(r[name]) for r in runs), 3)
    out["count"] = sum(int(r["count"]) for r in runs)
    out["errors"] = sum(int(r["errors"]) for r in runs)
    kinds: dict[str, int] = {}
    for r in runs:
        for kind, n in r.get("errors_by_kind", {}).items():
            kinds[kind] = kinds.get(kind, 0) + n
    out["errors_by_kind"] = kinds
    out["error_samples"] = [s for r in runs for s in r["error_samples"]][:5]
    out["runs"] = len(runs)
    out["runs_ops_per_s"] = [r["ops_per_s"] for r in runs]
    return out


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if a and b else None
