"""Two metadata services: one primary by etcd lease, the other forwards writes to it; killing
the primary moves the role within seconds and loses or doubles no bucket operation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from botocore.exceptions import ClientError

from aismesh.protos import metadata_pb2, metadata_pb2_grpc, types_pb2
from tests.integration.conftest import Mesh, running_mesh, s3_client

pytestmark = pytest.mark.integration
ETCDCTL = os.path.join(os.path.dirname(sys.executable), "etcdctl")
SERVICE_OF = {"m1": "metadata", "m2": "metadata2"}


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with running_mesh(str(tmp_path_factory.mktemp("ha")), "--metadata-replicas", "2") as m:
        yield m


def etcdctl(m: Mesh, *args: str) -> str:
    return subprocess.run([ETCDCTL, f"--endpoints={m.etcd}", *args], capture_output=True, text=True,
                          check=True, timeout=30).stdout


def primary(m: Mesh) -> dict[str, str]:
    out = etcdctl(m, "get", "--print-value-only", "/ais/election/metadata").strip()
    return json.loads(out) if out else {}


def wait_primary(m: Mesh, not_instance: str = "", timeout: float = 15.0) -> dict[str, str]:
    """The primary's {"id", "addr", "instance"} once one holds the role (another process than
    ``not_instance``: the supervisor restarts a killed replica, which may win the role back)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = primary(m)
        if p and p["instance"] != not_instance:
            return p
        time.sleep(0.1)
    raise AssertionError(f"no new primary within {timeout} s (was {not_instance})")


def bmd_version(m: Mesh) -> int:
    return int(json.loads(etcdctl(m, "get", "--print-value-only", "/ais/bmd"))["version"])


def addr_of(m: Mesh, service: str) -> str:
    return str(next(s["addr"] for s in m.status()["services"] if s["name"] == service))


def test_a_replica_forwards_writes_to_the_primary(ha: Mesh) -> None:
    p = wait_primary(ha)
    other = "m2" if p["id"] == "m1" else "m1"
    with grpc.insecure_channel(addr_of(ha, SERVICE_OF[other])) as ch:
        stub = metadata_pb2_grpc.MetadataStub(ch)
        name = f"fwd-{os.urandom(3).hex()}"
        stub.CreateBucket(metadata_pb2.CreateBucketRequest(bck=types_pb2.Bck(provider="ais", name=name)),
                          timeout=30)
        assert name in [b.bck.name for b in stub.ListBuckets(metadata_pb2.ListBucketsRequest(), timeout=30).buckets]
    logs = os.path.join(ha.data, "logs")
    with open(os.path.join(logs, f"{SERVICE_OF[p['id']]}.log")) as f:
        assert any("bucket created" in line and name in line for line in f)
    with open(os.path.join(logs, f"{SERVICE_OF[other]}.log")) as f:
        assert not any("bucket created" in line and name in line for line in f)


def test_killing_the_primary_moves_the_role_and_loses_no_bucket(ha: Mesh) -> None:
    s3 = s3_client(ha)
    names = [f"ha-{i}-{os.urandom(2).hex()}" for i in range(12)]
    before = bmd_version(ha)
    old = wait_primary(ha)
    for i, name in enumerate(names):
        if i == 4:
            os.kill(ha.pid(SERVICE_OF[old["id"]]), signal.SIGKILL)
            killed = time.monotonic()
        _create_until_done(s3, name)
    wait_primary(ha, not_instance=old["instance"])
    assert time.monotonic() - killed < 15
    listed = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert set(names) <= listed
    # One BMD version per bucket: no create was applied twice, none was lost.
    assert bmd_version(ha) - before == len(names)
    ha.wait_healthy()


def _create_until_done(s3: Any, name: str, timeout: float = 30.0) -> None:
    """Create as a client that retries 503 would; a retry may find its own earlier success."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            s3.create_bucket(Bucket=name)
            return
        except ClientError as e:
            code = e.response["Error"]["Code"]
            if code == "BucketAlreadyOwnedByYou":
                return
            if code != "ServiceUnavailable" or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def test_a_node_that_registers_again_leaks_no_lease(ha: Mesh) -> None:
    ha.wait_healthy()
    for node in ("t1", "t2"):
        lease = _node_lease(ha, node)
        old = ha.kill(node)
        ha.wait_healthy(node, not_pid=old)
        # The killed process's lease is revoked when its successor registers, not left to lapse.
        deadline = time.monotonic() + 10
        while _node_lease(ha, node) == lease and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _node_lease(ha, node) != lease
        assert lease not in _leases(ha)


def _node_lease(m: Mesh, node: str) -> str:
    doc = json.loads(etcdctl(m, "get", f"/ais/nodes/{node}", "-w", "json"))
    return format(int(doc["kvs"][0]["lease"]), "x")


def _leases(m: Mesh) -> set[str]:
    return {line.split()[0] for line in etcdctl(m, "lease", "list").splitlines()[1:] if line.strip()}
