"""The backend contract, case by case, against every adapter (see conftest.Remote)."""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import grpc
import pytest

from aismesh.cmn import errors
from aismesh.protos import backend_pb2, types_pb2
from tests.conformance.conftest import Remote


def err(e: grpc.RpcError) -> errors.AisError:
    return errors.from_rpc_error(e)


def unique(stem: str) -> str:
    return f"{stem}-{os.urandom(4).hex()}"


def get(r: Remote, name: str, **kw: Any) -> tuple[backend_pb2.BackendGetResponse, bytes]:
    msgs = list(r.stub.GetObject(backend_pb2.BackendGetRequest(bucket=r.bucket, name=name, **kw), timeout=10))
    return msgs[0], b"".join(m.data for m in msgs)


def test_head_bucket(remote: Remote) -> None:
    props = remote.call("HeadBucket", backend_pb2.BackendBucketRequest(bucket=remote.bucket))
    assert props.bck.name == remote.bucket.bck.name
    assert props.props["versioning.enabled"] in ("true", "false")


def test_head_missing_bucket_is_not_found(remote: Remote) -> None:
    with pytest.raises(grpc.RpcError) as ei:
        remote.call("HeadBucket", backend_pb2.BackendBucketRequest(bucket=remote.missing_bucket))
    assert isinstance(err(ei.value), errors.NotFound)


def test_head_object_reports_size_etag_mtime(remote: Remote) -> None:
    name = unique("head") + ".bin"
    data = os.urandom(3000)
    remote.seed(name, data)
    a = remote.call("HeadObject", backend_pb2.BackendObjectRequest(bucket=remote.bucket, name=name))
    assert a.size == len(data)
    assert a.etag
    assert abs(a.mtime_ns / 1e9 - time.time()) < 120


def test_head_missing_object_is_not_found(remote: Remote) -> None:
    with pytest.raises(grpc.RpcError) as ei:
        remote.call("HeadObject", backend_pb2.BackendObjectRequest(bucket=remote.bucket, name="no/such/object"))
    e = err(ei.value)
    assert isinstance(e, errors.NotFound) and e.reason == "object"


def test_get_whole_object_streams_in_bounded_chunks(remote: Remote) -> None:
    name = unique("big") + ".bin"
    data = os.urandom(3 * (1 << 20) + 17)
    remote.seed(name, data)
    msgs = list(remote.stub.GetObject(backend_pb2.BackendGetRequest(bucket=remote.bucket, name=name), timeout=20))
    assert msgs[0].attrs.size == len(data)
    assert all(len(m.data) <= 1 << 20 for m in msgs)
    assert hashlib.md5(b"".join(m.data for m in msgs)).digest() == hashlib.md5(data).digest()


@pytest.mark.parametrize(("rng", "want"), [
    (backend_pb2.BackendRange(start=5), slice(5, None)),                  # open end, explicit
    (backend_pb2.BackendRange(start=5, length=10), slice(5, 15)),
    (backend_pb2.BackendRange(start=0, length=1), slice(0, 1)),
    (backend_pb2.BackendRange(suffix_length=7), slice(-7, None)),
    (backend_pb2.BackendRange(start=90, length=1000), slice(90, None)),   # past the end: to the end
])
def test_ranged_get(remote: Remote, rng: backend_pb2.BackendRange, want: slice) -> None:
    name = unique("range")
    data = os.urandom(100)
    remote.seed(name, data)
    first, body = get(remote, name, range=rng)
    assert body == data[want]
    assert first.range_length == len(data[want])
    assert first.range_offset == (len(data) - len(data[want]) if rng.suffix_length else rng.start)
    assert first.attrs.size == len(data)


def test_range_beyond_the_end_is_not_satisfiable(remote: Remote) -> None:
    name = unique("range416")
    remote.seed(name, b"0123456789")
    with pytest.raises(grpc.RpcError) as ei:
        get(remote, name, range=backend_pb2.BackendRange(start=50))
    assert isinstance(err(ei.value), errors.RangeNotSatisfiable)


def test_conditional_get(remote: Remote) -> None:
    name = unique("cond")
    remote.seed(name, b"version one")
    etag = remote.call("HeadObject", backend_pb2.BackendObjectRequest(bucket=remote.bucket, name=name)).etag
    _, body = get(remote, name, condition=backend_pb2.BackendCondition(if_match_etag=etag))
    assert body == b"version one"
    with pytest.raises(grpc.RpcError) as ei:
        get(remote, name, condition=backend_pb2.BackendCondition(if_match_etag="0" * 32))
    assert isinstance(err(ei.value), errors.PreconditionFailed)


