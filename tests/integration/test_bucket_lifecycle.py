"""A bucket's identity is checked by the metadata service whatever the front end, and deleting a
bucket that must be empty never drops an acknowledged PUT that raced it."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("name", "query"), [
    ("okname", {"namespace": "@../..#x"}),
    ("okname", {"namespace": "@u1#a/b"}),
    ("bad name <x>", {"provider": "aws"}),
    ("bad name <x>", {"namespace": "@u1#ns"}),
])
def test_native_create_refuses_bad_identities(mesh: Any, s3: Any, name: str, query: dict[str, str]) -> None:
    r = requests.post(f"{mesh.url}/v1/buckets/{name}", params=query, json={"action": "create-bck"}, timeout=30)
    assert r.status_code == 400, r.text
    assert "invalid" in r.json()["message"]
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    listed = requests.get(f"{mesh.url}/v1/buckets", timeout=30).json()
    assert all(b["name"] != name for b in listed)


def test_delete_bucket_racing_puts_loses_no_acknowledged_object(mesh: Any, s3: Any) -> None:
    outcomes = {"deleted": 0, "not-empty": 0}
    for round_ in range(25):
        bucket = f"race-{round_}-{os.urandom(2).hex()}"
        s3.create_bucket(Bucket=bucket)
        acked: list[str] = []
        start = threading.Barrier(4)

        def put(n: int, bucket: str = bucket, acked: list[str] = acked, start: threading.Barrier = start) -> None:
            start.wait()
            for i in range(5):
                key = f"p{n}-{i}"
                try:
                    s3.put_object(Bucket=bucket, Key=key, Body=b"x" * 100)
                except ClientError:
                    return  # refused (bucket sealed or gone): not acknowledged, nothing to keep
                acked.append(key)

        threads = [threading.Thread(target=put, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        start.wait()
        try:
            s3.delete_bucket(Bucket=bucket)
            deleted = True
        except ClientError as e:
            assert e.response["Error"]["Code"] == "BucketNotEmpty", e.response
            deleted = False
        for t in threads:
            t.join()
        if deleted:
            outcomes["deleted"] += 1
            # A PUT acknowledged before the decision makes the bucket not empty; one after it would
            # be lost with the bucket: a deleted bucket leaves no acknowledged PUT behind.
            assert acked == [], f"acknowledged, then dropped with the bucket: {acked}"
        else:
            outcomes["not-empty"] += 1
            assert _still_there(s3, bucket, acked)
            for key in acked:
                s3.delete_object(Bucket=bucket, Key=key)
            s3.delete_bucket(Bucket=bucket)
    assert outcomes["not-empty"] > 0


def _still_there(s3: Any, bucket: str, keys: list[str]) -> bool:
    try:
        listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    except ClientError:
        return False
    return set(keys) <= listed
