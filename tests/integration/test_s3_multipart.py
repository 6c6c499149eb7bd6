"""Multipart uploads through boto3's transfer manager and the low-level calls."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration
MiB = 1 << 20


def test_upload_file_in_parts(s3: Any, bucket: str, tmp_path: Any) -> None:
    src = tmp_path / "f"
    src.write_bytes(os.urandom(21 * MiB))
    cfg = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB)
    s3.upload_file(str(src), bucket, "parts.bin", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="parts.bin")
    assert head["ContentLength"] == 21 * MiB
    assert head["ETag"].endswith('-3"')
    assert s3.get_object(Bucket=bucket, Key="parts.bin")["Body"].read() == src.read_bytes()


def test_etag_is_md5_of_part_md5s(s3: Any, bucket: str) -> None:
    parts = [os.urandom(5 * MiB), b"tail"]
    up = s3.create_multipart_upload(Bucket=bucket, Key="m")
    etags = [s3.upload_part(Bucket=bucket, Key="m", UploadId=up["UploadId"], PartNumber=i + 1, Body=p)["ETag"]
             for i, p in enumerate(parts)]
    listed = s3.list_parts(Bucket=bucket, Key="m", UploadId=up["UploadId"])["Parts"]
    assert [p["Size"] for p in listed] == [5 * MiB, 4]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="m", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-2"
    assert done["ETag"] == f'"{expected}"'
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == b"".join(parts)


def test_abort_leaves_nothing(s3: Any, bucket: str) -> None:
    up = s3.create_multipart_upload(Bucket=bucket, Key="a")
    s3.upload_part(Bucket=bucket, Key="a", UploadId=up["UploadId"], PartNumber=1, Body=b"x")
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == [up["UploadId"]]
    s3.abort_multipart_upload(Bucket=bucket, Key="a", UploadId=up["UploadId"])
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="a")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_small_middle_part_is_refused(s3: Any, bucket: str) -> None:
    up = s3.create_multipart_upload(Bucket=bucket, Key="s")
    etags = [s3.upload_part(Bucket=bucket, Key="s", UploadId=up["UploadId"], PartNumber=n, Body=b"tiny")["ETag"]
             for n in (1, 2)]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="s", UploadId=up["UploadId"], MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": t} for n, t in zip((1, 2), etags, strict=True)]})
    assert e.value.response["Error"]["Code"] == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="s", UploadId=up["UploadId"])


def test_unknown_upload_is_no_such_upload(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="x", UploadId="deadbeef", PartNumber=1, Body=b"x")
    assert e.value.response["Error"]["Code"] == "NoSuchUpload"
