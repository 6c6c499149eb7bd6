"""The bench's cold-GET cell is real: a mesh of its own with the aws adapter over its moto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def test_bench_cold_get_cell(tmp_path: Any) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "aismesh"), "bench", "--quick", "--targets", "aismesh-cold",
         "--ops", "get", "--sizes", "64KiB", "--concurrency", "4", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    cells = {c["target"]: c for c in json.loads(out.read_text())["cells"]}
    for target in ("moto-direct", "aismesh-cold", "aismesh-warm"):
        c = cells[target]
        assert not c["skipped"] and c["count"] == 64 and c["errors"] == 0, c
    assert cells["aismesh-cold"]["vs_moto"] is not None
