"""Processes die: a storage node and the metadata service come back with everything."""

from __future__ import annotations

import os
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def test_storage_nodes_killed_keep_their_objects(mesh: Any, s3: Any, bucket: str) -> None:
    keys = [f"k{i}" for i in range(60)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode() * 100)
    for node in ("t1", "t2", "t3"):
        old = mesh.kill(node)
        mesh.wait_healthy(node, not_pid=old)
        mesh.wait_healthy()
    for k in keys:
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == k.encode() * 100
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == sorted(keys)


def test_metadata_service_killed_keeps_every_bucket(mesh: Any, s3: Any) -> None:
    names = [f"keep-{os.urandom(3).hex()}" for _ in range(3)]
    for n in names:
        s3.create_bucket(Bucket=n)
    old = mesh.kill("metadata")
    mesh.wait_healthy("metadata", not_pid=old)
    mesh.wait_healthy()
    listed = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert set(names) <= set(listed)
    s3.put_object(Bucket=names[0], Key="after", Body=b"still works")
    assert s3.get_object(Bucket=names[0], Key="after")["Body"].read() == b"still works"
    new = f"new-{os.urandom(3).hex()}"
    s3.create_bucket(Bucket=new)
    for n in [*names, new]:
        s3.delete_object(Bucket=n, Key="after")
        s3.delete_bucket(Bucket=n)
