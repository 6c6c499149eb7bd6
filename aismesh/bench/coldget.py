"""The cold-GET cell: every object read once through aismesh from an aws bucket backed by moto
(cold: the mesh fetches it through its aws adapter while streaming it), against a direct GET of
the same objects from the same moto, and the warm GET that follows (from the mesh's disks)."""

from __future__ import annotations

import http.client
import os
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from aismesh.bench.stats import CellResult
from aismesh.bench.targets import S3_HEADERS, SetupError, call

READ_BUF = 1 << 20


def _get_all(host: str, port: int, paths: list[str], headers: dict[str, str], concurrency: int,
             cell: CellResult) -> None:
    """GET each path once (``concurrency`` connections), recording latency, bytes and errors."""
    def worker(mine: list[str]) -> tuple[list[float], int, int, list[str], float]:
        cpu0 = time.thread_time()
        conn = http.client.HTTPConnection(host, port, timeout=60)
        buf = bytearray(READ_BUF)
        lat, nbytes, errors, samples = [], 0, 0, []
        try:
            for path in mine:
                t0 = time.perf_counter()
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                got = 0
                while n := resp.readinto(memoryview(buf)):
                    got += n
                lat.append((time.perf_counter() - t0) * 1000)
                if resp.status != 200:
                    errors += 1
                    samples.append(f"{resp.status} {path}")
                nbytes += got
        finally:
            conn.close()
        return lat, nbytes, errors, samples, time.thread_time() - cpu0

    shares = [paths[i::concurrency] for i in range(concurrency)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(worker, [s for s in shares if s]))
    cell.duration_s = time.perf_counter() - t0
    for lat, nbytes, errors, samples, cpu_s in results:
        cell.client_cpu_s += cpu_s  # the client's threads only: they run inside the bench's process
        cell.latencies_ms += lat
        cell.count += len(lat)
        cell.bytes += nbytes
        cell.errors += errors
        cell.error_samples += samples


def run(mesh_host: str, mesh_port: int, moto_port: int, size: int, count: int, concurrency: int) -> list[CellResult]:
    """Seed ``count`` objects of ``size`` into a fresh moto bucket, then: direct GET from moto,
    cold GET through aismesh, warm GET through aismesh. Three cells, in that order."""
    bucket = f"bench-cold-{os.urandom(3).hex()}"
    status, text = call("127.0.0.1", moto_port, "PUT", f"/{bucket}", b"", S3_HEADERS)
    if status >= 300:
        raise SetupError(f"moto: creating {bucket} answered {status}: {text[:200]!r}")
    body = os.urandom(size)
    keys = [f"obj/{i:05d}" for i in range(count)]

    def put(key: str) -> None:
        st, txt = call("127.0.0.1", moto_port, "PUT", f"/{bucket}/{quote(key)}", body, S3_HEADERS)
        if st >= 300:
            raise SetupError(f"moto: seeding {key} answered {st}: {txt[:200]!r}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, keys))
    # First access: the mesh confirms the bucket through its aws adapter and adds it to its BMD.
    st, txt = call(mesh_host, mesh_port, "HEAD", f"/v1/buckets/{bucket}?provider=aws")
    if st != 200:
        raise SetupError(f"aismesh: first access to s3://{bucket} answered {st}: {txt[:200]!r}")
    cells = [CellResult(target="moto-direct", op="get", size=size),
             CellResult(target="aismesh-cold", op="get", size=size),
             CellResult(target="aismesh-warm", op="get", size=size)]
    _get_all("127.0.0.1", moto_port, [f"/{bucket}/{quote(k)}" for k in keys], S3_HEADERS, concurrency, cells[0])
    mesh_paths = [f"/v1/objects/{bucket}/{quote(k)}?provider=aws" for k in keys]
    _get_all(mesh_host, mesh_port, mesh_paths, {}, concurrency, cells[1])
    _get_all(mesh_host, mesh_port, mesh_paths, {}, concurrency, cells[2])
    return cells
