"""Conditional GET, HEAD and PUT through boto3: 304 and 412 with AWS's precedence."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration

PAST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE = datetime.now(UTC) + timedelta(days=365)


def _status(e: Any) -> tuple[str, int]:
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def obj(s3: Any, bucket: str) -> tuple[str, str]:
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"hello")["ETag"]
    return bucket, etag


@pytest.mark.parametrize("method", ["get_object", "head_object"])
def test_read_conditions_precedence(s3: Any, obj: tuple[str, str], method: str) -> None:
    bucket, etag = obj
    call = getattr(s3, method)
    ok = [
        {"IfMatch": etag},
        {"IfMatch": "*"},
        {"IfNoneMatch": '"other"'},
        {"IfModifiedSince": PAST},
        {"IfUnmodifiedSince": FUTURE},
        {"IfMatch": etag, "IfUnmodifiedSince": PAST},  # If-Match true wins: 200
        {"IfNoneMatch": '"other"', "IfModifiedSince": FUTURE},  # If-None-Match true wins: 200
    ]
    for kwargs in ok:
        assert call(Bucket=bucket, Key="k", **kwargs)["ResponseMetadata"]["HTTPStatusCode"] == 200, kwargs
    failed = [{"IfMatch": '"other"'}, {"IfUnmodifiedSince": PAST}, {"IfMatch": '"other"', "IfNoneMatch": etag}]
    for kwargs in failed:
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket, Key="k", **kwargs)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412, kwargs
    not_modified = [{"IfNoneMatch": etag}, {"IfModifiedSince": FUTURE},
                    {"IfNoneMatch": etag, "IfModifiedSince": PAST}]  # If-None-Match false + IMS true: 304
    for kwargs in not_modified:
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket, Key="k", **kwargs)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304, kwargs


def test_412_is_s3_xml_and_304_has_no_body(s3: Any, obj: tuple[str, str], mesh: Any) -> None:
    import urllib.request

    bucket, etag = obj
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", IfMatch='"other"')
    assert _status(e) == ("PreconditionFailed", 412)
    req = urllib.request.Request(f"{mesh.s3}/{bucket}/k", headers={"If-None-Match": etag})
    try:
        urllib.request.urlopen(req)
        raise AssertionError("expected 304")
    except urllib.error.HTTPError as err:
        assert err.code == 304
        assert err.read() == b""
        assert err.headers["ETag"] == etag


def test_put_if_none_match_star(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="new", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="new", Body=b"2", IfNoneMatch="*")
    assert _status(e) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="new")["Body"].read() == b"1"


def test_put_if_match(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"1")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"2", IfMatch='"other"')
    assert _status(e) == ("PreconditionFailed", 412)
    s3.put_object(Bucket=bucket, Key="k", Body=b"3", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"3"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="missing", Body=b"2", IfMatch=etag)
    assert _status(e) == ("NoSuchKey", 404)


def test_complete_multipart_if_none_match_star(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=1, Body=b"new")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up, IfNoneMatch="*",
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert _status(e) == ("PreconditionFailed", 412)
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=up)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"


def test_concurrent_if_none_match_writers_one_wins(s3: Any, bucket: str) -> None:
    """Writers that all pass the gateway's early check: the node's check at commit lets one in."""
    n = 8
    barrier = threading.Barrier(n)
    results: dict[int, str] = {}
    lock = threading.Lock()

    def write(i: int) -> None:
        barrier.wait()
        try:
            s3.put_object(Bucket=bucket, Key="once", Body=bytes([i]) * (2 << 20), IfNoneMatch="*")
            outcome = "ok"
        except ClientError as e:
            outcome = e.response["Error"]["Code"]
        with lock:
            results[i] = outcome

    threads = [threading.Thread(target=write, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, r in results.items() if r == "ok"]
    assert len(winners) == 1, results
    assert sorted(r for r in results.values() if r != "ok") == ["PreconditionFailed"] * (n - 1)
    body = s3.get_object(Bucket=bucket, Key="once")["Body"].read()
    assert body == bytes([winners[0]]) * (2 << 20)


def test_concurrent_if_match_writers_one_wins(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="cas", Body=b"v0")["ETag"]
    n = 6
    barrier = threading.Barrier(n)
    results: dict[int, str] = {}
    lock = threading.Lock()

    def write(i: int) -> None:
        barrier.wait()
        try:
            s3.put_object(Bucket=bucket, Key="cas", Body=bytes([i]) * (2 << 20), IfMatch=etag)
            outcome = "ok"
        except ClientError as e:
            outcome = e.response["Error"]["Code"]
        with lock:
            results[i] = outcome

    threads = [threading.Thread(target=write, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert list(results.values()).count("ok") == 1, results


def test_preconditions_win_over_a_bad_range(s3: Any, obj: tuple[str, str]) -> None:
    bucket, etag = obj
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", Range="bytes=100-200", IfNoneMatch=etag)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", Range="bytes=100-200", IfMatch='"other"')
    assert _status(e) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", Range="bytes=100-200", IfMatch=etag)
    assert _status(e) == ("InvalidRange", 416)
    got = s3.get_object(Bucket=bucket, Key="k", Range="bytes=1-2", IfMatch=etag)
    assert got["Body"].read() == b"el"
