"""Pure helpers of the backend contract: adapter addresses, extra props, ranges, ht indexes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aismesh.cmn import errors
from aismesh.cmn.backends import Backends, flatten_extra, parse_addrs, props_from_remote
from aismesh.protos import backend_pb2
from services.backends.common import http_range, into_file, resolve_range
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


# --- into_file: an adapter on the node's host writes a cold GET's bytes into the node's file ---


class _Ctx:
    """What into_file's wrapper needs of a gRPC context: abort, as grpc's raises."""

    def set_trailing_metadata(self, md: object) -> None:
        pass

    def abort(self, code: object, message: str) -> None:
        raise RuntimeError(message)


class _Adapter:
    """A GetObject that answers attrs, then the data in pieces, as every adapter does."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    @into_file
    def GetObject(self, request: backend_pb2.BackendGetRequest, context: object) -> Iterator[Any]:
        def stream() -> Iterator[backend_pb2.BackendGetResponse]:
            yield backend_pb2.BackendGetResponse(attrs=backend_pb2.BackendObjAttrs(name=request.name,
                                                                                  size=len(self.data)))
            for i in range(0, len(self.data), 3):
                yield backend_pb2.BackendGetResponse(data=self.data[i:i + 3])
        return stream()


def _target(path: Path) -> backend_pb2.FileTarget:
    path.touch()
    st = path.stat()
    return backend_pb2.FileTarget(path=str(path), dev=st.st_dev, ino=st.st_ino)


def test_an_adapter_that_opens_the_named_file_writes_the_bytes_there(tmp_path: Path) -> None:
    target = _target(tmp_path / "work")
    msgs = list(_Adapter(b"0123456789").GetObject(backend_pb2.BackendGetRequest(name="o", to_file=target), _Ctx()))
    assert msgs[0].to_file and msgs[0].attrs.size == 10
    assert [m.written for m in msgs[1:]] == [3, 6, 9, 10]
    assert not any(m.data for m in msgs)
    assert (tmp_path / "work").read_bytes() == b"0123456789"


@pytest.mark.parametrize("case", ["another file at the path", "not empty", "missing", "a symlink"])
def test_a_file_the_adapter_cannot_be_sure_of_gets_the_bytes_streamed_instead(tmp_path: Path, case: str) -> None:
    target = _target(tmp_path / "work")
    if case == "another file at the path":
        (tmp_path / "other").write_bytes(b"")  # made while the first exists: another inode
        (tmp_path / "other").replace(tmp_path / "work")
    elif case == "not empty":
        (tmp_path / "work").write_bytes(b"old")
    elif case == "missing":
        target.path = str(tmp_path / "elsewhere" / "work")
    else:
        (tmp_path / "link").symlink_to(tmp_path / "work")
        target.path = str(tmp_path / "link")
    before = (tmp_path / "work").read_bytes()
    msgs = list(_Adapter(b"0123456789").GetObject(backend_pb2.BackendGetRequest(name="o", to_file=target), _Ctx()))
    assert not msgs[0].to_file
    assert b"".join(m.data for m in msgs) == b"0123456789"
    assert (tmp_path / "work").read_bytes() == before


def test_without_a_file_target_the_bytes_stream(tmp_path: Path) -> None:
    msgs = list(_Adapter(b"abc").GetObject(backend_pb2.BackendGetRequest(name="o"), _Ctx()))
    assert not msgs[0].to_file and b"".join(m.data for m in msgs) == b"abc"
