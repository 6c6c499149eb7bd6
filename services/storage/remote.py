"""Remote buckets on a storage node: cold GET (stream to the client and into the cache at
once, fetched once however many ask), warm-GET validation, write-through and delete.

The node is the only one that talks to an adapter for object bytes; the gateway passes the
bucket's backend settings (BucketRef.extra) and read policy (GetObjectRequest.remote).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from prometheus_client import Counter

from aismesh.cmn import errors
from aismesh.cmn.backends import CONTROL_S, STALL_S, Backends, adapter_error
from aismesh.cmn.names import Bck
from aismesh.cmn.rpc import CHUNK_SIZE
from aismesh.protos import backend_pb2, storage_pb2, types_pb2
from services.storage.store import Digests, PutSpec, Store

log = logging.getLogger("storage.remote")
# A client waiting for another client's cold GET of the same object waits at most this long.
WAIT_FOR_FETCH_S = 300.0
# Write-through: at least this rate, or the adapter call is cut.
MIN_RATE = 20 << 20
# Objects cold GETs and prefetches cached, by how their bytes came: written into the node's work
# file by an adapter on this host (file), or sent to the node over gRPC (stream).
COLD_FILLS = Counter("aismesh_cold_fills_total", "Objects cached from a backend, by how the bytes reached the "
                     "node's disk: file (written by an adapter on this host) or stream (over gRPC)", ["via"])
# What a cache-first cold GET answers for each piece it caches: progress, no bytes.
_PROGRESS = storage_pb2.GetObjectResponse()


@dataclass(frozen=True)
class RemoteCtx:
    """One remote request's bucket: identity, incarnation, adapter view and read policy."""

    bck: Bck
    bid: int
    rb: backend_pb2.RemoteBucket
    policy: storage_pb2.RemotePolicy

    @property
    def adapter(self) -> str:
        """The adapter the backend bucket (rb) is reached through (ais for a remote cluster's)."""
        return Bck.from_proto(self.rb.bck).adapter


# BucketRef.extra key the gateway sets on a local bucket that fronts another (its backend_bck):
# the backend's uname; the cache stays under the local bucket.
BACKEND_BCK_KEY = "backend_bck"


def ctx_of(ref: types_pb2.BucketRef, policy: storage_pb2.RemotePolicy | None = None) -> RemoteCtx:
    bck = Bck.from_proto(ref.bck)
    backend = Bck.from_uname(ref.extra[BACKEND_BCK_KEY]).to_proto() if ref.extra.get(BACKEND_BCK_KEY) else ref.bck
    extra = {k: v for k, v in ref.extra.items() if k != BACKEND_BCK_KEY}
    return RemoteCtx(bck=bck, bid=ref.bid, rb=backend_pb2.RemoteBucket(bck=backend, extra=extra),
                     policy=policy or storage_pb2.RemotePolicy())


def is_remote_ref(ref: types_pb2.BucketRef) -> bool:
    """Objects of this bucket live at a backend: a cloud bucket, a remote cluster's bucket
    (ais://@alias/b), or a local bucket with a backend_bck."""
    return ((bool(ref.bck.provider) and ref.bck.provider != "ais") or bool(ref.bck.ns.uuid)
            or bool(ref.extra.get(BACKEND_BCK_KEY)))


def remote_attrs(a: backend_pb2.BackendObjAttrs) -> types_pb2.ObjAttrs:
    """What the backend reported, as the node's attrs of an object it does not hold."""
    md5 = next((c.value for c in a.checksums if c.type == "md5"), "")
    return types_pb2.ObjAttrs(
        name=a.name, size=a.size, version=a.version, mtime_ns=a.mtime_ns, content_type=a.content_type,
        custom=dict(a.custom), etag=a.etag, is_cached=False, remote_etag=a.etag, remote_version=a.version,
        remote_mtime_ns=a.mtime_ns, checksum=types_pb2.Checksum(type="md5", value=md5) if md5 else None,
    )


class _Stall:
    """Cancel ``call`` when no piece arrived for ``seconds`` (a frozen backend). One shared
    thread looks at every live stall a few times a second, so a beat is a clock read (a timer
    thread per piece cost a thread start per MiB of every cold GET)."""

    _lock = threading.Lock()
    _live: set[_Stall] = set()
    _checker: threading.Thread | None = None
    TICK_S = 0.25

    def __init__(self, call: Any, seconds: float) -> None:
        self.call, self.seconds = call, seconds
        self.last = time.monotonic()
        self.fired = False

    def beat(self) -> None:
        self.last = time.monotonic()
        if self in _Stall._live:
            return
        with _Stall._lock:
            _Stall._live.add(self)
            if _Stall._checker is None:
                _Stall._checker = threading.Thread(target=_Stall._check, name="cold-stall", daemon=True)
                _Stall._checker.start()

    def stop(self) -> None:
        with _Stall._lock:
            _Stall._live.discard(self)

    def _fire(self) -> None:
        self.fired = True
        self.call.cancel()

    @classmethod
    def _check(cls) -> None:
        while True:
            time.sleep(cls.TICK_S)
            now = time.monotonic()
            with cls._lock:
                expired = [s for s in cls._live if now - s.last > s.seconds]
                cls._live.difference_update(expired)
            for s in expired:
                s._fire()


