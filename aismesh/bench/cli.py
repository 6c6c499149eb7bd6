"""``aismesh bench``: PUT/GET load against aismesh (S3 and native), moto and nginx, in one run."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from typing import Any

from aismesh.bench import coldget, loadgen, report, servers
from aismesh.bench.rss import RssSampler
from aismesh.bench.stats import CellResult, format_size, parse_size
from aismesh.bench.targets import NativeTarget, NginxTarget, S3Target, SetupError, Target

ALL_TARGETS = ("aismesh-s3", "aismesh-native", "aismesh-cold", "moto", "nginx")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--sizes", default="4KiB,64KiB,1MiB,16MiB", help="object sizes (KiB/MiB/GiB or KB/MB/GB)")
    ap.add_argument("--ops", default="get,put", help="workloads: get, put, mixed")
    ap.add_argument("--pct-put", type=int, default=20, help="PUT share of the mixed workload (percent)")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per cell")
    ap.add_argument("--concurrency", type=int, default=16, help="connections in flight in total")
    ap.add_argument("--processes", type=int, default=4, help="client processes (the client is Python too)")
    ap.add_argument("--targets", default=",".join(ALL_TARGETS), help="which of: " + ", ".join(ALL_TARGETS))
    ap.add_argument("--endpoint", default="", help="use a running aismesh gateway instead of starting one")
    ap.add_argument("--mesh-data", default="", help="with --endpoint: its data folder, to sample memory")
    ap.add_argument("--workers", type=int, default=4, help="gateway workers of the mesh the bench starts")
    ap.add_argument("--json", default="", help="where to write the JSON report (default bench-results/...)")
    ap.add_argument("--quick", action="store_true", help="1 s cells, sizes 4KiB and 1MiB: a smoke run")


def objects_for(size: int) -> int:
    return 64 if size <= 1 << 20 else 16


def run_cell(target: Target, op: str, size: int, keys: list[str], args: argparse.Namespace) -> CellResult:
    cell = CellResult(target=target.name, op=op, size=size)
    if target.skipped:
        cell.skipped = target.skipped
        return cell
    if target.get_only and op != "get":
        cell.skipped = "serves GET only"
        return cell
    threads = max(1, args.concurrency // args.processes)
    put_keys = [f"put/{format_size(size)}/{i}" for i in range(threads * args.processes * 4)]
    spec = loadgen.LoadSpec(
        host=target.host, port=target.port, op=op, size=size, headers=target.headers,
        get_paths=[target.object_path(k) for k in keys], put_paths=[target.object_path(k) for k in put_keys],
        threads=threads, pct_put=args.pct_put, duration_s=args.duration,
    )
    parts = loadgen.run(spec, args.processes)
    cell.duration_s = args.duration
    for p in parts:
        cell.count += int(p["count"])  # type: ignore[call-overload]
        cell.bytes += int(p["bytes"])  # type: ignore[call-overload]
        cell.errors += int(p["errors"])  # type: ignore[call-overload]
        cell.latencies_ms += p["lat"]  # type: ignore[arg-type]
        cell.error_samples += p["samples"]  # type: ignore[arg-type]
    return cell


def _cold_cells(mesh: Any, moto: Any, size: int, args: argparse.Namespace, skip: str) -> list[dict[str, Any]]:
    """Direct GET from moto, cold GET through aismesh, warm GET: every object once, in one run."""
    if skip or mesh is None or moto is None:
        cell = CellResult(target="aismesh-cold", op="get", size=size, skipped=skip or "needs moto and a mesh")
        return [cell.summary()]
    out = []
    for cell in coldget.run(mesh.host, mesh.port, moto.port, size, objects_for(size), args.concurrency):
        summary = cell.summary()
        summary["peak_rss_kib"] = {}
        out.append(summary)
        print(f"  {cell.target:15} get   {format_size(size):>6}: {summary['mb_per_s']:.1f} MB/s, "
              f"p50 {summary['p50_ms']:.1f} ms, p99 {summary['p99_ms']:.1f} ms, errors {cell.errors}", flush=True)
    return out


def main(args: argparse.Namespace) -> int:
    if args.quick:
        args.sizes, args.duration = "4KiB,1MiB", 1.0
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    wanted = [t.strip() for t in args.targets.split(",") if t.strip()]
    bad = [t for t in wanted if t not in ALL_TARGETS] + [o for o in ops if o not in ("get", "put", "mixed")]
    if bad:
        print(f"aismesh bench: unknown target or op: {', '.join(bad)}")
        return 2
    workdir = tempfile.mkdtemp(prefix="aismesh-bench-")
    started: list[Any] = []
    mesh = None
    try:
        targets: list[Target] = []
        moto = None
        cold_skip = ""
        if "moto" in wanted or ("aismesh-cold" in wanted and not args.endpoint):
            moto = servers.start_moto(workdir)
            started.append(moto)
        if "aismesh-cold" in wanted and args.endpoint:
            cold_skip = "needs the mesh the bench starts (its aws adapter reads the bench's moto)"
        if any(t.startswith("aismesh") for t in wanted):
            if args.endpoint:
                host, port = args.endpoint.split("//")[-1].rstrip("/").split(":")
                mesh = servers.Mesh(data=args.mesh_data, url=args.endpoint, host=host, port=int(port), owned=False)
            else:
                print("bench: starting a temporary aismesh (3 storage nodes)...", flush=True)
                mesh = servers.start_mesh(workdir, 3, args.workers,
                                          moto_port=moto.port if moto and "aismesh-cold" in wanted else 0)
            started.append(mesh)
            if "aismesh-s3" in wanted:
                targets.append(S3Target("aismesh-s3", mesh.host, mesh.port, prefix="/s3"))
            if "aismesh-native" in wanted:
                targets.append(NativeTarget("aismesh-native", mesh.host, mesh.port))
        if "moto" in wanted and moto is not None:
            targets.append(S3Target("moto", "127.0.0.1", moto.port))
        if "nginx" in wanted:
            nginx, root = servers.start_nginx(os.path.join(workdir, "nginx"))
            started.append(nginx)
            targets.append(NginxTarget("nginx", "127.0.0.1", nginx.port, get_only=True, root=root))
        for t in targets:
            t.prepare()

        def pids() -> dict[str, int]:
            out = dict(mesh.pids()) if mesh is not None and mesh.data else {}
            for s in started:
                if isinstance(s, servers.Server):
                    out[s.name] = s.proc.pid
            return out

        sampler = RssSampler(pids)
        sampler.start()
        cells: list[dict[str, Any]] = []
        for size in sizes:
            keys = [f"obj/{format_size(size)}/{i:04d}" for i in range(objects_for(size))]
            for t in targets:
                if not t.skipped:
                    t.seed(size, keys)
            if "aismesh-cold" in wanted and "get" in ops:
                cells += _cold_cells(mesh, moto, size, args, cold_skip)
            for op in ops:
                for t in targets:
                    sampler.take_cell()
                    cell = run_cell(t, op, size, keys, args)
                    summary = cell.summary()
                    summary["peak_rss_kib"] = sampler.take_cell()["single_kib"] if not cell.skipped else {}
                    cells.append(summary)
                    print(f"  {t.name:15} {op:5} {format_size(size):>6}: "
                          + (f"skipped ({cell.skipped})" if cell.skipped else
                             f"{summary['ops_per_s']:.0f} ops/s, {summary['mb_per_s']:.1f} MB/s, "
                             f"p99 {summary['p99_ms']:.1f} ms, errors {cell.errors}"), flush=True)
        sampler.stop()
        peaks = sampler.peaks()
        report.add_ratios(cells)
        print()
        print(report.table(cells))
        print()
        print(report.rss_table(peaks))
        print()
        print(report.rss_by_size(cells))
        doc = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sizes": report.sizes_label(sizes),
               "ops": ops, "duration_s": args.duration, "concurrency": args.concurrency,
               "processes": args.processes, "gateway_workers": args.workers, "cells": cells, "peak_rss": peaks}
        path = args.json or os.path.join("bench-results", f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(doc, f, indent=2)
        print(f"\nJSON report: {path}")
        return 1 if any(c["errors"] for c in cells) else 0
    except SetupError as e:
        print(f"aismesh bench: {e}")
        return 1
    finally:
        for s in reversed(started):
            s.stop()
