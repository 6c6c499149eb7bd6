"""Cold GET on a node without processes: a fake adapter stub stands in for the Backend service."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aismesh.cmn import errors
from aismesh.cmn.names import Bck
from aismesh.protos import backend_pb2, storage_pb2, types_pb2
from services.storage.remote import RemoteCtx, RemoteObjects
from services.storage.store import Store

BCK = Bck("data", provider="aws")
CTX = RemoteCtx(bck=BCK, bid=3, rb=backend_pb2.RemoteBucket(bck=BCK.to_proto()), policy=storage_pb2.RemotePolicy())


class FakeCall:
    def __init__(self, msgs: list[backend_pb2.BackendGetResponse], gate: threading.Event | None) -> None:
        self.msgs = iter(msgs)
        self.gate = gate
        self.first = True

    def __next__(self) -> backend_pb2.BackendGetResponse:
        if not self.first and self.gate is not None:
            self.gate.wait(5)  # hold the stream open after the first piece
        self.first = False
        return next(self.msgs)

    def cancel(self) -> None:
        pass


class FakeBackend:
    """What the node calls on an adapter; counts GetObject calls."""

    def __init__(self, objects: dict[str, bytes], etag: str = "e1") -> None:
        self.objects = objects
        self.etag = etag
        self.gets = 0
        self.gate: threading.Event | None = None

    def GetObject(self, req: backend_pb2.BackendGetRequest) -> FakeCall:
        self.gets += 1
        data = self.objects[req.name]
        attrs = backend_pb2.BackendObjAttrs(name=req.name, size=len(data), etag=self.etag, version="7")
        msgs = [backend_pb2.BackendGetResponse(attrs=attrs, range_length=len(data))]
        msgs += [backend_pb2.BackendGetResponse(data=data[i:i + 4]) for i in range(0, len(data), 4)]
        return FakeCall(msgs, self.gate)

    def HeadObject(self, req: backend_pb2.BackendObjectRequest, timeout: float = 0) -> Any:
        if req.name not in self.objects:
            raise_not_found(req.name)
        return backend_pb2.BackendObjAttrs(name=req.name, size=len(self.objects[req.name]), etag=self.etag,
                                           version="7")


def raise_not_found(name: str) -> None:
    raise errors.ObjectNotFound(f"{name} is gone", obj=name)


class FakeBackends:
    def __init__(self, backend: FakeBackend) -> None:
        self.backend = backend

    def stub(self, provider: str) -> FakeBackend:
        return self.backend


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store("t1", [str(tmp_path / "mp1")])
    s.open()
    yield s
    s.close()


def body(stream: Any) -> bytes:
    return b"".join(m.data for m in stream)


def test_cold_get_streams_and_caches_with_remote_attrs(store: Store) -> None:
    fake = FakeBackend({"obj": b"hello, cold world"})
    remote = RemoteObjects(store, FakeBackends(fake))  # type: ignore[arg-type]
    stream = remote.cold_get(CTX, "obj")
    assert stream is not None
    assert body(stream) == b"hello, cold world"
    cached = store.head(BCK, 3, "obj")
    assert cached.size == 17 and cached.remote_etag == "e1" and cached.remote_version == "7"
    assert remote.is_current(CTX, "obj", latest=False)


def test_concurrent_cold_gets_fetch_once(store: Store) -> None:
    fake = FakeBackend({"obj": b"x" * 64})
    fake.gate = threading.Event()
    remote = RemoteObjects(store, FakeBackends(fake))  # type: ignore[arg-type]
    leader = remote.cold_get(CTX, "obj")
    assert leader is not None
    first = next(leader)  # the leader has started: attrs are out, the rest is held back
    assert first.attrs.size == 64
    follower: list[Any] = []
    t = threading.Thread(target=lambda: follower.append(remote.cold_get(CTX, "obj")))
    t.start()
    fake.gate.set()
    assert body(leader) == b"x" * 64
    t.join(5)
    assert follower == [None]  # it waited, then reads the cached copy
    assert fake.gets == 1


def test_warm_get_validation_sees_a_changed_remote(store: Store) -> None:
    fake = FakeBackend({"obj": b"one"})
    remote = RemoteObjects(store, FakeBackends(fake))  # type: ignore[arg-type]
    body(remote.cold_get(CTX, "obj"))
    fake.etag = "e2"
    assert remote.is_current(CTX, "obj", latest=False)  # no validation asked: the copy stands
    assert not remote.is_current(CTX, "obj", latest=True)


def test_synchronize_drops_the_copy_when_the_remote_is_gone(store: Store) -> None:
    fake = FakeBackend({"obj": b"one"})
    remote = RemoteObjects(store, FakeBackends(fake))  # type: ignore[arg-type]
    body(remote.cold_get(CTX, "obj"))
    del fake.objects["obj"]
    ctx = RemoteCtx(bck=BCK, bid=3, rb=CTX.rb, policy=storage_pb2.RemotePolicy(validate_warm_get=True,
                                                                               synchronize=True))
    with pytest.raises(errors.ObjectNotFound):
        remote.is_current(ctx, "obj", latest=False)
    with pytest.raises(errors.NotFound):
        store.head(BCK, 3, "obj")


def test_head_of_an_uncached_object_is_the_remote_one(store: Store) -> None:
    fake = FakeBackend({"obj": b"abc"})
    remote = RemoteObjects(store, FakeBackends(fake))  # type: ignore[arg-type]
    a = remote.head(CTX, "obj")
    assert a.size == 3 and not a.is_cached and a.remote_etag == "e1"
    assert isinstance(a, types_pb2.ObjAttrs)


def test_validate_cold_get_refuses_bytes_that_do_not_match_the_remote_md5(store: Store) -> None:
    fake = FakeBackend({"obj": b"payload"})
    real = fake.GetObject

    def with_md5(req: backend_pb2.BackendGetRequest) -> FakeCall:
        call = real(req)
        msgs = list(call.msgs)
        msgs[0].attrs.checksums.append(types_pb2.Checksum(type="md5", value="0" * 32))
        call.msgs = iter(msgs)
        return call

    fake.GetObject = with_md5  # type: ignore[method-assign]
    remote = RemoteObjects(store, FakeBackends(fake))  # type: ignore[arg-type]
    ctx = RemoteCtx(bck=BCK, bid=3, rb=CTX.rb, policy=storage_pb2.RemotePolicy(validate_cold_get=True))
    stream = remote.cold_get(ctx, "obj")
    assert stream is not None
    with pytest.raises(errors.InvalidArgument):
        body(stream)
    with pytest.raises(errors.NotFound):
        store.head(BCK, 3, "obj")


def test_a_cold_get_whose_client_went_away_still_fills_the_cache(store: Store) -> None:
    fake = FakeBackend({"obj": b"y" * 40})
    remote = RemoteObjects(store, FakeBackends(fake))  # type: ignore[arg-type]
    stream = remote.cold_get(CTX, "obj")
    assert stream is not None
    next(stream)
    next(stream)  # the client read a little, then went away
    stream.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the rest is written in the background
        try:
            assert store.head(BCK, 3, "obj").size == 40
            break
        except errors.NotFound:
            time.sleep(0.01)
    else:
        raise AssertionError("the cold GET's copy was not committed")
    assert fake.gets == 1
