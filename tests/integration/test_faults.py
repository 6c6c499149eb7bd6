"""Faults that must fail fast instead of hanging: a frozen storage node, a killed gateway master.

A mesh of its own (a short stall bound, so the tests stay quick), once with the same-host fast
path and once with everything over gRPC: the two paths have separate timeouts.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.integration.conftest import Mesh, running_mesh, s3_client, wait_for

pytestmark = pytest.mark.integration
STALL_S = 2.0


@pytest.fixture(scope="module", params=["auto", "off"], ids=["fast-path", "grpc-only"])
def fmesh(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    data = str(tmp_path_factory.mktemp(f"faults-{request.param}"))
    with running_mesh(data, "--local-socket", request.param, "--workers", "2",
                      env={"AISMESH_STALL_S": str(STALL_S)}) as m:
        yield m


def owner_of(m: Mesh, bucket: str, key: str) -> str:
    r = requests.head(f"{m.url}/v1/objects/{bucket}/{key}", params={"props": "location"}, timeout=30)
    r.raise_for_status()
    found = re.match(r"t\[(\w+)\]", r.headers["Ais-Location"])
    assert found, r.headers
    return found.group(1)


def dropped_writes(m: Mesh, node: str) -> float:
    """The node's count of same-host writes it dropped because their writer had left."""
    url = next(s["metrics"] for s in m.status()["services"] if s["name"] == node)
    text = requests.get(url, timeout=10).text
    found = re.search(r"^aismesh_local_writes_dropped_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def timed_get(url: str) -> tuple[int, float, str]:
    started = time.monotonic()
    r = requests.get(url, timeout=120)
    return r.status_code, time.monotonic() - started, r.text[:300]


def test_frozen_node_fails_fast_and_spares_the_others(fmesh: Mesh) -> None:
    s3 = s3_client(fmesh)
    bucket = f"frozen-{os.urandom(3).hex()}"
    s3.create_bucket(Bucket=bucket)
    # Small objects take one unary call, 3 MiB ones a stream: both paths must time out.
    keys = [f"k{i}" for i in range(24)]
    for i, k in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=k, Body=bytes([i]) * (3 << 20 if i % 2 else 4096))
    owners = {k: owner_of(fmesh, bucket, k) for k in keys}
    victim = owners[keys[1]]
    on_victim = [k for k in keys if owners[k] == victim]
    elsewhere = [k for k in keys if owners[k] != victim]
    assert on_victim and elsewhere

    url = f"{fmesh.s3}/{bucket}/"
    with frozen(fmesh.pid(victim)), ThreadPoolExecutor(max_workers=48) as pool:
        # More requests for the frozen node than the gateway has threads (2 workers x 8), as
        # clients would send them: one every 50 ms. Requests to healthy nodes must not queue
        # behind them.
        stuck = []
        for i in range(32):
            stuck.append(pool.submit(timed_get, url + on_victim[i % len(on_victim)]))
            time.sleep(0.05)
        healthy = [timed_get(url + k) for k in elsewhere]
        results = [f.result() for f in stuck]

    for status, took, _ in healthy:
        assert status == 200
        assert took < STALL_S, f"a GET of a healthy node waited {took:.1f} s behind the frozen one"
    for status, took, body in results:
        assert status == 503, body
        assert f"t[{victim}]" in body
        assert "<Code>ServiceUnavailable</Code>" in body
        assert took < STALL_S * 3 + 2, f"a GET of the frozen node took {took:.1f} s"

    # Thawed, the node serves again without a restart: once every gateway worker's health probe
    # has seen it back (until then a worker answers 503 at once), every object reads.
    wait_for("every gateway worker serves the thawed node again",
             lambda: all(requests.get(url + k, timeout=30).status_code == 200 for k in on_victim * 4), 30)
    for k in keys:
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == bytes([keys.index(k)]) * (
            3 << 20 if keys.index(k) % 2 else 4096)


def test_frozen_node_fails_a_put_fast_and_keeps_the_old_object(fmesh: Mesh, request: pytest.FixtureRequest) -> None:
    fast_path = request.node.callspec.params["fmesh"] == "auto"
    s3 = s3_client(fmesh)
    bucket = f"frozenput-{os.urandom(3).hex()}"
    s3.create_bucket(Bucket=bucket)
    for size in (4096, 5 << 20):
        key = f"obj-{size}"
        s3.put_object(Bucket=bucket, Key=key, Body=b"old" * 10)
        victim = owner_of(fmesh, bucket, key)
        dropped = dropped_writes(fmesh, victim)
        with frozen(fmesh.pid(victim)):
            started = time.monotonic()
            r = requests.put(f"{fmesh.s3}/{bucket}/{key}", data=b"n" * size, timeout=120)
            took = time.monotonic() - started
        assert r.status_code == 503, r.text
        assert f"t[{victim}]" in r.text
        assert took < STALL_S * 3 + 2
        if fast_path:
            # The node, thawed, finds the write its writer gave up on (queued on the socket, or
            # half through the pipe) and drops it, so the 503 stays true.
            wait_for(f"t[{victim}] to drop the abandoned write",
                     lambda v=victim, d=dropped: dropped_writes(fmesh, v) > d)  # type: ignore[misc]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = requests.get(f"{fmesh.s3}/{bucket}/{key}", timeout=30)
            if got.status_code == 200:
                break
            time.sleep(0.2)
        assert got.content == b"old" * 10


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_killed_gateway_master_takes_its_workers_and_restarts_first_time(fmesh: Mesh) -> None:
    master = fmesh.pid("gateway")
    workers = _children(master)
    assert workers
    log = os.path.join(fmesh.data, "logs", "gateway.log")
    log_size = os.path.getsize(log)
    os.kill(master, signal.SIGKILL)
    deadline = time.monotonic() + 2
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(_alive(w) for w in workers), "gunicorn workers outlived their master"
    fmesh.wait_healthy("gateway", not_pid=master)
    with open(log, errors="replace") as f:
        f.seek(log_size)
        assert "Connection in use" not in f.read()
    assert requests.get(f"{fmesh.url}/v1/health", timeout=10).status_code == 200
