"""`aismesh bench --quick` runs end to end against the mesh and moto (no speed is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def test_bench_quick_reports_every_cell(mesh: Any, tmp_path: Any) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "aismesh"), "bench", "--quick", "--endpoint", mesh.url,
         "--mesh-data", mesh.data, "--targets", "aismesh-s3,aismesh-native,aismesh-cold,moto", "--sizes", "64KiB",
         "--processes", "2", "--concurrency", "4", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(out.read_text())
    cells = {(c["target"], c["op"]): c for c in doc["cells"]}
    for target in ("aismesh-s3", "aismesh-native", "moto"):
        for op in ("get", "put"):
            c = cells[(target, op)]
            assert c["count"] > 0 and c["errors"] == 0 and c["p99_ms"] > 0, c
    assert "adapter" in cells[("aismesh-cold", "get")]["skipped"]  # real only on a mesh the bench starts
    assert cells[("aismesh-s3", "get")]["vs_moto"] is not None
    assert doc["peak_rss"]["total_kib"]["gateway"] > 0
    assert "aismesh-s3" in done.stdout and "peak RSS" in done.stdout