class _ColdFill:
    """The cached copy a cold GET writes while it streams: a work file, hashed as it grows,
    committed (fsync, xattr with the remote's attributes, rename) only when whole.

    The work file exists before the backend is asked (``target``): an adapter on this host
    writes the bytes into it itself (``in_file``), and the node then hashes them from the page
    cache at commit; otherwise the node writes the pieces the adapter sends."""

    def __init__(self, store: Store, bck: Bck, name: str, what: str) -> None:
        self.store, self.what = store, what
        self.mp = store.mountpath_for(bck, name)
        self.tmp = store.work_file(self.mp)
        self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        st = os.fstat(self.fd)
        self.target = backend_pb2.FileTarget(path=self.tmp, dev=st.st_dev, ino=st.st_ino)
        self.spec: PutSpec | None = None
        self.digests: Digests | None = None
        self.in_file = False
        self.received = 0
        self.committed = False

    def start(self, spec: PutSpec, in_file: bool) -> None:
        self.spec, self.in_file = spec, in_file
        if not in_file:
            self.digests = Digests(spec)

    def take(self, msg: backend_pb2.BackendGetResponse) -> None:
        """One message of the backend's stream: bytes to write, or (in_file) how many are there."""
        if self.in_file:
            self.received = max(self.received, msg.written)
            return
        piece = msg.data
        view = memoryview(piece)
        while view:
            view = view[os.write(self.fd, view):]
        assert self.digests is not None
        self.digests.update(piece)
        self.received += len(piece)

    def commit(self) -> None:
        spec = self.spec
        assert spec is not None
        if self.in_file:
            self.received = os.fstat(self.fd).st_size
        if spec.size >= 0 and self.received != spec.size:
            raise errors.RemoteUnavailable(f"{self.what}: the backend sent {self.received} of {spec.size} bytes")
        if self.in_file:  # hashes from the page cache; validate_cold_get: raises on an md5 mismatch
            self.store.commit_work(spec, self.mp, self.tmp, self.received)
        else:
            assert self.digests is not None
            cks_value, md5_hex = self.digests.finish()  # validate_cold_get: raises on an md5 mismatch
            os.fsync(self.fd)
            self.store.commit(spec, self.mp, self.tmp, self.fd, self.received, cks_value, md5_hex)
        self.committed = True
        COLD_FILLS.labels("file" if self.in_file else "stream").inc()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if not self.committed and os.path.exists(self.tmp):
            os.unlink(self.tmp)