def test_get_missing_object_is_not_found(remote: Remote) -> None:
    with pytest.raises(grpc.RpcError) as ei:
        get(remote, "missing-" + os.urandom(4).hex())
    assert isinstance(err(ei.value), errors.NotFound)


def test_list_with_prefix_delimiter_and_pages(remote: Remote) -> None:
    top = unique("ls")
    names = [f"{top}/a", f"{top}/b", f"{top}/c", f"{top}/sub/d", f"{top}/sub/e"]
    for n in names:
        remote.seed(n, b"x" * 3)
    req = backend_pb2.BackendListObjectsRequest(bucket=remote.bucket, prefix=f"{top}/")
    flat = remote.call("ListObjects", req)
    assert [e.name for e in flat.entries] == names
    assert all(e.size == 3 and not e.is_cached for e in flat.entries)
    rolled = remote.call("ListObjects", backend_pb2.BackendListObjectsRequest(
        bucket=remote.bucket, prefix=f"{top}/", delimiter="/"))
    assert [(e.name, e.is_dir) for e in rolled.entries] == [
        (f"{top}/a", False), (f"{top}/b", False), (f"{top}/c", False), (f"{top}/sub/", True)]
    seen, token = [], ""
    while True:
        page = remote.call("ListObjects", backend_pb2.BackendListObjectsRequest(
            bucket=remote.bucket, prefix=f"{top}/", page_size=2, continuation_token=token))
        assert len(page.entries) <= 2
        seen += [e.name for e in page.entries]
        token = page.next_token
        if not token:
            break
    assert seen == names


def test_put_then_get_and_delete(remote: Remote) -> None:
    name = unique("put")
    data = os.urandom(5000)

    def reqs() -> Any:
        h = backend_pb2.BackendPutHeader(bucket=remote.bucket, name=name, size=len(data), content_type="text/x-test")
        yield backend_pb2.BackendPutRequest(header=h)
        yield backend_pb2.BackendPutRequest(data=data[:1000])
        yield backend_pb2.BackendPutRequest(data=data[1000:])
        yield backend_pb2.BackendPutRequest(eof=True)

    if not remote.can_write:
        with pytest.raises(grpc.RpcError) as ei:
            remote.stub.PutObject(reqs(), timeout=10)
        assert isinstance(err(ei.value), errors.NotImplemented)
        with pytest.raises(grpc.RpcError) as ei:
            remote.call("DeleteObject", backend_pb2.BackendObjectRequest(bucket=remote.bucket, name=name))
        assert isinstance(err(ei.value), errors.NotImplemented)
        return
    a = remote.stub.PutObject(reqs(), timeout=10)
    md5 = hashlib.md5(data).hexdigest()
    if remote.provider == "ais":  # a remote AIS cluster's ETag is its own checksum (xxhash by default)
        assert a.size == len(data) and a.etag and md5 in [c.value for c in a.checksums if c.type == "md5"]
    else:
        assert a.size == len(data) and a.etag == md5
    _, body = get(remote, name)
    assert body == data
    remote.call("DeleteObject", backend_pb2.BackendObjectRequest(bucket=remote.bucket, name=name))
    with pytest.raises(grpc.RpcError) as ei:
        remote.call("HeadObject", backend_pb2.BackendObjectRequest(bucket=remote.bucket, name=name))
    assert isinstance(err(ei.value), errors.NotFound)


def test_put_without_eof_stores_nothing(remote: Remote) -> None:
    if not remote.can_write:
        pytest.skip(f"{remote.provider} is read-only")
    name = unique("cut")

    def reqs() -> Any:
        yield backend_pb2.BackendPutRequest(header=backend_pb2.BackendPutHeader(bucket=remote.bucket, name=name))
        yield backend_pb2.BackendPutRequest(data=b"partial")

    with pytest.raises(grpc.RpcError):
        remote.stub.PutObject(reqs(), timeout=10)
    with pytest.raises(grpc.RpcError) as ei:
        remote.call("HeadObject", backend_pb2.BackendObjectRequest(bucket=remote.bucket, name=name))
    assert isinstance(err(ei.value), errors.NotFound)


def test_unreachable_endpoint_fails_fast_naming_the_bucket(remote: Remote) -> None:
    from tests.conformance.emulators import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    with remote.unreachable(dead) as (stub, rb):
        t0 = time.monotonic()
        with pytest.raises(grpc.RpcError) as ei:
            stub.HeadObject(backend_pb2.BackendObjectRequest(bucket=rb, name="x"), timeout=30)
    e = err(ei.value)
    assert isinstance(e, errors.RemoteUnavailable), e
    assert remote.bucket.bck.name in e.message
    assert time.monotonic() - t0 < 10


