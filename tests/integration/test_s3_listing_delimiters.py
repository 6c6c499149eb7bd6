"""ListObjects (V1 and V2) with any delimiter, not only "/": one character, several, non-ASCII,
paging through common prefixes, encoding-type=url, delimiters and prefixes that match nothing,
and continuation tokens (empty: from the start; not ours: 400)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration

KEYS = ["a-1", "a-2", "a-b-c", "b|x", "b|y", "c--d", "c--e", "c-f", "dé1", "dé2", "plain"]


@pytest.fixture
def keyed(s3: Any, bucket: str) -> str:
    for k in KEYS:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    return bucket


def model(prefix: str, delimiter: str) -> tuple[list[str], list[str]]:
    """(keys, common prefixes) S3 lists, computed the obvious way."""
    keys: list[str] = []
    prefixes: list[str] = []
    for k in sorted(KEYS, key=lambda s: s.encode()):
        if not k.startswith(prefix):
            continue
        cut = k.find(delimiter, len(prefix)) if delimiter else -1
        if cut < 0:
            keys.append(k)
        elif k[:cut + len(delimiter)] not in prefixes:
            prefixes.append(k[:cut + len(delimiter)])
    return keys, prefixes


def listed(page: dict[str, Any]) -> tuple[list[str], list[str]]:
    return [o["Key"] for o in page.get("Contents", [])], [p["Prefix"] for p in page.get("CommonPrefixes", [])]


@pytest.mark.parametrize("delimiter", ["-", "|", "--", "é", "b-", "-1", "nothing-matches"])
@pytest.mark.parametrize("prefix", ["", "a", "a-", "c-", "zzz"])
def test_any_delimiter_v2_and_v1(s3: Any, keyed: str, delimiter: str, prefix: str) -> None:
    want = model(prefix, delimiter)
    v2 = s3.list_objects_v2(Bucket=keyed, Prefix=prefix, Delimiter=delimiter)
    assert listed(v2) == want
    assert v2["KeyCount"] == len(want[0]) + len(want[1]) and v2["Delimiter"] == delimiter
    assert listed(s3.list_objects(Bucket=keyed, Prefix=prefix, Delimiter=delimiter)) == want


@pytest.mark.parametrize("delimiter", ["-", "|", "--"])
def test_paging_one_entry_at_a_time_through_common_prefixes(s3: Any, keyed: str, delimiter: str) -> None:
    keys, prefixes = model("", delimiter)
    want = sorted(keys + prefixes, key=lambda s: s.encode())
    got: list[str] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = s3.list_objects_v2(Bucket=keyed, Delimiter=delimiter, MaxKeys=1, **kwargs)
        k, p = listed(page)
        assert len(k) + len(p) == 1
        got += k + p
        if not page["IsTruncated"]:
            break
        kwargs = {"ContinuationToken": page["NextContinuationToken"]}
    assert got == want
    v1: list[str] = []
    marker = ""
    while True:
        page = s3.list_objects(Bucket=keyed, Delimiter=delimiter, MaxKeys=2, Marker=marker)
        k, p = listed(page)
        v1 += sorted(k + p, key=lambda s: s.encode())  # a page lists keys and prefixes apart
        if not page["IsTruncated"]:
            break
        marker = page["NextMarker"]
    assert v1 == want
    paginated: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=keyed, Delimiter=delimiter,
                                                              PaginationConfig={"PageSize": 3}):
        k, p = listed(page)
        paginated += k + p
    assert sorted(paginated, key=lambda s: s.encode()) == want


def test_encoding_type_url_with_odd_delimiters(s3: Any, keyed: str, mesh: Any) -> None:
    page = s3.list_objects_v2(Bucket=keyed, Delimiter="|")  # botocore asks for url encoding and decodes
    assert listed(page) == model("", "|")
    raw = urllib.request.urlopen(f"{mesh.s3}/{keyed}?list-type=2&delimiter=%7C&encoding-type=url").read().decode()
    assert "<Delimiter>%7C</Delimiter>" in raw and "<Prefix>b%7C</Prefix>" in raw
    raw = urllib.request.urlopen(f"{mesh.s3}/{keyed}?list-type=2&delimiter=%C3%A9").read().decode()
    assert "<Prefix>dé</Prefix>" in raw


def test_continuation_tokens_empty_and_invalid(s3: Any, keyed: str, mesh: Any) -> None:
    everything = listed(s3.list_objects_v2(Bucket=keyed))
    # an empty token (the parameter present, no value) lists from the start
    raw = urllib.request.urlopen(f"{mesh.s3}/{keyed}?list-type=2&continuation-token=").read().decode()
    assert all(f"<Key>{k}</Key>" in raw for k in everything[0])
    for bad in ("bogus", "YWlzMQ==", "a" * 200, "!!!"):
        with pytest.raises(ClientError) as e:
            s3.list_objects_v2(Bucket=keyed, ContinuationToken=bad, Delimiter="-")
        assert e.value.response["Error"]["Code"] == "InvalidArgument"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(urllib.error.HTTPError) as he:
        urllib.request.urlopen(f"{mesh.s3}/{keyed}?list-type=2&continuation-token=%00")
    assert he.value.code == 400 and b"<Code>InvalidArgument</Code>" in he.value.read()