class RemoteObjects:
    def __init__(self, store: Store, backends: Backends) -> None:
        self.store = store
        self.backends = backends
        self._lock = threading.Lock()
        self._inflight: dict[tuple[str, int, str], threading.Event] = {}

    # --- adapter calls ---------------------------------------------------------------------

    def head_remote(self, c: RemoteCtx, name: str) -> backend_pb2.BackendObjAttrs:
        try:
            a: backend_pb2.BackendObjAttrs = self.backends.stub(c.adapter).HeadObject(
                backend_pb2.BackendObjectRequest(bucket=c.rb, name=name), timeout=CONTROL_S)
        except grpc.RpcError as e:
            raise adapter_error(e, c.bck) from None
        return a

    def _open_remote(self, c: RemoteCtx, name: str, rng: backend_pb2.BackendRange | None = None,
                     to_file: backend_pb2.FileTarget | None = None
                     ) -> tuple[Any, backend_pb2.BackendGetResponse, _Stall]:
        req = backend_pb2.BackendGetRequest(bucket=c.rb, name=name)
        if rng is not None:
            req.range.CopyFrom(rng)
        if to_file is not None:
            req.to_file.CopyFrom(to_file)
        call = self.backends.stub(c.adapter).GetObject(req)
        stall = _Stall(call, STALL_S)
        stall.beat()
        try:
            first = next(call)
        except grpc.RpcError as e:
            stall.stop()
            raise self._stream_error(e, c, stall) from None
        except StopIteration:
            stall.stop()
            raise errors.Internal(f"the {c.bck.provider} adapter sent an empty answer for {name}") from None
        return call, first, stall

    @staticmethod
    def _stream_error(e: grpc.RpcError, c: RemoteCtx, stall: _Stall) -> errors.AisError:
        if stall.fired:
            return errors.RemoteUnavailable(
                f"{c.bck.display()}: the {c.bck.provider} backend sent nothing for {STALL_S:g} s",
                bck=c.bck.to_proto())
        return adapter_error(e, c.bck)

    def _messages(self, call: Any, stall: _Stall, c: RemoteCtx
                  ) -> Generator[backend_pb2.BackendGetResponse, None, None]:
        """The backend's messages after the first, to the stream's end (an error raises)."""
        try:
            while True:
                try:
                    msg = next(call)
                except StopIteration:
                    return
                except grpc.RpcError as e:
                    raise self._stream_error(e, c, stall) from None
                stall.beat()
                yield msg
        finally:
            stall.stop()
            call.cancel()

    def _pieces(self, call: Any, first: backend_pb2.BackendGetResponse, stall: _Stall, c: RemoteCtx
                ) -> Iterator[bytes]:
        if first.data:
            yield first.data
        for msg in self._messages(call, stall, c):
            if msg.data:
                yield msg.data

    # --- reads -----------------------------------------------------------------------------

    def head(self, c: RemoteCtx, name: str) -> types_pb2.ObjAttrs:
        """The cached copy's attrs, or the backend's (is_cached=false) when not cached here."""
        try:
            return self.store.head(c.bck, c.bid, name)
        except errors.NotFound:
            pass
        return remote_attrs(self.head_remote(c, name))

    def is_current(self, c: RemoteCtx, name: str, latest: bool) -> bool:
        """Whether the cached copy may be served: always, unless validation is asked for
        (``latest`` or versioning.validate_warm_get); then it must match the remote's ETag and
        version. A remote object that is gone drops the copy when synchronize (or latest) says so."""
        if not (latest or c.policy.validate_warm_get):
            return True
        try:
            cached = self.store.head(c.bck, c.bid, name)
        except errors.NotFound:
            return False
        try:
            remote = self.head_remote(c, name)
        except errors.ObjectNotFound:
            if c.policy.synchronize or latest:
                self.evict(c, name)
            raise
        same = remote.etag == cached.remote_etag and remote.version == cached.remote_version
        return bool(same)

    def evict(self, c: RemoteCtx, name: str) -> None:
        with contextlib.suppress(errors.NotFound):
            self.store.delete(c.bck, c.bid, name)

    def cold_get(self, c: RemoteCtx, name: str, emit_data: bool = True
                 ) -> Iterator[storage_pb2.GetObjectResponse] | None:
        """Start a cold GET: the response stream (attrs first), fed by the backend and written into
        the cache at once; None when another request fetched it meanwhile (read it locally).
        Without ``emit_data`` the pieces are only cached (by the adapter itself when it runs on
        this host): an empty message stands for each."""
        key = (c.bck.uname, c.bid, name)
        with self._lock:
            event = self._inflight.get(key)
            leader = event is None
            if leader:
                event = self._inflight[key] = threading.Event()
        assert event is not None
        if not leader:
            if not event.wait(WAIT_FOR_FETCH_S):
                raise errors.RemoteUnavailable(f"{c.bck.display()}/{name}: another cold GET of it did not finish")
            return None
        fill: _ColdFill | None = None
        try:
            fill = _ColdFill(self.store, c.bck, name, f"{c.bck.display()}/{name}")
            call, first, stall = self._open_remote(c, name, to_file=None if emit_data else fill.target)
        except BaseException:
            if fill is not None:
                fill.close()
            self._done(key, event)
            raise
        return self._fetch(c, name, call, first, stall, fill, key, event, emit_data)

    def _done(self, key: tuple[str, int, str], event: threading.Event) -> None:
        with self._lock:
            self._inflight.pop(key, None)
        event.set()

    def _fetch(self, c: RemoteCtx, name: str, call: Any, first: backend_pb2.BackendGetResponse, stall: _Stall,
               fill: _ColdFill, key: tuple[str, int, str], event: threading.Event,
               emit_data: bool = True) -> Iterator[storage_pb2.GetObjectResponse]:
        handed_off = False
        messages = self._messages(call, stall, c)
        try:
            a = first.attrs
            md5 = next((x.value for x in a.checksums if x.type == "md5"), "")
            fill.start(PutSpec(bck=c.bck, bid=c.bid, name=name, size=a.size, content_type=a.content_type,
                               custom=dict(a.custom), cks_type=c.policy.checksum_type, versioning=False,
                               expected=types_pb2.Checksum(type="md5", value=md5)
                               if md5 and c.policy.validate_cold_get else None, remote=remote_attrs(a)),
                       in_file=first.to_file)
            attrs = remote_attrs(a)
            attrs.is_cached = True
            yield storage_pb2.GetObjectResponse(attrs=attrs, range_length=max(a.size, 0))
            if first.data:
                fill.take(first)
                yield storage_pb2.GetObjectResponse(data=first.data) if emit_data else _PROGRESS
            for msg in messages:
                fill.take(msg)
                yield storage_pb2.GetObjectResponse(data=msg.data) if emit_data else _PROGRESS
            fill.commit()
        except GeneratorExit:
            # The client went away: the fetch is paid for and others may be waiting on it, so
            # the rest goes into the cache in the background.
            handed_off = True
            threading.Thread(target=self._finish, args=(fill, messages, key, event), daemon=True,
                             name="cold-finish").start()
            raise
        finally:
            if not handed_off:
                messages.close()
                stall.stop()  # a stream never read (a failure before it) stops here too
                call.cancel()
                fill.close()
                self._done(key, event)

    def _finish(self, fill: _ColdFill, messages: Iterator[backend_pb2.BackendGetResponse],
                key: tuple[str, int, str], event: threading.Event) -> None:
        try:
            for msg in messages:
                fill.take(msg)
            fill.commit()
        except Exception as e:  # logged: nobody is left to answer
            log.info("finishing the cold GET of %s failed: %s", fill.what, e)
        finally:
            fill.close()
            self._done(key, event)

    def range_get(self, c: RemoteCtx, name: str, rng: backend_pb2.BackendRange
                  ) -> Iterator[storage_pb2.GetObjectResponse]:
        """A cold range read: the range straight from the backend (no wait for the whole object),
        while the whole object is fetched into the cache in the background (once)."""
        call, first, stall = self._open_remote(c, name, rng)
        threading.Thread(target=self._fill, args=(c, name), daemon=True, name="cold-fill").start()

        def stream() -> Iterator[storage_pb2.GetObjectResponse]:
            attrs = remote_attrs(first.attrs)
            yield storage_pb2.GetObjectResponse(attrs=attrs, is_range=True, range_offset=first.range_offset,
                                                range_length=first.range_length)
            for piece in self._pieces(call, first, stall, c):
                yield storage_pb2.GetObjectResponse(data=piece)

        return stream()

    def _fill(self, c: RemoteCtx, name: str) -> None:
        try:
            self.prefetch(c, name, latest=True)
        except errors.AisError as e:
            log.info("background fill of %s/%s failed: %s", c.bck.display(), name, e)

    def prefetch(self, c: RemoteCtx, name: str, latest: bool = False) -> types_pb2.ObjAttrs:
        """Make the object cached here (no client); answers its attrs."""
        if self.is_current(c, name, latest):  # raises when the remote object is gone
            with contextlib.suppress(errors.NotFound):
                return self.store.head(c.bck, c.bid, name)
        try:
            for _ in range(3):
                stream = self.cold_get(c, name, emit_data=False)
                if stream is not None:
                    for _piece in stream:
                        pass
                try:
                    return self.store.head(c.bck, c.bid, name)
                except errors.NotFound:
                    continue
        except errors.AisError:
            log.info("prefetch of %s/%s failed", c.bck.display(), name, exc_info=True)
            raise
        raise errors.Internal(f"{c.bck.display()}/{name}: not cached after three fetches")

    # --- writes ----------------------------------------------------------------------------

    def write_through(self, c: RemoteCtx, spec: PutSpec, path: str, size: int) -> types_pb2.ObjAttrs:
        """Send the finished work file to the backend first; the node commits only after it."""
        header = backend_pb2.BackendPutHeader(bucket=c.rb, name=spec.name, size=size,
                                              content_type=spec.content_type, custom=spec.custom or {})

        def requests() -> Iterator[backend_pb2.BackendPutRequest]:
            yield backend_pb2.BackendPutRequest(header=header)
            with open(path, "rb") as f:
                while data := f.read(CHUNK_SIZE):
                    yield backend_pb2.BackendPutRequest(data=data)
            yield backend_pb2.BackendPutRequest(eof=True)

        timeout = CONTROL_S + STALL_S + size / MIN_RATE
        try:
            a: backend_pb2.BackendObjAttrs = self.backends.stub(c.adapter).PutObject(requests(), timeout=timeout)
        except grpc.RpcError as e:
            raise adapter_error(e, c.bck) from None
        return remote_attrs(a)

    def delete(self, c: RemoteCtx, name: str) -> None:
        """Delete on the backend first, then the cached copy; NotFound only when neither had it."""
        remote_missing = False
        try:
            self.backends.stub(c.adapter).DeleteObject(
                backend_pb2.BackendObjectRequest(bucket=c.rb, name=name), timeout=CONTROL_S)
        except grpc.RpcError as e:
            err = adapter_error(e, c.bck)
            if not isinstance(err, errors.ObjectNotFound):
                raise err from None
            remote_missing = True
        try:
            self.store.delete(c.bck, c.bid, name)
        except errors.NotFound:
            if remote_missing:
                raise
