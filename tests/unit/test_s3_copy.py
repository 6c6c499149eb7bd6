"""The pure parts of CopyObject / UploadPartCopy (services/gateway/s3/copy.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aismesh.cmn.ranges import ByteRange
from services.gateway.s3.copy import metadata_directive, parse_source, parse_source_range
from services.gateway.s3.errors import S3Error


@pytest.mark.parametrize(("value", "expected"), [
    ("bkt/key", ("bkt", "key")),
    ("/bkt/a/b%20c", ("bkt", "a/b c")),
    ("bkt/k%3Fx?versionId=null", ("bkt", "k?x")),
    ("bkt/%E2%82%AC", ("bkt", "€")),
])
def test_parse_source(value: str, expected: tuple[str, str]) -> None:
    assert parse_source(value) == expected


@pytest.mark.parametrize("value", ["", "bkt", "bkt/", "/key-only"])
def test_parse_source_refuses(value: str) -> None:
    with pytest.raises(S3Error) as e:
        parse_source(value)
    assert (e.value.code, e.value.status) == ("InvalidArgument", 400)


def test_source_range() -> None:
    assert parse_source_range("") is None
    assert parse_source_range("bytes=0-9") == ByteRange(start=0, end=9)
    assert parse_source_range(" bytes=5-5 ") == ByteRange(start=5, end=5)


@pytest.mark.parametrize("value", ["bytes=0-", "bytes=-5", "bytes=9-0", "items=0-5", "bytes=0-5,7-9",
                                   "bytes= 0-5", "bytes=+1-5", "bytes=\u0660-5"])
def test_source_range_refuses(value: str) -> None:
    with pytest.raises(S3Error) as e:
        parse_source_range(value)
    assert (e.value.code, e.value.status) == ("InvalidArgument", 400)


@given(st.integers(0, 1 << 70), st.integers(0, 1 << 70))
def test_source_range_property(first: int, last: int) -> None:
    try:
        got = parse_source_range(f"bytes={first}-{last}")
    except S3Error:
        assert last < first or max(first, last) > (1 << 63) - 1
        return
    assert got is not None and got.start is not None and got.end is not None
    assert got.start <= got.end


def test_metadata_directive() -> None:
    assert metadata_directive({}) == "COPY"
    assert metadata_directive({"x-amz-metadata-directive": "replace"}) == "REPLACE"
    with pytest.raises(S3Error):
        metadata_directive({"x-amz-metadata-directive": "MERGE"})
