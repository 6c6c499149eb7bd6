"""Object headers S3 stores and returns: representation headers and x-amz-meta-*."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

pytestmark = pytest.mark.integration

EXPIRES = datetime(2094, 12, 1, 16, 0, tzinfo=UTC)


def _check(h: dict[str, Any]) -> None:
    assert h["ContentType"] == "text/html"
    assert h["ContentEncoding"] == "identity"
    assert h["ContentDisposition"] == 'attachment; filename="x.html"'
    assert h["ContentLanguage"] == "de"
    assert h["CacheControl"] == "max-age=3600"
    assert h["Expires"] == EXPIRES
    assert h["Metadata"] == {"color": "blue", "s3.trick": "yes"}


def test_put_stores_and_get_head_return_headers(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="page", Body=b"<p>hi</p>", ContentType="text/html",
                  ContentEncoding="identity", ContentDisposition='attachment; filename="x.html"',
                  ContentLanguage="de", CacheControl="max-age=3600", Expires=EXPIRES,
                  Metadata={"color": "blue", "s3.trick": "yes"})
    _check(s3.head_object(Bucket=bucket, Key="page"))
    got = s3.get_object(Bucket=bucket, Key="page")
    _check(got)
    assert got["Body"].read() == b"<p>hi</p>"


def test_multipart_stores_headers(s3: Any, bucket: str) -> None:
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="text/html", ContentEncoding="identity",
                                    ContentDisposition='attachment; filename="x.html"', ContentLanguage="de",
                                    CacheControl="max-age=3600", Expires=EXPIRES,
                                    Metadata={"color": "blue", "s3.trick": "yes"})["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"abc")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    _check(s3.head_object(Bucket=bucket, Key="mp"))


def test_aws_chunked_marker_is_not_stored(s3: Any, bucket: str) -> None:
    # A checksum makes botocore send the body aws-chunked (Content-Encoding: gzip,aws-chunked)
    s3.put_object(Bucket=bucket, Key="z", Body=b"data" * 1000, ContentEncoding="gzip", ChecksumAlgorithm="CRC32")
    assert s3.head_object(Bucket=bucket, Key="z")["ContentEncoding"] == "gzip"
    s3.put_object(Bucket=bucket, Key="plain", Body=b"data", ChecksumAlgorithm="CRC32")
    assert "ContentEncoding" not in s3.head_object(Bucket=bucket, Key="plain")


def test_response_overrides_on_get(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ContentType="text/plain")
    got = s3.get_object(Bucket=bucket, Key="k", ResponseContentType="application/json",
                        ResponseContentDisposition="inline", ResponseCacheControl="no-store")
    assert (got["ContentType"], got["ContentDisposition"], got["CacheControl"]) == \
        ("application/json", "inline", "no-store")
    assert s3.head_object(Bucket=bucket, Key="k")["ContentType"] == "text/plain"
