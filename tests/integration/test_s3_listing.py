"""ListObjectsV2 over objects spread across three storage nodes."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

pytestmark = pytest.mark.integration
N = 2500


@pytest.fixture(scope="module")
def big_bucket(s3: Any) -> Any:
    name = f"listing-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=name)
    keys = [f"{'even' if i % 2 == 0 else 'odd'}/obj-{i:05d}" for i in range(N)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=name, Key=k, Body=k.encode()), keys))
    yield name, sorted(keys)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.delete_object(Bucket=name, Key=k), keys))
    s3.delete_bucket(Bucket=name)


def test_paging_returns_every_key_once_in_order(s3: Any, big_bucket: Any) -> None:
    name, keys = big_bucket
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=name, MaxKeys=1000, **kw)
        pages += 1
        assert page["KeyCount"] == len(page.get("Contents", []))
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == keys
    assert pages == 3


def test_paginator_and_sizes(s3: Any, big_bucket: Any) -> None:
    name, keys = big_bucket
    objs = [o for p in s3.get_paginator("list_objects_v2").paginate(Bucket=name, PaginationConfig={"PageSize": 700})
            for o in p.get("Contents", [])]
    assert [o["Key"] for o in objs] == keys
    assert all(o["Size"] == len(o["Key"]) for o in objs)


def test_prefix_and_start_after(s3: Any, big_bucket: Any) -> None:
    name, keys = big_bucket
    odd = [k for k in keys if k.startswith("odd/")]
    page = s3.list_objects_v2(Bucket=name, Prefix="odd/", MaxKeys=1000)
    assert [o["Key"] for o in page["Contents"]] == odd[:1000]
    assert page["IsTruncated"] is True
    after = s3.list_objects_v2(Bucket=name, StartAfter=odd[-3])
    assert [o["Key"] for o in after["Contents"]] == odd[-2:]
    assert s3.list_objects_v2(Bucket=name, Prefix="nothing/")["KeyCount"] == 0


def test_delimiter_gives_common_prefixes(s3: Any, big_bucket: Any) -> None:
    name, _ = big_bucket
    page = s3.list_objects_v2(Bucket=name, Delimiter="/")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["even/", "odd/"]
    assert "Contents" not in page
    one = s3.list_objects_v2(Bucket=name, Delimiter="/", MaxKeys=1)
    assert [p["Prefix"] for p in one["CommonPrefixes"]] == ["even/"] and one["IsTruncated"]
    two = s3.list_objects_v2(Bucket=name, Delimiter="/", MaxKeys=1, ContinuationToken=one["NextContinuationToken"])
    assert [p["Prefix"] for p in two["CommonPrefixes"]] == ["odd/"]


def test_objects_spread_over_all_nodes(mesh: Any, big_bucket: Any) -> None:
    counts = {}
    for node in ("t1", "t2", "t3"):
        root = os.path.join(mesh.data, "targets", node)
        counts[node] = sum(len(files) for path, _, files in os.walk(root) if "%ob" in path)
    assert sum(counts.values()) >= N
    assert all(c > N / 6 for c in counts.values()), counts
