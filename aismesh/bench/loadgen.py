"""The load generator: P client processes x T threads, each thread one keep-alive connection.

Bodies are one random buffer per process (no allocation per request); responses are read into
a reused buffer. Every request's latency is kept so percentiles are exact.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import random
import resource
import threading
import time
from dataclasses import dataclass, field
from typing import Any

READ_BUF = 1 << 20


@dataclass
class LoadSpec:
    """What one cell asks of every client process (picklable: it crosses a process boundary)."""

    host: str
    port: int
    op: str                      # get | put | mixed
    size: int
    get_paths: list[str]
    put_paths: list[str]         # a private slice of these goes to each thread (no concurrent PUTs of one key)
    headers: dict[str, str] = field(default_factory=dict)
    threads: int = 4
    pct_put: int = 20
    start_at: float = 0.0        # wall-clock time every process starts at (set once all are up)
    duration_s: float = 5.0


def _read_all(resp: http.client.HTTPResponse, buf: bytearray) -> int:
    view = memoryview(buf)
    total = 0
    while True:
        n = resp.readinto(view)
        if not n:
            return total
        total += n


def _thread(spec: LoadSpec, tid: int, body: bytes, out: dict[str, object], lock: threading.Lock) -> None:
    buf = bytearray(READ_BUF)
    lat: list[float] = []
    count = nbytes = errors = 0
    samples: list[str] = []
    own_puts = spec.put_paths[tid::spec.threads * _NPROC.value] or spec.put_paths[:1]
    rnd = random.Random(tid * 7919 + os.getpid())
    conn: http.client.HTTPConnection | None = None
    deadline = spec.start_at + spec.duration_s
    i = 0
    while time.time() < spec.start_at:
        time.sleep(0.001)
    while True:
        now = time.time()
        if now >= deadline:
            break
        is_put = spec.op == "put" or (spec.op == "mixed" and rnd.randrange(100) < spec.pct_put)
        path = own_puts[i % len(own_puts)] if is_put else spec.get_paths[rnd.randrange(len(spec.get_paths))]
        i += 1
        t0 = time.perf_counter()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(spec.host, spec.port, timeout=60)
            conn.request("PUT" if is_put else "GET", path, body=body if is_put else None, headers=spec.headers)
            resp = conn.getresponse()
            got = _read_all(resp, buf)
            if resp.will_close:
                conn.close()
                conn = None
            if resp.status >= 300:
                errors += 1
                if len(samples) < 3:
                    samples.append(f"{resp.status} {'PUT' if is_put else 'GET'} {path}")
                continue
            nbytes += spec.size if is_put else got
        except (OSError, http.client.HTTPException) as e:
            errors += 1
            if len(samples) < 3:
                samples.append(f"{type(e).__name__}: {e}")
            if conn is not None:
                conn.close()
            conn = None
            continue
        lat.append((time.perf_counter() - t0) * 1000)
        count += 1
    if conn is not None:
        conn.close()
    with lock:
        out["count"] = int(out["count"]) + count  # type: ignore[call-overload]
        out["bytes"] = int(out["bytes"]) + nbytes  # type: ignore[call-overload]
        out["errors"] = int(out["errors"]) + errors  # type: ignore[call-overload]
        out["lat"].extend(lat)  # type: ignore[attr-defined]
        out["samples"].extend(samples)  # type: ignore[attr-defined]


class _NProc:
    value = 1


_NPROC = _NProc()


class _Barrier:
    value: Any = None


_BARRIER = _Barrier()


def _init_process(barrier: Any) -> None:
    _BARRIER.value = barrier


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_process(spec: LoadSpec, proc_index: int, nproc: int) -> dict[str, object]:
    """One client process: spec.threads threads until the deadline; returns raw figures, with
    the process's CPU time over the cell (so the report can show the client's cost per request)."""
    _NPROC.value = nproc
    body = os.urandom(spec.size) if spec.op != "get" else b""
    out: dict[str, object] = {"count": 0, "bytes": 0, "errors": 0, "lat": [], "samples": []}
    lock = threading.Lock()
    # Every process waits here until all are up: a fixed head start was not enough on a busy box,
    # where a late process ran a shorter cell (or none) and the cell reported fewer connections.
    _BARRIER.value.wait(timeout=120)
    spec.start_at = time.time()
    threads = [threading.Thread(target=_thread, args=(spec, proc_index + nproc * t, body, out, lock))
               for t in range(spec.threads)]
    cpu0 = _cpu_s()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["cpu_s"] = _cpu_s() - cpu0
    # Requests in flight at the deadline are finished and counted, so the cell lasted this long.
    out["elapsed_s"] = time.time() - spec.start_at
    return out


def run(spec: LoadSpec, processes: int) -> list[dict[str, object]]:
    """Run the cell in ``processes`` fresh processes that start together."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    # One task a process: a process holds its task at the barrier until every other one has its own.
    with ctx.Pool(processes, initializer=_init_process, initargs=(barrier,)) as pool:
        return pool.starmap(run_process, [(spec, i, processes) for i in range(processes)], chunksize=1)
