"""PUT, GET, HEAD, DELETE through boto3: bytes, sizes, ranges, metadata."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("size", [0, 1, 1000, (1 << 20) + 17])
def test_put_get_bytes_equal(s3: Any, bucket: str, size: int) -> None:
    body = os.urandom(size)
    put = s3.put_object(Bucket=bucket, Key="obj", Body=body)
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["Body"].read() == body
    assert got["ContentLength"] == size


def test_64mib_streams_both_ways(s3: Any, bucket: str, tmp_path: Any) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(64 << 20))
    single_put = TransferConfig(multipart_threshold=1 << 30)
    s3.upload_file(str(src), bucket, "big.bin", Config=single_put)
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ContentLength"] == 64 << 20
    dst = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(dst), Config=single_put)
    assert dst.read_bytes() == src.read_bytes()


def test_head_reports_metadata(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="m", Body=b"hello", ContentType="text/plain", Metadata={"owner": "ann"})
    head = s3.head_object(Bucket=bucket, Key="m")
    assert head["ContentLength"] == 5
    assert head["ContentType"] == "text/plain"
    assert head["Metadata"] == {"owner": "ann"}
    assert head["ETag"] == f'"{hashlib.md5(b"hello").hexdigest()}"'
    assert head["LastModified"] is not None


@pytest.mark.parametrize(("spec", "expected", "content_range"), [
    ("bytes=0-4", slice(0, 5), "bytes 0-4/100"),
    ("bytes=6-", slice(6, 100), "bytes 6-99/100"),
    ("bytes=-4", slice(96, 100), "bytes 96-99/100"),
    ("bytes=90-1000", slice(90, 100), "bytes 90-99/100"),
])
def test_range_reads(s3: Any, bucket: str, spec: str, expected: slice, content_range: str) -> None:
    body = bytes(range(100))
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    got = s3.get_object(Bucket=bucket, Key="r", Range=spec)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == content_range
    assert got["Body"].read() == body[expected]


def test_range_past_end_is_invalid_range(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-20")
    assert e.value.response["Error"]["Code"] == "InvalidRange"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_overwrite_and_delete(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    s3.put_object(Bucket=bucket, Key="k", Body=b"two!")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two!"
    s3.delete_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_copy_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", Metadata={"a": "1"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == b"payload"
    assert got["Metadata"] == {"a": "1"}


def test_list_buckets_shows_and_forgets(s3: Any) -> None:
    name = f"lb-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