def test_multipart_contract(remote: Remote) -> None:
    name = unique("mpu")
    if not remote.can_write:
        with pytest.raises(grpc.RpcError) as ei:
            remote.call("CreateUpload", backend_pb2.BackendPutHeader(bucket=remote.bucket, name=name))
        assert isinstance(err(ei.value), errors.NotImplemented)
        return
    up = remote.call("CreateUpload", backend_pb2.BackendPutHeader(bucket=remote.bucket, name=name))
    u = backend_pb2.BackendUploadRequest(bucket=remote.bucket, name=name, upload_id=up.upload_id)
    parts = []
    for i, chunk in enumerate((os.urandom(5 << 20), b"tail"), 1):
        def reqs(c: bytes = chunk, n: int = i) -> Any:
            yield backend_pb2.BackendPartRequest(header=backend_pb2.BackendPartHeader(upload=u, part_number=n))
            yield backend_pb2.BackendPartRequest(data=c)
            yield backend_pb2.BackendPartRequest(eof=True)
        parts.append(remote.stub.PutPart(reqs(), timeout=20))
    a = remote.call("CompleteUpload", backend_pb2.BackendCompleteRequest(upload=u, parts=parts))
    assert a.size == (5 << 20) + 4
    if remote.provider == "aws":
        assert a.etag.endswith("-2")  # S3's multipart ETag; others report their own
    _, body = get(remote, name)
    assert len(body) == (5 << 20) + 4 and body.endswith(b"tail")


def test_list_buckets(remote: Remote) -> None:
    resp = remote.call("ListBuckets", backend_pb2.BackendListBucketsRequest(provider=remote.provider))
    if remote.provider != "ht":
        assert remote.bucket.bck.name in [b.name for b in resp.buckets]
    else:
        assert list(resp.buckets) == []  # an origin is not enumerable


def test_ht_without_directory_index_cannot_list(ht_remote: Remote) -> None:
    origin = ht_remote.bucket.extra["http.original_url"].replace("/json/", "/plain/")
    rb = backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="ht", name="plain"), extra={"http.original_url": origin})
    with pytest.raises(grpc.RpcError) as ei:
        ht_remote.call("ListObjects", backend_pb2.BackendListObjectsRequest(bucket=rb))
    e = err(ei.value)
    assert isinstance(e, (errors.NotImplemented, errors.AccessDenied)), e


def test_ht_html_index_lists(ht_remote: Remote) -> None:
    top = unique("h")
    ht_remote.seed(f"{top}/x", b"1")
    ht_remote.seed(f"{top}/y", b"22")
    origin = ht_remote.bucket.extra["http.original_url"].replace("/json/", "/html/")
    rb = backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="ht", name="html"), extra={"http.original_url": origin})
    page = ht_remote.call("ListObjects", backend_pb2.BackendListObjectsRequest(bucket=rb, prefix=f"{top}/"))
    assert [e.name for e in page.entries] == [f"{top}/x", f"{top}/y"]


def test_ht_redirect_loop_is_an_error(ht_remote: Remote) -> None:
    origin = ht_remote.bucket.extra["http.original_url"].replace("/json/", "/loop/")
    rb = backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="ht", name="loop"), extra={"http.original_url": origin})
    t0 = time.monotonic()
    with pytest.raises(grpc.RpcError) as ei:
        ht_remote.call("HeadObject", backend_pb2.BackendObjectRequest(bucket=rb, name="a"))
    assert "redirect" in err(ei.value).message
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("announced", [True, False])
def test_large_put_streams(remote: Remote, announced: bool) -> None:
    """Above the adapters' single-request size (8 MiB for gcp, azure and oci): resumable, block or
    multipart upload, with the size announced or not."""
    if not remote.can_write:
        pytest.skip(f"{remote.provider} is read-only")
    name = unique("large")
    data = os.urandom(9 * (1 << 20) + 3)

    def reqs() -> Any:
        yield backend_pb2.BackendPutRequest(header=backend_pb2.BackendPutHeader(
            bucket=remote.bucket, name=name, size=len(data) if announced else -1))
        for i in range(0, len(data), 1 << 20):
            yield backend_pb2.BackendPutRequest(data=data[i:i + (1 << 20)])
        yield backend_pb2.BackendPutRequest(eof=True)

    a = remote.stub.PutObject(reqs(), timeout=60)
    assert a.size == len(data)
    md5s = [c.value for c in a.checksums if c.type == "md5"]
    if remote.provider != "oci":  # an OCI multipart object has no md5 of its own
        assert md5s == [hashlib.md5(data).hexdigest()]
    assert md5s in ([], [hashlib.md5(data).hexdigest()])
    _, body = get(remote, name)
    assert hashlib.md5(body).digest() == hashlib.md5(data).digest()


