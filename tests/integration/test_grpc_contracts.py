"""The services' gRPC APIs as other programs use them: generated stubs, health, reflection.

The gateway reads same-host objects through the descriptor fast path, so the gRPC data path
(GetObject/ReadObject/PutObject/WriteObject) is driven here directly."""

from __future__ import annotations

import os
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from aismesh.cmn import errors, hrw
from aismesh.cmn.names import Bck
from aismesh.protos import metadata_pb2, metadata_pb2_grpc, storage_pb2, storage_pb2_grpc, types_pb2

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def addrs(mesh: Any) -> dict[str, str]:
    return {s["name"]: s["addr"] for s in mesh.status()["services"]}


def test_health_and_reflection(addrs: dict[str, str]) -> None:
    for name in ("metadata", "t1"):
        with grpc.insecure_channel(addrs[name]) as ch:
            resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
            reply = next(reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5))
            names = {s.name for s in reply.list_services_response.service}
            assert ("aismesh.Metadata" if name == "metadata" else "aismesh.Storage") in names


def test_storage_data_path_over_grpc(addrs: dict[str, str]) -> None:
    meta = metadata_pb2_grpc.MetadataStub(grpc.insecure_channel(addrs["metadata"]))
    bck = Bck(name=f"grpc-{os.urandom(3).hex()}")
    info = meta.CreateBucket(metadata_pb2.CreateBucketRequest(bck=bck.to_proto()), timeout=10)
    smap = meta.GetSmap(types_pb2.Empty(), timeout=10)
    name = "big/object.bin"
    owner = hrw.pick(bck.object_uname(name), [(n.id, n.id_digest) for n in smap.nodes if n.type == "target"])
    node = next(n for n in smap.nodes if n.id == owner)
    assert node.local_socket and node.host_id
    stub = storage_pb2_grpc.StorageStub(grpc.insecure_channel(node.grpc_addr))
    ref = types_pb2.BucketRef(bck=bck.to_proto(), bid=info.bid)
    body = os.urandom((2 << 20) + 333)

    def stream() -> Any:
        yield storage_pb2.PutObjectRequest(header=storage_pb2.PutHeader(bucket=ref, name=name, size=len(body)))
        for i in range(0, len(body), 1 << 20):
            yield storage_pb2.PutObjectRequest(data=body[i:i + (1 << 20)])
        yield storage_pb2.PutObjectRequest(eof=True)

    attrs = stub.PutObject(stream(), timeout=30)
    assert attrs.size == len(body) and attrs.checksum.type == "xxhash" and attrs.version == "1"
    got = list(stub.GetObject(storage_pb2.GetObjectRequest(bucket=ref, name=name), timeout=30))
    assert got[0].attrs.size == len(body)
    assert b"".join(m.data for m in got) == body
    ranged = list(stub.GetObject(storage_pb2.GetObjectRequest(
        bucket=ref, name=name, range=types_pb2.ByteRange(start=10, end=19)), timeout=30))
    assert ranged[0].is_range and b"".join(m.data for m in ranged) == body[10:20]

    small = "small"
    small_owner = hrw.pick(bck.object_uname(small), [(n.id, n.id_digest) for n in smap.nodes if n.type == "target"])
    small_stub = storage_pb2_grpc.StorageStub(grpc.insecure_channel(
        next(n for n in smap.nodes if n.id == small_owner).grpc_addr))
    small_stub.WriteObject(storage_pb2.WriteObjectRequest(
        header=storage_pb2.PutHeader(bucket=ref, name=small, size=5), data=b"hello"), timeout=10)
    inline = small_stub.ReadObject(storage_pb2.GetObjectRequest(bucket=ref, name=small, inline_limit=1 << 20))
    assert inline.inline and inline.data == b"hello"
    not_inline = small_stub.ReadObject(storage_pb2.GetObjectRequest(bucket=ref, name=small, inline_limit=2))
    assert not not_inline.inline and not_inline.attrs.size == 5

    with pytest.raises(grpc.RpcError) as e:
        stub.HeadObject(storage_pb2.ObjectRequest(bucket=ref, name="missing"), timeout=10)
    err = errors.from_rpc_error(e.value)
    assert isinstance(err, errors.ObjectNotFound)
    assert err.message == f"t[{owner}]: ais://{bck.name}/missing does not exist"

    for n, s in ((name, stub), (small, small_stub)):
        s.DeleteObject(storage_pb2.ObjectRequest(bucket=ref, name=n), timeout=10)
    meta.DestroyBucket(metadata_pb2.BckRequest(bck=bck.to_proto()), timeout=10)


def test_size_mismatch_stores_nothing(addrs: dict[str, str]) -> None:
    meta = metadata_pb2_grpc.MetadataStub(grpc.insecure_channel(addrs["metadata"]))
    bck = Bck(name=f"grpc-{os.urandom(3).hex()}")
    info = meta.CreateBucket(metadata_pb2.CreateBucketRequest(bck=bck.to_proto()), timeout=10)
    ref = types_pb2.BucketRef(bck=bck.to_proto(), bid=info.bid)
    stub = storage_pb2_grpc.StorageStub(grpc.insecure_channel(addrs["t1"]))
    with pytest.raises(grpc.RpcError) as e:
        stub.WriteObject(storage_pb2.WriteObjectRequest(
            header=storage_pb2.PutHeader(bucket=ref, name="x", size=10), data=b"short"), timeout=10)
    assert isinstance(errors.from_rpc_error(e.value), errors.InvalidArgument)
    with pytest.raises(grpc.RpcError) as e:
        stub.HeadObject(storage_pb2.ObjectRequest(bucket=ref, name="x"), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    meta.DestroyBucket(metadata_pb2.BckRequest(bck=bck.to_proto()), timeout=10)


def test_metadata_watch_sees_new_versions(addrs: dict[str, str]) -> None:
    meta = metadata_pb2_grpc.MetadataStub(grpc.insecure_channel(addrs["metadata"]))
    current = meta.GetBMD(types_pb2.Empty(), timeout=10)
    watch = meta.WatchBMD(metadata_pb2.WatchRequest(after_version=current.version), timeout=30)
    bck = Bck(name=f"watch-{os.urandom(3).hex()}")
    meta.CreateBucket(metadata_pb2.CreateBucketRequest(bck=bck.to_proto()), timeout=10)
    newer = next(watch)
    assert newer.version > current.version
    assert bck.uname in newer.json
    watch.cancel()
    with pytest.raises(grpc.RpcError) as e:
        meta.CreateBucket(metadata_pb2.CreateBucketRequest(bck=bck.to_proto()), timeout=10)
    assert isinstance(errors.from_rpc_error(e.value), errors.AlreadyExists)
    meta.DestroyBucket(metadata_pb2.BckRequest(bck=bck.to_proto()), timeout=10)
