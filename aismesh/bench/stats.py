"""Pure helpers of the benchmark: sizes, percentiles, and one cell's figures."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

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

    @property
    def ops_per_s(self) -> float:
        return self.count / self.duration_s if self.duration_s else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.duration_s / 1e6 if self.duration_s else 0.0

    def summary(self) -> dict[str, object]:
        lat = sorted(self.latencies_ms)
        return {
            "target": self.target, "op": self.op, "size": self.size, "size_label": format_size(self.size),
            "skipped": self.skipped, "duration_s": round(self.duration_s, 3), "count": self.count,
            "errors": self.errors, "ops_per_s": round(self.ops_per_s, 1), "mb_per_s": round(self.mb_per_s, 1),
            "p50_ms": round(percentile(lat, 50), 3), "p99_ms": round(percentile(lat, 99), 3),
            "max_ms": round(lat[-1], 3) if lat else 0.0, "error_samples": self.error_samples[:5],
        }


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if a and b else None