def test_large_put_cut_short_stores_nothing(remote: Remote) -> None:
    if not remote.can_write:
        pytest.skip(f"{remote.provider} is read-only")
    name = unique("largecut")

    def reqs() -> Any:
        yield backend_pb2.BackendPutRequest(header=backend_pb2.BackendPutHeader(bucket=remote.bucket, name=name,
                                                                                size=-1))
        for _ in range(10):
            yield backend_pb2.BackendPutRequest(data=os.urandom(1 << 20))

    with pytest.raises(grpc.RpcError):
        remote.stub.PutObject(reqs(), timeout=60)
    with pytest.raises(grpc.RpcError) as ei:
        remote.call("HeadObject", backend_pb2.BackendObjectRequest(bucket=remote.bucket, name=name))
    assert isinstance(err(ei.value), errors.NotFound)


def test_list_continues_after_a_name(remote: Remote) -> None:
    """The gateway continues S3 and native listings by the last name (start_after)."""
    top = unique("after")
    names = [f"{top}/{i:02d}" for i in range(7)]
    for n in names:
        remote.seed(n, b"z")
    seen: list[str] = []
    while True:
        page = remote.call("ListObjects", backend_pb2.BackendListObjectsRequest(
            bucket=remote.bucket, prefix=f"{top}/", page_size=3, start_after=seen[-1] if seen else ""))
        seen += [e.name for e in page.entries]
        if not page.next_token:
            break
    assert seen == names


def test_versions_are_reported(remote: Remote) -> None:
    if remote.provider != "gcp":
        pytest.skip("generations are gcp's versions")
    name = unique("gen")
    remote.seed(name, b"one")
    v1 = remote.call("HeadObject", backend_pb2.BackendObjectRequest(bucket=remote.bucket, name=name)).version
    remote.seed(name, b"two")
    v2 = remote.call("HeadObject", backend_pb2.BackendObjectRequest(bucket=remote.bucket, name=name)).version
    assert v1 and v2 and v1 != v2
    with pytest.raises(grpc.RpcError) as ei:
        get(remote, name, condition=backend_pb2.BackendCondition(if_match_version=v1))
    assert isinstance(err(ei.value), errors.PreconditionFailed)
    first, body = get(remote, name, condition=backend_pb2.BackendCondition(if_match_version=v2))
    assert body == b"two" and first.attrs.version == v2
    crc = [c for c in first.attrs.checksums if c.type == "crc32c"]
    assert len(crc) == 1 and len(crc[0].value) == 8


@pytest.mark.parametrize("size", [5000, 9 * (1 << 20) + 1])
def test_custom_metadata_with_any_key_round_trips(remote: Remote, size: int) -> None:
    """User metadata keys are whatever a client sent (S3 x-amz-meta-*, the cluster's own s3.*
    keys): each adapter stores and reports them as they were, whatever its provider allows."""
    if not remote.can_write:
        pytest.skip(f"{remote.provider} is read-only")
    name = unique("meta")
    data = os.urandom(size)
    custom = {"plain": "v1", "s3.checksum-crc32": "AAAAAA==", "dash-ed": "v2", "Mixed_Case": "v3"}

    def reqs() -> Any:
        h = backend_pb2.BackendPutHeader(bucket=remote.bucket, name=name, size=len(data), custom=custom)
        yield backend_pb2.BackendPutRequest(header=h)
        for i in range(0, len(data), 1 << 20):
            yield backend_pb2.BackendPutRequest(data=data[i:i + (1 << 20)])
        yield backend_pb2.BackendPutRequest(eof=True)

    remote.stub.PutObject(reqs(), timeout=60)
    a = remote.call("HeadObject", backend_pb2.BackendObjectRequest(bucket=remote.bucket, name=name))
    got = {k.lower(): v for k, v in a.custom.items()}  # some providers fold the case of keys
    assert {k.lower(): v for k, v in custom.items()}.items() <= got.items()
    first, _ = get(remote, name)
    assert {k.lower(): v for k, v in first.attrs.custom.items()} == got
