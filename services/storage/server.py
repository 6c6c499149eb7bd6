"""The Storage gRPC servicer: adapts store.Store (and multipart uploads) to storage.proto."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from prometheus_client import Counter

from aismesh.cmn import errors
from aismesh.cmn.backends import Backends
from aismesh.cmn.names import Bck
from aismesh.cmn.ranges import ByteRange
from aismesh.cmn.rpc import CHUNK_SIZE
from aismesh.protos import backend_pb2, storage_pb2, storage_pb2_grpc, types_pb2
from services.storage import layout
from services.storage.mpu import Uploads
from services.storage.remote import RemoteCtx, RemoteObjects, ctx_of, is_remote_ref
from services.storage.store import PutSpec, Store

log = logging.getLogger("storage")
REMOTE_GETS = Counter("aismesh_remote_gets_total", "GETs of remote-bucket objects: warm (from the cache) or cold "
                      "(through the backend adapter)", ["kind"])
# The gateway asks every node for one entry more than its page (up to 10000) to learn whether
# more follow, hence 10001.
LIST_DEFAULT, LIST_MAX = 1000, 10_001


def bucket_of(ref: types_pb2.BucketRef) -> tuple[Bck, int]:
    if not ref.bck.name:
        raise errors.InvalidArgument("bucket name is empty")
    return Bck.from_proto(ref.bck), ref.bid


def chunks_of(requests: Iterator[Any], context: Any, custom: dict[str, str] | None = None) -> Iterator[bytes]:
    """The data of a client stream after its header, up to the client's ``eof`` (or trailer,
    whose metadata joins ``custom`` before the commit) message. A stream that ends without it
    was cut short (a cancelled call can look like a clean end here), so a truncated body can
    never be committed."""
    for msg in requests:
        if msg.eof:
            return
        if msg.WhichOneof("part") == "trailer":  # PutObject only (PutPart ends with eof)
            if custom is not None:
                custom.update(msg.trailer.custom)
            return
        yield msg.data
    raise errors.InvalidArgument("the request stream ended before the body did: nothing stored",
                                 reason="incomplete-body")


class StorageServicer(storage_pb2_grpc.StorageServicer):
    def __init__(self, store: Store, backends: Backends | None = None) -> None:
        self.store = store
        self.remote = RemoteObjects(store, backends if backends is not None else Backends())
        self.uploads = Uploads(store, self._attach_write_through)
        self.started_ns = time.time_ns()
        # Set by __main__ to the membership's view; NodeInfo reports it.
        self.smap_version: Callable[[], int] = lambda: 0

    @errors.servicer_guard
    def PutObject(self, request_iterator: Iterator[storage_pb2.PutObjectRequest], context: Any) -> types_pb2.ObjAttrs:
        first = next(request_iterator, None)
        if first is None or not first.HasField("header"):
            raise errors.InvalidArgument("PutObject: the first message must be the header")
        try:
            spec = self.spec_of(first.header)
            if spec.custom is None:
                spec.custom = {}
            return self.store.put(spec, chunks_of(request_iterator, context, spec.custom))
        except grpc.RpcError:
            return self._client_gone(context, types_pb2.ObjAttrs())

    @staticmethod
    def _client_gone(context: Any, empty: Any) -> Any:
        """The client cancelled mid-stream (the request iterator raised): the work file is gone
        and the old object stands. Nobody is left to answer, and returning any message keeps
        grpc from logging a spurious serialization error; a live call still fails loudly."""
        if context.is_active():
            raise errors.Internal("the request stream failed while the call was still active")
        return empty

    def _attach_write_through(self, ref: types_pb2.BucketRef, spec: PutSpec) -> None:
        if is_remote_ref(ref):
            c = ctx_of(ref)
            spec.versioning = False
            spec.write_through = lambda path, size: self.remote.write_through(c, spec, path, size)

    def spec_of(self, h: storage_pb2.PutHeader) -> PutSpec:
        bck, bid = bucket_of(h.bucket)
        spec = PutSpec(bck=bck, bid=bid, name=h.name, size=h.size, content_type=h.content_type,
                       custom=dict(h.custom), cks_type=h.checksum_type, versioning=h.versioning,
                       compute_md5=h.compute_md5, expected=h.expected if h.HasField("expected") else None,
                       remote=h.remote if h.HasField("remote") else None,
                       if_absent=h.if_absent, if_match_etag=h.if_match_etag)
        # Remote buckets write through: the backend first, then this node's copy.
        self._attach_write_through(h.bucket, spec)
        return spec

    def open_for_read(self, request: storage_pb2.GetObjectRequest,
                      validate: bool = False) -> tuple[int, types_pb2.ObjAttrs, int, int, bool]:
        """Open the object, verify it when asked (``validate``) or when its bucket's props say
        so, and resolve the range: all before any byte leaves, so errors stay clean."""
        bck, bid = bucket_of(request.bucket)
        if request.version_id:
            fd, meta, mp = self.store.versioning.open_version(bck, bid, request.name, request.version_id)
        else:
            fd, meta, mp = self.store.open_object(bck, bid, request.name)
        try:
            if validate or self.store.validates_reads(bck, bid):
                self.store.verify(fd, meta, bck, request.name)
            offset, length, is_range = 0, meta.size, False
            if request.HasField("range"):
                offset, length = ByteRange.from_proto(request.range).resolve(meta.size)
                is_range = True
            self.store.touch(fd, meta)
        except BaseException:
            os.close(fd)
            raise
        return fd, meta.to_attrs(self.store.location(mp)), offset, length, is_range

    def open_local(self, request: storage_pb2.GetObjectRequest
                   ) -> tuple[int, types_pb2.ObjAttrs, int, int, bool, str]:
        """The same-host fast path's read. For a remote bucket it serves the cached copy only
        (a warm GET; the gateway sends no read that needs validation); not cached: ObjectNotFound,
        and the gateway goes through GetObject for the cold GET. The last item is the object's
        path when the reader may open it again by itself (LocalResponse.path), else ""."""
        fd, attrs, offset, length, is_range = self.open_for_read(request)
        remote = is_remote_ref(request.bucket)
        if remote and not request.cache_first:  # else: the read of a cold GET
            REMOTE_GETS.labels("warm").inc()
        path = ""
        if not (remote or request.version_id or request.cache_first):
            bck, bid = bucket_of(request.bucket)
            if not self.store.validates_reads(bck, bid):
                path = layout.object_path(self.store.mountpath_for(bck, request.name), bck, bid, request.name)
        return fd, attrs, offset, length, is_range, path

    def quick_local(self, request: storage_pb2.GetObjectRequest) -> bool:
        """Whether open_local is quick enough for the same-host loop: not an older version (an
        index lookup) and not a bucket that verifies every read (a pass over the bytes)."""
        if request.version_id:
            return False
        if not self.store.validates_any_reads:
            return True
        try:
            bck, bid = bucket_of(request.bucket)
        except errors.AisError:
            return True  # answered with the error at once
        return not self.store.validates_reads(bck, bid)

    @errors.servicer_guard
    def GetObject(self, request: storage_pb2.GetObjectRequest, context: Any) -> Iterator[storage_pb2.GetObjectResponse]:
        if is_remote_ref(request.bucket):
            if request.version_id:
                raise errors.NotImplemented("object versions of remote buckets are not kept by this cluster")
            return self._remote_get(request, context)
        return self._stream(context, *self.open_for_read(request))

    def _remote_get(self, request: storage_pb2.GetObjectRequest, context: Any) -> Iterator[Any]:
        """Warm GET from disk when the copy is current, else a cold GET through the adapter."""
        c = ctx_of(request.bucket, request.remote)
        latest = request.latest
        if request.cache_first and not request.HasField("range"):
            return _aborting(context, self._fill_cache(c, request.name, latest))
        for _ in range(3):
            if self.remote.is_current(c, request.name, latest):  # raises when the remote object is gone
                try:
                    warm = self._stream(context, *self.open_for_read(request))
                    REMOTE_GETS.labels("warm").inc()
                    return warm
                except errors.ObjectNotFound:
                    pass  # not cached (yet): cold GET
            if request.HasField("range"):
                REMOTE_GETS.labels("cold").inc()
                return _aborting(context, self.remote.range_get(c, request.name, backend_range(request.range)))
            stream = self.remote.cold_get(c, request.name)
            if stream is not None:
                REMOTE_GETS.labels("cold").inc()
                return _aborting(context, stream)
            latest = False  # another request has just fetched it
        raise errors.RemoteUnavailable(f"{c.bck.display()}/{request.name}: could not be fetched")

    def _fill_cache(self, c: RemoteCtx, name: str, latest: bool) -> Iterator[storage_pb2.GetObjectResponse]:
        """Make the object cached (a cold GET into the cache, unless the copy here is current),
        answering one empty message per piece fetched: the caller reads the cached copy."""
        for _ in range(3):
            if self.remote.is_current(c, name, latest):  # raises when the remote object is gone
                with contextlib.suppress(errors.NotFound):
                    self.store.head(c.bck, c.bid, name)
                    REMOTE_GETS.labels("warm").inc()  # cached (by another request): the read is warm
                    return
            stream = self.remote.cold_get(c, name, emit_data=False)
            if stream is not None:
                REMOTE_GETS.labels("cold").inc()
                yield from stream
                return
            latest = False  # another request has just fetched it
        raise errors.RemoteUnavailable(f"{c.bck.display()}/{name}: could not be fetched")

    @errors.servicer_guard
    def PrefetchObject(self, request: storage_pb2.GetObjectRequest, context: Any) -> types_pb2.ObjAttrs:
        if not is_remote_ref(request.bucket):
            raise errors.InvalidArgument("prefetch applies to remote buckets only")
        return self.remote.prefetch(ctx_of(request.bucket, request.remote), request.name, request.latest)

    @errors.servicer_guard
    def ReadObject(self, request: storage_pb2.GetObjectRequest, context: Any) -> storage_pb2.GetObjectResponse:
        fd, attrs, offset, length, is_range = self.open_for_read(request)
        try:
            resp = storage_pb2.GetObjectResponse(attrs=attrs, is_range=is_range, range_offset=offset,
                                                 range_length=length)
            if length <= request.inline_limit:
                data = os.pread(fd, length, offset) if length else b""
                if len(data) != length:
                    raise errors.Internal(f"{attrs.name}: read {len(data)} of {length} bytes")
                resp.data, resp.inline = data, True
            return resp
        finally:
            os.close(fd)

    @errors.servicer_guard
    def WriteObject(self, request: storage_pb2.WriteObjectRequest, context: Any) -> types_pb2.ObjAttrs:
        return self.store.put(self.spec_of(request.header), (request.data,))

    @staticmethod
    def _stream(context: Any, fd: int, attrs: types_pb2.ObjAttrs, offset: int, length: int,
                is_range: bool) -> Iterator[storage_pb2.GetObjectResponse]:
        """The first message carries attrs and the first chunk (a small object is one message).
        os.pread hands back one fresh bytes object per chunk, which protobuf adopts: reading into
        a reused buffer would only add a copy out of it."""
        try:
            first = os.pread(fd, min(CHUNK_SIZE, length), offset) if length else b""
            yield storage_pb2.GetObjectResponse(attrs=attrs, is_range=is_range, range_offset=offset,
                                                range_length=length, data=first)
            pos, end = offset + len(first), offset + length
            while pos < end:
                data = os.pread(fd, min(CHUNK_SIZE, end - pos), pos)
                if not data:
                    raise errors.Internal(f"{attrs.name}: file ended at {pos} of {end} bytes")
                yield storage_pb2.GetObjectResponse(data=data)
                pos += len(data)
        except errors.AisError as e:
            errors.to_grpc_abort(context, e)
        except OSError as e:
            log.exception("reading %s failed", attrs.name)
            errors.to_grpc_abort(context, errors.Internal(f"{attrs.name}: read failed: {e}"))
        finally:
            os.close(fd)

    @errors.servicer_guard
    def HeadObject(self, request: storage_pb2.ObjectRequest, context: Any) -> types_pb2.ObjAttrs:
        if is_remote_ref(request.bucket):
            if request.version_id:
                raise errors.NotImplemented("object versions of remote buckets are not kept by this cluster")
            return self.remote.head(ctx_of(request.bucket), request.name)
        bck, bid = bucket_of(request.bucket)
        if request.version_id:
            fd, meta, mp = self.store.versioning.open_version(bck, bid, request.name, request.version_id)
            os.close(fd)
            return meta.to_attrs(self.store.location(mp))
        return self.store.head(bck, bid, request.name)

    @errors.servicer_guard
    def DeleteObject(self, request: storage_pb2.ObjectRequest, context: Any) -> types_pb2.Empty:
        if is_remote_ref(request.bucket):
            self.remote.delete(ctx_of(request.bucket), request.name)
            return types_pb2.Empty()
        bck, bid = bucket_of(request.bucket)
        self.store.delete(bck, bid, request.name)
        return types_pb2.Empty()

    @errors.servicer_guard
    def EvictObject(self, request: storage_pb2.ObjectRequest, context: Any) -> types_pb2.Empty:
        bck, bid = bucket_of(request.bucket)
        self.store.delete(bck, bid, request.name)
        return types_pb2.Empty()

    @errors.servicer_guard
    def EvictBucket(self, request: storage_pb2.BucketRequest, context: Any) -> types_pb2.Empty:
        bck, bid = bucket_of(request.bucket)
        self.store.drop_bucket(bck, bid)
        return types_pb2.Empty()

    @errors.servicer_guard
    def SealBucket(self, request: storage_pb2.SealBucketRequest, context: Any) -> storage_pb2.SealBucketResponse:
        bck, bid = bucket_of(request.bucket)
        ttl_s = (request.ttl_ms or 30_000) / 1000
        return storage_pb2.SealBucketResponse(has_objects=self.store.seal_bucket(bck, bid, request.seal, ttl_s))

    @errors.servicer_guard
    def ListObjects(self, request: storage_pb2.ListObjectsRequest, context: Any) -> storage_pb2.ListObjectsResponse:
        bck, bid = bucket_of(request.bucket)
        if request.page_size < 0:
            raise errors.InvalidArgument(f"page size must not be negative, got {request.page_size}")
        limit = min(request.page_size or LIST_DEFAULT, LIST_MAX)
        entries, more = self.store.list_page(bck, bid, request.prefix, request.start_after, limit,
                                             request.delimiter, request.with_attrs)
        return storage_pb2.ListObjectsResponse(entries=entries, is_truncated=more)

    @errors.servicer_guard
    def DeleteVersion(self, request: storage_pb2.ObjectRequest, context: Any) -> storage_pb2.DeleteVersionResponse:
        if is_remote_ref(request.bucket):
            raise errors.NotImplemented("object versions of remote buckets are not kept by this cluster")
        bck, bid = bucket_of(request.bucket)
        if request.version_id:
            done = self.store.versioning.delete_version(bck, bid, request.name, request.version_id)
        else:
            done = self.store.delete(bck, bid, request.name)
        return storage_pb2.DeleteVersionResponse(version_id=done.version_id, is_delete_marker=done.is_delete_marker,
                                                 found=done.found)

    @errors.servicer_guard
    def ListVersions(self, request: storage_pb2.ListVersionsRequest,
                     context: Any) -> storage_pb2.ListVersionsResponse:
        if is_remote_ref(request.bucket):
            raise errors.NotImplemented("object versions of remote buckets are not kept by this cluster")
        bck, bid = bucket_of(request.bucket)
        if request.page_size < 0:
            raise errors.InvalidArgument(f"page size must not be negative, got {request.page_size}")
        limit = min(request.page_size or LIST_DEFAULT, LIST_MAX)
        found, more = self.store.versioning.list_versions(bck, bid, request.prefix, request.key_marker,
                                               request.version_id_marker, limit, request.delimiter)
        entries = [storage_pb2.VersionEntry(attrs=e.attrs, version_id=e.version_id, is_latest=e.is_latest,
                                            is_delete_marker=e.is_delete_marker, seq=e.seq) for e in found]
        return storage_pb2.ListVersionsResponse(entries=entries, is_truncated=more)

    @errors.servicer_guard
    def NodeInfo(self, request: types_pb2.Empty, context: Any) -> storage_pb2.NodeInfoResponse:
        mps = []
        for mp in self.store.mountpaths:
            st = os.statvfs(mp)
            mps.append(storage_pb2.Mountpath(path=mp, total_bytes=st.f_blocks * st.f_frsize,
                                             free_bytes=st.f_bavail * st.f_frsize))
        return storage_pb2.NodeInfoResponse(node_id=self.store.node_id, mountpaths=mps,
                                            bmd_version=self.store.bmd_version, smap_version=self.smap_version(),
                                            started_ns=self.started_ns)

    # --- multipart -------------------------------------------------------------------------

    @errors.servicer_guard
    def CreateUpload(self, request: storage_pb2.CreateUploadRequest, context: Any) -> storage_pb2.UploadInfo:
        return self.uploads.create(request)

    @errors.servicer_guard
    def PutPart(self, request_iterator: Iterator[storage_pb2.PutPartRequest], context: Any) -> storage_pb2.PartInfo:
        first = next(request_iterator, None)
        if first is None or not first.HasField("header"):
            raise errors.InvalidArgument("PutPart: the first message must be the header")
        try:
            return self.uploads.put_part(first.header, chunks_of(request_iterator, context))
        except grpc.RpcError:
            return self._client_gone(context, storage_pb2.PartInfo())

    @errors.servicer_guard
    def CompleteUpload(self, request: storage_pb2.CompleteUploadRequest, context: Any) -> types_pb2.ObjAttrs:
        return self.uploads.complete(request)

    @errors.servicer_guard
    def AbortUpload(self, request: storage_pb2.UploadRequest, context: Any) -> types_pb2.Empty:
        self.uploads.abort(request)
        return types_pb2.Empty()

    @errors.servicer_guard
    def ListParts(self, request: storage_pb2.UploadRequest, context: Any) -> storage_pb2.ListPartsResponse:
        return storage_pb2.ListPartsResponse(parts=self.uploads.parts(request))

    @errors.servicer_guard
    def ListUploads(self, request: storage_pb2.ListUploadsRequest, context: Any) -> storage_pb2.ListUploadsResponse:
        return storage_pb2.ListUploadsResponse(uploads=self.uploads.list(request))


def backend_range(r: types_pb2.ByteRange) -> backend_pb2.BackendRange:
    """A client's range in the backend contract's terms (an explicit open end)."""
    if r.suffix_length > 0:
        return backend_pb2.BackendRange(suffix_length=r.suffix_length)
    if r.end < 0:
        return backend_pb2.BackendRange(start=r.start)
    return backend_pb2.BackendRange(start=r.start, length=r.end - r.start + 1)


def _aborting(context: Any, stream: Iterator[Any]) -> Iterator[Any]:
    """A response stream whose mesh errors (raised mid-stream) end the call with their status."""
    try:
        yield from stream
    except errors.AisError as e:
        errors.to_grpc_abort(context, e)
