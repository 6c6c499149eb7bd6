"""The gateway's open cache (services/gateway/localread.py OpenCache), through the real gateway
and boto3: a re-read object is opened by the gateway itself, and no read ever sees an object
that was overwritten or deleted."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from tests.integration.conftest import Mesh, wait_for


def _reopens(mesh: Mesh, result: str) -> float:
    """The gateway's count of same-host reads its open cache served (hit) or sent to the node."""
    url = next(s["metrics"] for s in mesh.status()["services"] if s["kind"] == "gateway")
    total = 0.0
    for line in requests.get(url, timeout=10).text.splitlines():
        if line.startswith(f'aismesh_local_reopens_total{{result="{result}"}}'):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _get(s3: Any, bucket: str, key: str) -> bytes:
    data: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def test_a_reread_object_comes_from_the_open_cache(mesh: Mesh, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"first")
    hits = _reopens(mesh, "hit")
    for _ in range(8):
        assert _get(s3, bucket, "k") == b"first"
    # Each gateway worker asks the node once, then opens the object itself.
    assert _reopens(mesh, "hit") - hits >= 4


def test_no_read_sees_an_overwritten_or_deleted_object(mesh: Mesh, s3: Any, bucket: str) -> None:
    for i in range(25):
        body = f"version {i} ".encode() * (i + 1)
        s3.put_object(Bucket=bucket, Key="k", Body=body)
        assert _get(s3, bucket, "k") == body
        assert _get(s3, bucket, "k") == body
        if i % 5 == 4:
            s3.delete_object(Bucket=bucket, Key="k")
            with pytest.raises(ClientError) as ei:
                _get(s3, bucket, "k")
            assert ei.value.response["Error"]["Code"] == "NoSuchKey"
    # Ranges always ask the node, and agree with the cached whole object.
    s3.put_object(Bucket=bucket, Key="k", Body=b"0123456789abcdef")
    whole = _get(s3, bucket, "k")
    assert _get(s3, bucket, "k") == whole == b"0123456789abcdef"
    assert s3.get_object(Bucket=bucket, Key="k", Range="bytes=3-9")["Body"].read() == whole[3:10]


def test_a_bucket_that_starts_verifying_reads_stops_using_the_cache(mesh: Mesh, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"checked")
    for _ in range(4):
        assert _get(s3, bucket, "k") == b"checked"
    r = requests.patch(f"{mesh.url}/v1/buckets/{bucket}", params={"provider": "ais"}, timeout=10,
                       json={"action": "set-bprops", "value": {"checksum": {"validate_warm_get": True}}})
    assert r.status_code == 200, r.text
    # The setting reaches every gateway worker with the BMD; from then on each read is the node's.
    wait_for("every gateway worker knows the bucket verifies reads", lambda: _reads_skip_the_cache(mesh, s3, bucket))
    hits = _reopens(mesh, "hit")
    for _ in range(8):
        assert _get(s3, bucket, "k") == b"checked"
    assert _reopens(mesh, "hit") == hits


def _reads_skip_the_cache(mesh: Mesh, s3: Any, bucket: str) -> bool:
    hits = _reopens(mesh, "hit")
    for _ in range(4):
        _get(s3, bucket, "k")
    return _reopens(mesh, "hit") == hits
