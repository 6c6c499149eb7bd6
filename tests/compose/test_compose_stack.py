"""docker-compose.yml as a user runs it: S3 through the published gateway, the cluster metadata
in the etcd cluster, and containers killed and brought back (docs/compose.md)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compose.conftest import Stack, wait_for

# The first test also pays for what the stack fixture may have to make: an engine, the base
# image, the wheelhouse and the image (minutes on a fresh machine).
pytestmark = pytest.mark.timeout(1800)


def status(e: ClientError) -> int:
    return int(e.response["ResponseMetadata"]["HTTPStatusCode"])


def put_objects(s3: Any, bucket: str, n: int) -> dict[str, str]:
    """``n`` objects of a few KiB each (enough that every storage node owns some); name → sha256."""
    sums = {}
    for i in range(n):
        body = os.urandom(1024 + 97 * i)
        s3.put_object(Bucket=bucket, Key=f"obj/{i:03d}", Body=body)
        sums[f"obj/{i:03d}"] = hashlib.sha256(body).hexdigest()
    return sums


def unreadable(s3: Any, bucket: str, sums: dict[str, str]) -> dict[str, str]:
    """The objects that cannot be read back whole right now, each with why; wrong bytes fail at once."""
    bad = {}
    for key, digest in sums.items():
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as e:
            bad[key] = f"HTTP {status(e)}"
            continue
        assert hashlib.sha256(body).hexdigest() == digest, f"{key}: other bytes than were written"
    return bad


def test_s3_round_trip(s3: Any, bucket: str) -> None:
    bodies = {"small": b"hello from compose\n", "dir/one-mib": os.urandom(1 << 20),
              "dir/sub/large": os.urandom((5 << 20) + 123)}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    for key, body in bodies.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert s3.get_object(Bucket=bucket, Key="dir/one-mib", Range="bytes=10-19")["Body"].read() == \
        bodies["dir/one-mib"][10:20]
    assert s3.head_object(Bucket=bucket, Key="dir/sub/large")["ContentLength"] == len(bodies["dir/sub/large"])

    listed = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == sorted(bodies)
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["small"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["dir/"]

    s3.delete_object(Bucket=bucket, Key="small")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="small")
    assert e.value.response["Error"]["Code"] == "NoSuchKey"


def test_bmd_and_smap_in_the_etcd_cluster(stack: Stack, bucket: str) -> None:
    # The etcd cluster: three members, each healthy (a member answers for all of them).
    members = [m for m in stack.etcdctl("member", "list").splitlines() if m.strip()]
    assert len(members) == 3 and all(", started, " in m for m in members), members
    health = stack.etcdctl("endpoint", "health", "--cluster")
    assert health.count("is healthy") == 3, health

    # The bucket just made through S3 is in the BMD (provider/namespace/name → props).
    bmd = stack.etcd_json("/ais/bmd")
    assert any(uname.startswith("ais/") and uname.endswith("/" + bucket) for uname in bmd["buckets"]), \
        sorted(bmd["buckets"])
    # Every storage node registered under its service name (what the gateway dials).
    smap = stack.etcd_json("/ais/smap")
    targets = {n["id"]: n for n in smap["nodes"].values() if n["type"] == "target"}
    assert sorted(targets) == ["t1", "t2", "t3"]
    assert all(n["state"] == "online" and n["grpc_addr"] == f"{i}:7200" for i, n in targets.items()), targets


def test_storage_node_killed_and_restarted_keeps_its_objects(stack: Stack, s3: Any, bucket: str) -> None:
    sums = put_objects(s3, bucket, 30)
    assert unreadable(s3, bucket, sums) == {}

    stack.run("kill", "t2")  # SIGKILL, and no restart: the engine treats a kill as meant
    wait_for(lambda: stack.state("t2")[0] == "exited", 30, "t2 exited")
    # While it is down its objects are unavailable (never wrong bytes); the others still read.
    down = unreadable(s3, bucket, sums)
    assert down and len(down) < len(sums), down
    assert set(down.values()) == {"HTTP 503"}, down

    started = time.monotonic()
    stack.run("start", "t2")
    stack.wait_healthy("t2")
    wait_for(lambda: unreadable(s3, bucket, sums) == {}, 60, "every object readable after t2 restarted")
    print(f"t2 back and all objects readable {time.monotonic() - started:.1f} s after `compose start`")


def test_crashed_service_is_restarted_by_its_restart_policy(stack: Stack, s3: Any, bucket: str) -> None:
    sums = put_objects(s3, bucket, 12)
    before = stack.restarts("t3")
    # The service itself dies (its container's init, PID 1, stays): the policy restarts it.
    stack.exec("t3", "sh", "-c", "kill -KILL $(cat /proc/1/task/1/children)")
    wait_for(lambda: stack.restarts("t3") > before, 30, "t3 restarted by the engine")
    stack.wait_healthy("t3")
    wait_for(lambda: unreadable(s3, bucket, sums) == {}, 60, "every object readable after t3 came back")


def primary_metadata(stack: Stack) -> str:
    """The metadata service holding the primary's lease in etcd, by its --id (m1 → metadata1)."""
    holder = json.loads(stack.etcdctl("get", "/ais/election/metadata", "--print-value-only"))
    return "metadata" + str(holder["id"]).removeprefix("m")


def test_primary_metadata_killed_bucket_creation_still_works(stack: Stack) -> None:
    primary = wait_for(lambda: primary_metadata(stack), 30, "a primary metadata service")
    survivor = {"metadata1": "metadata2", "metadata2": "metadata1"}[primary]
    stack.run("kill", primary)
    wait_for(lambda: stack.state(primary)[0] == "exited", 30, f"{primary} exited")
    try:
        # New clients each time: every gateway worker has its own channel to the metadata alias.
        names = [f"after-kill-{i}-{os.urandom(3).hex()}" for i in range(6)]
        started = time.monotonic()
        for name in names:
            wait_for(lambda name=name: create_bucket(stack, name), 60, f"bucket {name} created without {primary}")
        took = time.monotonic() - started
        s3 = stack.s3()
        for name in names:
            s3.put_object(Bucket=name, Key="k", Body=name.encode())
            assert s3.get_object(Bucket=name, Key="k")["Body"].read() == name.encode()
        listed = {b["Name"] for b in s3.list_buckets()["Buckets"]}
        assert set(names) <= listed
        # The survivor takes the primary's lease once the dead one's lapses.
        wait_for(lambda: primary_metadata(stack) == survivor, 30, f"{survivor} primary")
        print(f"{len(names)} buckets created in {took:.1f} s with {primary} (the primary) killed")
        for name in names:
            s3.delete_object(Bucket=name, Key="k")
            s3.delete_bucket(Bucket=name)
    finally:
        stack.run("start", primary)
        stack.wait_healthy(primary)


def create_bucket(stack: Stack, name: str) -> bool:
    """One CreateBucket through a fresh client; a retry that finds its own bucket counts as done."""
    try:
        stack.s3(read_timeout=15).create_bucket(Bucket=name)
    except ClientError as e:
        if e.response["Error"]["Code"] == "BucketAlreadyOwnedByYou":
            return True
        raise
    return True
