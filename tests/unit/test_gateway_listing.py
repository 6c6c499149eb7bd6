"""Merging per-node listing pages and rendering S3 listings."""

from hypothesis import given
from hypothesis import strategies as st

from aismesh.protos import types_pb2
from services.gateway.cluster import merge_pages
from services.gateway.s3.xml import ListingAnswer, list_objects


def entries(*names: str, is_dir: bool = False) -> list[types_pb2.ObjAttrs]:
    return [types_pb2.ObjAttrs(name=n, is_dir=is_dir) for n in names]


def test_merge_is_sorted_and_drops_start_after() -> None:
    merged = merge_pages([entries("a", "d"), entries("b", "e"), entries("c")], start_after="a")
    assert [e.name for e in merged] == ["b", "c", "d", "e"]


def test_merge_keeps_one_common_prefix() -> None:
    merged = merge_pages([entries("p/", is_dir=True), entries("p/", "q/", is_dir=True)], "")
    assert [e.name for e in merged] == ["p/", "q/"]


@given(st.lists(st.lists(st.text(min_size=1, max_size=8), unique=True), max_size=5))
def test_merge_equals_sorted_union(pages: list[list[str]]) -> None:
    names = sorted(set().union(*pages)) if pages else []
    merged = merge_pages([entries(*sorted(p)) for p in pages], "")
    assert [e.name for e in merged] == names
    # bytewise UTF-8 order is S3's order and must be the same as str order
    assert names == sorted(names, key=lambda s: s.encode())


def test_list_v2_xml_escapes_keys() -> None:
    ans = ListingAnswer(bucket="b", prefix="", delimiter="", max_keys=1000,
                        entries=[types_pb2.ObjAttrs(name="a&b<c>", size=3, etag="x")], is_truncated=False)
    body = list_objects(ans, v2=True).decode()
    assert "<Key>a&amp;b&lt;c&gt;</Key>" in body
    assert "<KeyCount>1</KeyCount>" in body


def test_list_v1_and_v2_elements_in_s3_order() -> None:
    ans = ListingAnswer(bucket="b", prefix="p/", delimiter="/", max_keys=2, is_truncated=True,
                        entries=[types_pb2.ObjAttrs(name="p/a", size=1), types_pb2.ObjAttrs(name="p/d/", is_dir=True)],
                        marker="p/0", next_marker="p/d/", continuation_token="tok", next_continuation_token="next",
                        start_after="p/0")
    v1 = list_objects(ans, v2=False).decode()
    assert ("<Name>b</Name><Prefix>p/</Prefix><Marker>p/0</Marker><MaxKeys>2</MaxKeys><Delimiter>/</Delimiter>"
            "<IsTruncated>true</IsTruncated><NextMarker>p/d/</NextMarker><Contents><Key>p/a</Key>") in v1
    assert "KeyCount" not in v1 and "<CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes>" in v1
    v2 = list_objects(ans, v2=True).decode()
    assert ("<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>"
            "<ContinuationToken>tok</ContinuationToken><NextContinuationToken>next</NextContinuationToken>"
            "<StartAfter>p/0</StartAfter>") in v2
    assert "Marker" not in v2
