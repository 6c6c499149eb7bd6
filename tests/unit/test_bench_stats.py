"""Benchmark arithmetic: sizes, percentiles, cell figures and ratios."""

import pytest

from aismesh.bench.report import add_ratios, table
from aismesh.bench.stats import CellResult, format_size, parse_size, percentile


@pytest.mark.parametrize(("text", "n"), [("4KiB", 4096), ("1MiB", 1 << 20), ("16MiB", 16 << 20), ("512", 512),
                                         ("1MB", 1_000_000), ("2 GiB", 2 << 30)])
def test_parse_size(text: str, n: int) -> None:
    assert parse_size(text) == n


def test_parse_size_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size("4 parsecs")


def test_format_size() -> None:
    assert [format_size(n) for n in (4096, 1 << 20, 16 << 20, 1000)] == ["4KiB", "1MiB", "16MiB", "1000B"]


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([], 99) == 0.0


def test_cell_summary() -> None:
    c = CellResult(target="t", op="get", size=1 << 20, duration_s=2.0, count=10, bytes=10 << 20,
                   latencies_ms=[float(v) for v in range(10, 0, -1)])
    s = c.summary()
    assert s["ops_per_s"] == 5.0
    assert s["mb_per_s"] == round((10 << 20) / 2 / 1e6, 1)
    assert (s["p50_ms"], s["max_ms"]) == (5.0, 10.0)


def test_ratios_against_peers() -> None:
    def cell(target: str, mbps: float, p99: float) -> dict:
        return {"target": target, "op": "get", "size": 4096, "size_label": "4KiB", "skipped": "", "mb_per_s": mbps,
                "p99_ms": p99, "ops_per_s": mbps, "p50_ms": 1.0, "max_ms": 2.0, "errors": 0}

    cells = [cell("aismesh-s3", 10.0, 5.0), cell("moto", 2.0, 10.0), cell("nginx", 40.0, 1.0)]
    add_ratios(cells)
    assert (cells[0]["vs_moto"], cells[0]["vs_nginx"], cells[0]["p99_vs_moto"]) == (5.0, 0.25, 0.5)
    assert "5.00" in table(cells)
