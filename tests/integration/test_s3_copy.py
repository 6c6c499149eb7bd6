"""CopyObject and UploadPartCopy through boto3 and the aws CLI: large objects, ranges, metadata, conditions."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration

MiB = 1 << 20


def _code(e: Any) -> tuple[str, int]:
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_aws_cli_cp_and_mv_of_50mib_between_keys_and_buckets(s3: Any, bucket: str, aws_cli: Any,
                                                              tmp_path: Any) -> None:
    data = os.urandom(50 * MiB)
    src = tmp_path / "big"
    src.write_bytes(data)
    other = f"{bucket}-b"[:63]
    s3.create_bucket(Bucket=other)
    try:
        r = aws_cli("s3", "cp", str(src), f"s3://{bucket}/big", "--no-progress", "--content-type", "video/mp4")
        assert r.returncode == 0, r.stderr.decode()
        r = aws_cli("s3", "cp", f"s3://{bucket}/big", f"s3://{bucket}/copy", "--no-progress")
        assert r.returncode == 0, r.stderr.decode()
        r = aws_cli("s3", "mv", f"s3://{bucket}/copy", f"s3://{other}/moved", "--no-progress")
        assert r.returncode == 0, r.stderr.decode()
        head = s3.head_object(Bucket=other, Key="moved")
        assert head["ContentLength"] == len(data)
        assert head["ETag"].endswith('-7"')  # 8 MiB parts: it went through UploadPartCopy
        # aws CLI v1 sends no metadata with a multipart copy (CreateMultipartUpload has none),
        # so Content-Type is not asserted here; CopyObject keeps it (test_metadata_directive_...).
        got = s3.get_object(Bucket=other, Key="moved")["Body"].read()
        assert hashlib.md5(got).digest() == hashlib.md5(data).digest()
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket=bucket, Key="copy")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    finally:
        for key in ("moved",):
            s3.delete_object(Bucket=other, Key=key)
        s3.delete_bucket(Bucket=other)


def test_copy_object_of_50mib(s3: Any, bucket: str) -> None:
    data = os.urandom(50 * MiB)
    s3.put_object(Bucket=bucket, Key="src", Body=data, Metadata={"k": "v"})
    out = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert out["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    obj = s3.get_object(Bucket=bucket, Key="dst")
    assert obj["Metadata"] == {"k": "v"}
    assert hashlib.md5(obj["Body"].read()).digest() == hashlib.md5(data).digest()


def test_upload_part_copy_with_ranges(s3: Any, bucket: str) -> None:
    data = os.urandom(12 * MiB)
    s3.put_object(Bucket=bucket, Key="src", Body=data)
    up = s3.create_multipart_upload(Bucket=bucket, Key="joined")["UploadId"]
    src = {"Bucket": bucket, "Key": "src"}
    p1 = s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=up, PartNumber=1, CopySource=src,
                             CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    p2 = s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=up, PartNumber=2, CopySource=src,
                             CopySourceRange=f"bytes={5 * MiB}-{len(data) - 1}")
    p3 = s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=up, PartNumber=3, CopySource=src)
    assert p1["CopyPartResult"]["ETag"] == f'"{hashlib.md5(data[:5 * MiB]).hexdigest()}"'
    parts = [{"PartNumber": n, "ETag": p["CopyPartResult"]["ETag"]} for n, p in enumerate((p1, p2, p3), 1)]
    s3.complete_multipart_upload(Bucket=bucket, Key="joined", UploadId=up, MultipartUpload={"Parts": parts})
    got = s3.get_object(Bucket=bucket, Key="joined")["Body"].read()
    assert got == data + data


@pytest.mark.parametrize(("rng", "code", "status"), [
    ("bytes=0-", "InvalidArgument", 400),
    ("bytes=-10", "InvalidArgument", 400),
    ("bytes=10-5", "InvalidArgument", 400),
    ("items=0-5", "InvalidArgument", 400),
    ("bytes=0-100", "InvalidRange", 416),
    ("bytes=100-200", "InvalidRange", 416),
])
def test_upload_part_copy_bad_ranges(s3: Any, bucket: str, rng: str, code: str, status: int) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"x" * 100)
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    try:
        with pytest.raises(ClientError) as e:
            s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=rng)
        assert _code(e) == (code, status)
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="dst", UploadId=up)


def test_upload_part_copy_missing_source_and_upload(s3: Any, bucket: str) -> None:
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "missing"})
    assert _code(e) == ("NoSuchKey", 404)
    s3.abort_multipart_upload(Bucket=bucket, Key="dst", UploadId=up)
    s3.put_object(Bucket=bucket, Key="src", Body=b"abc")
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "src"})
    assert _code(e) == ("NoSuchUpload", 404)


def test_copy_source_conditions(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"abc")["ETag"]
    src = {"Bucket": bucket, "Key": "src"}
    s3.copy_object(Bucket=bucket, Key="ok", CopySource=src, CopySourceIfMatch=etag)
    s3.copy_object(Bucket=bucket, Key="ok2", CopySource=src, CopySourceIfNoneMatch='"other"')
    for kwargs in ({"CopySourceIfMatch": '"other"'}, {"CopySourceIfNoneMatch": etag},
                   {"CopySourceIfModifiedSince": "2100-01-01T00:00:00Z"},
                   {"CopySourceIfUnmodifiedSince": "2000-01-01T00:00:00Z"}):
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="no", CopySource=src, **kwargs)
        assert _code(e) == ("PreconditionFailed", 412), kwargs
    # If-Match true wins over If-Unmodified-Since false
    s3.copy_object(Bucket=bucket, Key="ok3", CopySource=src, CopySourceIfMatch=etag,
                   CopySourceIfUnmodifiedSince="2000-01-01T00:00:00Z")
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, CopySource=src,
                            CopySourceIfMatch='"other"')
    assert _code(e) == ("PreconditionFailed", 412)
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=up)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="no")


def test_metadata_directive_copy_and_replace(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"abc", ContentType="text/plain", Metadata={"a": "1"},
                  CacheControl="max-age=60", ContentDisposition="attachment")
    s3.copy_object(Bucket=bucket, Key="kept", CopySource={"Bucket": bucket, "Key": "src"})
    kept = s3.head_object(Bucket=bucket, Key="kept")
    assert (kept["ContentType"], kept["Metadata"], kept["CacheControl"], kept["ContentDisposition"]) == \
        ("text/plain", {"a": "1"}, "max-age=60", "attachment")
    s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", ContentType="text/csv", Metadata={"b": "2"})
    replaced = s3.head_object(Bucket=bucket, Key="src")
    assert (replaced["ContentType"], replaced["Metadata"]) == ("text/csv", {"b": "2"})
    assert "CacheControl" not in replaced
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"})
    assert _code(e) == ("InvalidRequest", 400)


def test_s3cmd_cp_and_mv(mesh: Any, s3: Any, bucket: str, tmp_path: Any) -> None:
    import subprocess
    import sys

    host = mesh.url.removeprefix("http://") + "/s3"
    cfg = tmp_path / "s3cfg"
    cfg.write_text(f"[default]\naccess_key = testing\nsecret_key = testing\nhost_base = {host}\n"
                   f"host_bucket = {host}\nuse_https = False\nsignature_v2 = False\n")
    data = os.urandom(20 * MiB)
    s3.put_object(Bucket=bucket, Key="src", Body=data, ContentType="text/x-test", Metadata={"m": "1"})

    def s3cmd(*args: str) -> None:
        done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "s3cmd"), "-c", str(cfg), *args],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    s3cmd("cp", f"s3://{bucket}/src", f"s3://{bucket}/copied")
    s3cmd("mv", f"s3://{bucket}/copied", f"s3://{bucket}/moved")
    obj = s3.get_object(Bucket=bucket, Key="moved")
    assert obj["ContentType"] == "text/x-test" and obj["Metadata"] == {"m": "1"}
    assert obj["Body"].read() == data
    assert "Contents" in s3.list_objects_v2(Bucket=bucket, Prefix="src")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="copied")
