"""Soak: a mixed load for a while; every service's descriptors and memory must stay flat.

`make test` runs the short form (AISMESH_SOAK_S, default 20 s of load); `make soak` the long
one. Sizes are measured from /proc after a warm-up that fills every cache and pool.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.integration.conftest import Mesh, running_mesh, s3_client

pytestmark = pytest.mark.integration
SOAK_S = float(os.environ.get("AISMESH_SOAK_S", "20"))
FD_SLACK = 8                 # descriptors a service may gain (a reconnect, a log rotation)
RSS_SLACK = 1.2              # and memory: 20% over the warm figure ...
RSS_SLACK_MB = 24            # ... plus this much (allocator arenas settle slowly)


def pids_of(m: Mesh) -> dict[str, int]:
    """Every service process, gunicorn workers included (they do the gateway's work)."""
    out: dict[str, int] = {}
    for svc in m.status()["services"]:
        if svc["name"] == "etcd":
            continue
        out[svc["name"]] = svc["pid"]
        for child in _children(svc["pid"]):
            out[f"{svc['name']}:{child}"] = child
    return out


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return found


def usage(pid: int) -> tuple[int, int]:
    """(open descriptors, resident MB) of one process."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/status") as f:
        rss_kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return fds, rss_kb // 1024


def settled(m: Mesh, warm: dict[str, tuple[int, int]], timeout: float = 10.0) -> dict[str, tuple[int, int]]:
    """Usage after the load, once closed client connections have been reaped (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        now = {name: usage(pid) for name, pid in pids_of(m).items()}
        calm = all(name in warm and now[name][0] <= warm[name][0] + FD_SLACK for name in now)
        if calm or time.monotonic() > deadline:
            return now
        time.sleep(0.2)


def load(m: Mesh, bucket: str, seconds: float, stop_on_error: list[str], clients: int = 6) -> int:
    """S3 and native PUT/GET/HEAD/list/delete from several threads, new connections now and then."""
    deadline = time.monotonic() + seconds
    ops = 0
    lock = threading.Lock()

    def worker(n: int) -> None:
        nonlocal ops
        s3 = s3_client(m)
        session = requests.Session()
        i = 0
        while time.monotonic() < deadline and not stop_on_error:
            key = f"w{n}/k{i % 50}"
            body = os.urandom(1 << (10 + i % 12))  # 1 KiB .. 2 MiB
            try:
                s3.put_object(Bucket=bucket, Key=key, Body=body)
                assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
                r = session.get(f"{m.url}/v1/objects/{bucket}/{key}", timeout=60)
                assert r.content == body
                if i % 5 == 0:
                    s3.list_objects_v2(Bucket=bucket, Prefix=f"w{n}/")
                if i % 7 == 0:
                    s3.delete_object(Bucket=bucket, Key=key)
                if i % 11 == 0:
                    session.close()
                    session = requests.Session()
            except Exception as e:
                stop_on_error.append(f"{key}: {e!r}")
            i += 1
            with lock:
                ops += 1
        # Client connections are descriptors of the gateway too: close ours before it is measured.
        session.close()
        s3.close()

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(worker, range(clients)))
    return ops


def test_descriptors_and_memory_stay_flat_under_load(tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_mesh(str(tmp_path_factory.mktemp("soak"))) as m:
        bucket = f"soak-{os.urandom(3).hex()}"
        s3_client(m).create_bucket(Bucket=bucket)
        errors: list[str] = []
        # Warm-up: first more clients than the gateway has threads, so every thread of every
        # worker opens its per-node pools (fast-path sockets, channels), then the steady load.
        load(m, bucket, 5.0, errors, clients=40)
        load(m, bucket, min(10.0, SOAK_S / 2), errors)
        assert not errors, errors[:3]
        warm = {name: usage(pid) for name, pid in pids_of(m).items()}
        ops = load(m, bucket, SOAK_S, errors)
        assert not errors, errors[:3]
        after = settled(m, warm)

    assert ops > 0
    assert set(after) == set(warm), "a service restarted during the soak"
    grew: list[Any] = []
    for name, (fds, rss) in after.items():
        fds0, rss0 = warm[name]
        if fds > fds0 + FD_SLACK:
            grew.append(f"{name}: descriptors {fds0} -> {fds}")
        if rss > rss0 * RSS_SLACK + RSS_SLACK_MB:
            grew.append(f"{name}: RSS {rss0} MB -> {rss} MB")
    assert not grew, f"after {ops} operations: " + "; ".join(grew)
