"""Listing details: encoding-type=url, fetch-owner, ListBuckets paging, prefixes that match nothing."""

from __future__ import annotations

import os
import urllib.request
from typing import Any
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration

ODD = ["a b/c+d", "a b/e%f", "plain", "uni/é€", "ctl\x01key"]


@pytest.fixture
def odd_keys(s3: Any, bucket: str) -> str:
    for k in ODD:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    return bucket


def test_encoding_type_url_v1_and_v2(s3: Any, odd_keys: str, mesh: Any) -> None:
    b = odd_keys
    v2 = s3.list_objects_v2(Bucket=b, EncodingType="url")
    # botocore leaves the names encoded when the caller asked for encoding-type itself
    assert sorted(unquote_plus(o["Key"]) for o in v2["Contents"]) == sorted(ODD)
    # ... and decodes them when it asked on its own (it always does, for ListObjects)
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"]) == sorted(ODD)
    v2d = s3.list_objects_v2(Bucket=b, EncodingType="url", Delimiter="/", Prefix="a ")
    assert [p["Prefix"] for p in v2d["CommonPrefixes"]] == ["a%20b/"]
    assert v2d["Prefix"] == "a%20"
    v1 = s3.list_objects(Bucket=b, EncodingType="url", MaxKeys=2)
    assert v1["IsTruncated"] and [unquote_plus(o["Key"]) for o in v1["Contents"]] == sorted(ODD)[:2]
    v1b = s3.list_objects(Bucket=b, EncodingType="url", Marker=unquote_plus(v1["NextMarker"]))
    assert [unquote_plus(o["Key"]) for o in v1b["Contents"]] == sorted(ODD)[2:]
    raw = urllib.request.urlopen(f"{mesh.s3}/{b}?list-type=2&encoding-type=url").read().decode()
    assert "<Key>a%20b/c%2Bd</Key>" in raw and "<Key>ctl%01key</Key>" in raw
    assert "<EncodingType>url</EncodingType>" in raw


def test_encoding_type_url_in_list_multipart_uploads(s3: Any, bucket: str, mesh: Any) -> None:
    up = s3.create_multipart_upload(Bucket=bucket, Key="a b+c")["UploadId"]
    try:
        got = s3.list_multipart_uploads(Bucket=bucket, EncodingType="url")
        assert [unquote_plus(u["Key"]) for u in got["Uploads"]] == ["a b+c"]
        raw = urllib.request.urlopen(f"{mesh.s3}/{bucket}?uploads&encoding-type=url").read().decode()
        assert "<Key>a%20b%2Bc</Key>" in raw
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="a b+c", UploadId=up)


def test_bad_encoding_type(s3: Any, bucket: str) -> None:
    for call in (lambda: s3.list_objects_v2(Bucket=bucket, EncodingType="base64"),
                 lambda: s3.list_multipart_uploads(Bucket=bucket, EncodingType="base64")):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "InvalidArgument"


def test_fetch_owner(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert "Owner" not in s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    assert s3.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"][0]["Owner"]["ID"] == "aismesh"
    assert "Owner" in s3.list_objects(Bucket=bucket)["Contents"][0]


def test_prefixes_and_delimiters_that_match_nothing(s3: Any, bucket: str) -> None:
    for k in ("a", "b/c"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    none = s3.list_objects_v2(Bucket=bucket, Prefix="zzz", Delimiter="/")
    assert none["KeyCount"] == 0 and "Contents" not in none and "CommonPrefixes" not in none
    assert not none["IsTruncated"]
    flat = s3.list_objects_v2(Bucket=bucket, Prefix="b/c", Delimiter="/")
    assert [o["Key"] for o in flat["Contents"]] == ["b/c"] and "CommonPrefixes" not in flat
    assert s3.list_objects(Bucket=bucket, Prefix="nothing/")["IsTruncated"] is False
    # any delimiter, not only "/" (tests/integration/test_s3_listing_delimiters.py)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Delimiter="|")["Contents"]] == ["a", "b/c"]


def test_list_buckets_paging_and_prefix(s3: Any) -> None:
    stem = f"lb-{os.urandom(3).hex()}"
    names = [f"{stem}-{i}" for i in range(5)]
    for n in names:
        s3.create_bucket(Bucket=n)
    try:
        seen: list[str] = []
        kwargs: dict[str, Any] = {"MaxBuckets": 2, "Prefix": stem}
        pages = 0
        while True:
            page = s3.list_buckets(**kwargs)
            pages += 1
            assert page["Prefix"] == stem
            seen += [b["Name"] for b in page["Buckets"]]
            if "ContinuationToken" not in page:
                break
            kwargs["ContinuationToken"] = page["ContinuationToken"]
        assert seen == names and pages == 3
        everything = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert set(names) <= set(everything)
        assert s3.list_buckets(Prefix=f"{stem}-9")["Buckets"] == []
        for bad in ({"ContinuationToken": "bogus"},):
            with pytest.raises(ClientError) as e:
                s3.list_buckets(**bad)
            assert e.value.response["Error"]["Code"] == "InvalidArgument"
    finally:
        for n in names:
            s3.delete_bucket(Bucket=n)


def test_list_multipart_uploads_pages(s3: Any, bucket: str) -> None:
    ups = [(k, s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"]) for k in ("x", "x", "y", "z")]
    try:
        pages = list(s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, MaxUploads=1))
        listed = [(u["Key"], u["UploadId"]) for p in pages for u in p.get("Uploads", [])]
        assert sorted(listed) == sorted(ups) and len(pages) == 4
        first = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2)
        assert first["IsTruncated"] and first["NextKeyMarker"] == "x"
        after = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="x")
        assert [u["Key"] for u in after["Uploads"]] == ["y", "z"] and not after["IsTruncated"]
    finally:
        for k, up in ups:
            s3.abort_multipart_upload(Bucket=bucket, Key=k, UploadId=up)
