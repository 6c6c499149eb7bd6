"""Pure helpers of the backend contract: adapter addresses, extra props, ranges, ht indexes."""

from __future__ import annotations

import pytest

from aismesh.cmn import errors
from aismesh.cmn.backends import Backends, flatten_extra, parse_addrs, props_from_remote
from aismesh.protos import backend_pb2
from services.backends.common import http_range, resolve_range
from services.backends.ht import index


def test_parse_addrs_canonicalises_providers() -> None:
    assert parse_addrs("s3=127.0.0.1:1, ht=h:2") == {"aws": "127.0.0.1:1", "ht": "h:2"}
    assert parse_addrs("") == {}
    with pytest.raises(errors.InvalidArgument):
        parse_addrs("aws")


def test_a_provider_without_adapter_is_named() -> None:
    with pytest.raises(errors.RemoteUnavailable) as ei:
        Backends({"aws": "127.0.0.1:1"}).stub("gcp")
    assert '"gcp"' in ei.value.message and "aws" in ei.value.message


def test_extra_props_round_trip() -> None:
    props = {"extra": {"aws": {"endpoint": "http://x", "profile": ""}, "http": {"original_url": "http://o/"}}}
    assert flatten_extra(props) == {"aws.endpoint": "http://x", "http.original_url": "http://o/"}
    assert props_from_remote({"extra.aws.cloud_region": "eu", "versioning.enabled": "true"}) == {
        "extra": {"aws": {"cloud_region": "eu"}}, "versioning": {"enabled": True}}


@pytest.mark.parametrize(("rng", "header", "resolved"), [
    (backend_pb2.BackendRange(start=5), "bytes=5-", (5, 95)),
    (backend_pb2.BackendRange(start=5, length=10), "bytes=5-14", (5, 10)),
    (backend_pb2.BackendRange(suffix_length=7), "bytes=-7", (93, 7)),
    (backend_pb2.BackendRange(start=0, length=500), "bytes=0-499", (0, 100)),
])
def test_ranges_have_an_explicit_open_end(rng: backend_pb2.BackendRange, header: str,
                                         resolved: tuple[int, int]) -> None:
    assert http_range(rng) == header
    assert resolve_range(rng, 100) == resolved


def test_range_past_the_end() -> None:
    with pytest.raises(errors.RangeNotSatisfiable):
        resolve_range(backend_pb2.BackendRange(start=100), 100)


def test_nginx_json_index() -> None:
    body = (b'[{"name":"a.txt","type":"file","mtime":"Sun, 29 Nov 2026 20:00:00 GMT","size":5},'
            b'{"name":"sub","type":"directory","mtime":"Sun, 29 Nov 2026 20:00:00 GMT"}]')
    entries = index.parse(body, "application/json")
    assert [(e.name, e.size, e.is_dir) for e in entries] == [("a.txt", 5, False), ("sub/", -1, True)]
    assert entries[0].mtime_ns > 0


def test_html_index_keeps_only_local_links() -> None:
    body = (b'<html><head><title>Index of /d/</title></head><body><a href="../">../</a>'
            b'<a href="x%20y.txt">x y.txt</a><a href="sub/">sub/</a><a href="http://e/z">z</a>'
            b'<a href="/abs">abs</a></body></html>')
    assert [e.name for e in index.parse(body, "text/html; charset=utf-8")] == ["x y.txt", "sub/"]


def test_a_page_that_is_no_index_is_refused() -> None:
    with pytest.raises(ValueError):
        index.parse(b"<html><body>hello</body></html>", "text/html")
    with pytest.raises(ValueError):
        index.parse(b"binary", "application/octet-stream")
