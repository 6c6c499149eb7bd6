"""Pure parts of remote AIS clusters: bucket URIs, backend_bck props, attachment lookup, the
adapter's wire names and its error map (a fake answer, no sockets)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from aismesh.cmn import errors, props
from aismesh.cmn.names import Bck, parse_bck_uri
from services.backends.ais.adapter import attrs_from_headers, object_path, remote_query
from services.backends.ais.attachments import Attachment, Attachments, find, split_urls
from services.backends.ais.http import map_status


def test_adapter_of_a_bucket() -> None:
    assert Bck("b", "ais", ns_uuid="remais").adapter == "ais"
    assert Bck("data", "aws", ns_uuid="remais").adapter == "ais"  # the remote reaches the cloud
    assert Bck("data", "aws").adapter == "aws"


@pytest.mark.parametrize("uri, want", [
    ("s3://@remais/data", Bck("data", "aws", "remais")),
    ("ais://@Xy12#ns/b", Bck("b", "ais", "Xy12", "ns")),
    ("gs://b", Bck("b", "gcp")),
    ("ais://@remais/b/", Bck("b", "ais", "remais")),
])
def test_parse_bck_uri(uri: str, want: Bck) -> None:
    assert parse_bck_uri(uri) == want


@pytest.mark.parametrize("uri", ["nonsense", "s3://", "ais://@remais/b/obj", "xx://b", "ais://@remais"])
def test_parse_bck_uri_refuses(uri: str) -> None:
    with pytest.raises(errors.InvalidArgument):
        parse_bck_uri(uri)


def test_backend_bck_from_the_cli_pair() -> None:
    got = props.partial_from_pairs({"backend_bck": "s3://@remais/data"})
    assert got == {"backend_bck": {"name": "data", "provider": "aws", "namespace": {"uuid": "remais", "name": ""}}}
    off = props.partial_from_pairs({"backend_bck": "none"})
    assert props.flatten(off)["backend_bck.name"] == ""
    doc = props.merge(props.default_props("ais"), got)
    props.validate(doc)
    props.validate(props.merge(doc, off))


def test_backend_bck_must_be_a_remote() -> None:
    doc = props.merge(props.default_props("ais"), props.partial_from_pairs({"backend_bck": "ais://plain"}))
    with pytest.raises(errors.InvalidArgument, match="remote cluster"):
        props.validate(doc)
    half = props.merge(props.default_props("ais"), {"backend_bck": {"name": "x"}})
    with pytest.raises(errors.InvalidArgument, match="both name and provider"):
        props.validate(half)


def test_attachments_by_alias_then_uuid_and_re_read_on_a_miss() -> None:
    listed: list[list[Attachment]] = [[Attachment("a1", "U1", ("http://h:1",))]]
    reads = []

    def read() -> list[Attachment]:
        reads.append(1)
        return listed[0]

    at = Attachments(read)
    assert at.resolve("a1").urls == ("http://h:1",)
    assert at.resolve("U1").alias == "a1"
    listed[0] = [*listed[0], Attachment("a2", "", ("http://h:2", "http://h:3"))]
    assert at.resolve("a2").alias == "a2"  # not in the cached list: read again at once
    with pytest.raises(errors.NotFound, match="not attached"):
        at.resolve("zz")
    assert find(listed[0], "U1") == listed[0][0]
    assert split_urls("http://a:1/, http://b:2") == ("http://a:1", "http://b:2")


def test_wire_names() -> None:
    assert remote_query(Bck("b", "ais", "remais")) == {"provider": "ais"}
    assert remote_query(Bck("b", "ais", "remais", "ns")) == {"provider": "ais", "namespace": "@#ns"}
    assert remote_query(Bck("data", "aws", "remais")) == {"provider": "aws"}
    assert object_path(Bck("b"), "d/a b?#%") == "/v1/objects/b/d/a%20b%3F%23%25"


class _Answer:
    def __init__(self, status: int, body: str = "", headers: dict[str, str] | None = None) -> None:
        self.status, self.data, self.headers = status, body.encode(), headers or {}


A = Attachment("remais", "U1", ("http://h:1",))


@pytest.mark.parametrize("status, body, obj, kind", [
    (404, '{"message":"t[x]: ais://b/o does not exist"}', "o", errors.ObjectNotFound),
    (404, '{"message":"bucket \\"ais://b\\" does not exist"}', "o", errors.BucketNotFound),
    (404, '{"message":"bucket \\"ais://b\\" does not exist"}', "", errors.BucketNotFound),
    (409, '{"message":"bucket \\"ais://b\\" already exists"}', "", errors.AlreadyExists),
    (400, "bad", "", errors.InvalidArgument),
    (403, "", "o", errors.AccessDenied),
    (503, "", "o", errors.RemoteUnavailable),
    (500, "", "o", errors.RemoteUnavailable),
])
def test_error_map(status: int, body: str, obj: str, kind: type[errors.AisError]) -> None:
    err = map_status(_Answer(status, body), "ais://@remais/b", obj, A)
    assert type(err) is kind
    assert "ais://@remais/b" in err.message


def test_head_error_comes_from_hdr_error() -> None:
    ans: Any = _Answer(404, "", {"Hdr-Error": '{"message":"t[x]: ais://b/o does not exist"}'})
    err = map_status(ans, "ais://@remais/b", "o", A)
    assert type(err) is errors.ObjectNotFound and "remote-cluster[remais]" in err.message


def test_range_error_carries_the_size() -> None:
    err = map_status(_Answer(416, "", {"Content-Range": "bytes */42"}), "ais://@remais/b", "o", A)
    assert type(err) is errors.RangeNotSatisfiable and err.object_size == 42


def test_attrs_from_headers() -> None:
    a = attrs_from_headers("o", {"ETag": '"abc"', "Ais-Version": "2", "Ais-Custom-Md": "k=v, x=y",
                                 "Ais-Checksum-Type": "xxhash", "Ais-Checksum-Value": "ff",
                                 "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"}, 10)
    assert (a.size, a.etag, a.version, dict(a.custom)) == (10, "abc", "2", {"k": "v", "x": "y"})
    assert a.checksums[0].type == "xxhash" and a.mtime_ns == 1445412480 * 10**9


def _entry(bck: Bck, doc: dict[str, Any] | None = None) -> Any:
    import json

    from services.gateway.metasync import BucketEntry

    return BucketEntry(bck=bck, bid=7, props_json=json.dumps(doc or {}), created_ns=0)


def test_what_the_gateway_asks_the_adapter_about() -> None:
    from services.gateway import remote
    from services.storage.remote import ctx_of, is_remote_ref

    plain = _entry(Bck("nnn"))
    assert remote.backend_of(plain) is None and not remote.fronts_remote(plain)
    assert not is_remote_ref(remote.ref(plain))

    of_remote = _entry(Bck("b", "ais", "remais"))
    assert remote.backend_of(of_remote) == Bck("b", "ais", "remais")
    assert is_remote_ref(remote.ref(of_remote)) and "backend_bck" not in remote.ref(of_remote).extra

    fronting = _entry(Bck("nnn"), props.partial_from_pairs({"backend_bck": "s3://@remais/data"}))
    assert remote.backend_of(fronting) == Bck("data", "aws", "remais")
    r = remote.ref(fronting)
    assert r.bck.name == "nnn" and r.extra["backend_bck"] == "aws/@remais#/data"
    # The node caches under ais://nnn and asks the ais adapter about s3://@remais/data.
    ctx = ctx_of(r)
    assert is_remote_ref(r) and ctx.bck == Bck("nnn") and ctx.adapter == "ais"
    assert Bck.from_proto(ctx.rb.bck) == Bck("data", "aws", "remais") and "backend_bck" not in ctx.rb.extra
    assert remote.remote_bucket(fronting).bck.name == "data"

    off = _entry(Bck("nnn"), props.merge(props.partial_from_pairs({"backend_bck": "s3://@remais/data"}),
                                         props.partial_from_pairs({"backend_bck": "none"})))
    assert not remote.fronts_remote(off)


def test_launcher_remote_flag() -> None:
    from aismesh.launcher.cli import _remote_arg, build_parser

    assert _remote_arg("remb=http://a:1/, http://b:2") == ("remb", "http://a:1,http://b:2")
    for bad, why in (("remb", "ALIAS=URL"), ("=http://a:1", "ALIAS=URL"), ("remb=ftp://a", "ftp://a")):
        with pytest.raises(ValueError, match=why):
            _remote_arg(bad)
    args = build_parser().parse_args(["up", "--remote", "a1=http://h:1", "--remote", "a2=http://h:2"])
    assert args.remote == ["a1=http://h:1", "a2=http://h:2"]


class _FakeAis:
    """A real AIStore's shape in two tiny HTTP servers: the proxy redirects every object request
    (307) to the target, which stores PUT bodies and serves them back."""

    def __init__(self) -> None:
        import http.server
        import threading

        store: dict[str, bytes] = {}
        self.store = store
        self.proxy_puts: list[int] = []
        fake = self

        class Target(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                store[self.path.split("?")[0]] = self.rfile.read(n)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                data = store.get(self.path.split("?")[0])
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Length", str(len(data or b"")))
                self.end_headers()
                self.wfile.write(data or b"")

            def log_message(self, *a: Any) -> None:
                pass

        class Proxy(Target):
            def _redirect(self) -> None:
                fake.proxy_puts.append(int(self.headers.get("Content-Length", "0")))
                self.send_response(307)
                self.send_header("Location", f"http://127.0.0.1:{fake.target.server_port}{self.path}&ptime=1")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_GET = do_HEAD = _redirect

        self.target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
        self.proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
        for srv in (self.target, self.proxy):
            threading.Thread(target=srv.serve_forever, daemon=True).start()

    def close(self) -> None:
        for srv in (self.target, self.proxy):
            srv.shutdown()
            srv.server_close()


def test_writes_follow_a_redirecting_proxy_to_its_target() -> None:
    from aismesh.protos import backend_pb2
    from services.backends.ais.adapter import AisBackend

    fake = _FakeAis()
    try:
        url = f"http://127.0.0.1:{fake.proxy.server_port}"
        backend = AisBackend(Attachments(lambda: [Attachment("real", "U9", (url,))]))
        rb = backend_pb2.RemoteBucket(bck=Bck("b", "ais", "real").to_proto())
        data = os.urandom(3 << 20)

        def put() -> Iterator[Any]:
            header = backend_pb2.BackendPutHeader(bucket=rb, name="o", size=len(data))
            yield backend_pb2.BackendPutRequest(header=header)
            for i in range(0, len(data), 1 << 20):
                yield backend_pb2.BackendPutRequest(data=data[i:i + (1 << 20)])
            yield backend_pb2.BackendPutRequest(eof=True)

        attrs = backend.PutObject(put(), None)
        assert attrs.size == len(data)
        assert fake.store["/v1/objects/b/o"] == data
        assert max(fake.proxy_puts) == 0  # the body went to the target only, once
        got = list(backend.GetObject(backend_pb2.BackendGetRequest(bucket=rb, name="o"), None))
        assert b"".join(m.data for m in got) == data
    finally:
        fake.close()
