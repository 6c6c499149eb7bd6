"""The gcp adapter: backend.proto over google-cloud-storage (Google Cloud Storage and its emulators).

Credentials come from the usual Google environment (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's
application-default file, the metadata server); a bucket's ``extra.gcp.application_creds`` (a
service-account JSON file) overrides them. ``STORAGE_EMULATOR_HOST`` points the adapter at an
emulator (anonymous credentials). One client per credentials file, reused.

Versions are generations. The ETag reported is the object's md5 in hex when GCS has one (every
object but composites), so it matches S3 clients' expectation and the node's cold-GET validation;
otherwise it is GCS's own ETag. Reads stream in ranged windows pinned to the generation resolved
first, so an object replaced mid-read fails with PRECONDITION_FAILED instead of mixing versions.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterator
from typing import Any

from google.api_core.retry import Retry
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from aismesh.cmn import errors
from aismesh.protos import backend_pb2, backend_pb2_grpc, types_pb2
from services.backends.common import (
    CHUNK_SIZE,
    CONNECT_TIMEOUT_S,
    READ_TIMEOUT_S,
    ChunkReader,
    PendingUploads,
    bucket_display,
    chunks_of,
    into_file,
    part_stream,
    resolve_range,
)
from services.backends.gcp.errors import mapped

# Writes up to this size go up in one request; larger (or of unknown size) as a resumable
# upload in chunks of this size (a multiple of 256 KiB).
RESUMABLE_CHUNK = 8 << 20
# Data is fetched in windows of this size (one ranged request each) and sent in CHUNK_SIZE pieces.
READ_WINDOW = 4 << 20
TIMEOUT = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
# Transient failures are retried, but never past the mesh's control deadline (5 s).
RETRY: Retry = DEFAULT_RETRY.with_timeout(3.0)
# Parts of a caller-driven multipart upload live here until CompleteUpload composes them.
MPU_PREFIX = ".aismesh-mpu/"
COMPOSE_MAX = 32


def _hex_of_b64(v: str | None) -> str:
    return base64.b64decode(v).hex() if v else ""


def _attrs_of(name: str, blob: Any) -> backend_pb2.BackendObjAttrs:
    md5 = _hex_of_b64(blob.md5_hash)
    crc = _hex_of_b64(blob.crc32c)
    mtime = blob.updated
    out = backend_pb2.BackendObjAttrs(
        name=name, size=int(blob.size if blob.size is not None else -1), etag=md5 or str(blob.etag or ""),
        version=str(blob.generation or ""), mtime_ns=int(mtime.timestamp() * 1e9) if mtime else 0,
        content_type=str(blob.content_type or ""), custom={str(k): str(v) for k, v in (blob.metadata or {}).items()},
    )
    if md5:
        out.checksums.append(types_pb2.Checksum(type="md5", value=md5))
    if crc:
        out.checksums.append(types_pb2.Checksum(type="crc32c", value=crc))
    return out


class _Stream(ChunkReader):
    """The request body as the file object resumable uploads want (they ask where they are)."""

    def tell(self) -> int:
        return self.read_bytes


class GcpBackend(backend_pb2_grpc.BackendServicer):
    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._uploads = PendingUploads()

    # --- clients ---------------------------------------------------------------------------

    def client(self, extra: Any, where: str) -> Any:
        creds = extra.get("gcp.application_creds", "")
        c = self._clients.get(creds)
        if c is not None:
            return c
        with self._lock, mapped(where):
            c = self._clients.get(creds)
            if c is None:
                project = os.environ.get("GOOGLE_CLOUD_PROJECT") or None
                if creds:
                    c = storage.Client.from_service_account_json(creds, project=project)
                elif os.environ.get("STORAGE_EMULATOR_HOST"):
                    c = storage.Client(project=project or "aismesh", credentials=AnonymousCredentials())
                else:  # application default credentials; a clear Unauthenticated when there are none
                    c = storage.Client(project=project)
                self._clients[creds] = c
            return c

    def _bucket(self, rb: backend_pb2.RemoteBucket) -> tuple[Any, str]:
        where = bucket_display(rb.bck)
        return self.client(rb.extra, where).bucket(rb.bck.name), where

    # --- buckets ---------------------------------------------------------------------------

    @errors.servicer_guard
    def ListBuckets(self, request: backend_pb2.BackendListBucketsRequest, context: Any) -> Any:
        with mapped("gcp (list buckets)"):
            names = [b.name for b in self.client(request.extra, "gcp").list_buckets(timeout=TIMEOUT, retry=RETRY)]
        return backend_pb2.BackendListBucketsResponse(buckets=[types_pb2.Bck(provider="gcp", name=n) for n in names])

    @errors.servicer_guard
    def HeadBucket(self, request: backend_pb2.BackendBucketRequest, context: Any) -> backend_pb2.BackendBucketProps:
        b, where = self._bucket(request.bucket)
        with mapped(where):
            b.reload(timeout=TIMEOUT, retry=RETRY)
        props = {"versioning.enabled": "true" if b.versioning_enabled else "false"}
        return backend_pb2.BackendBucketProps(bck=request.bucket.bck, props=props)

    @errors.servicer_guard
    def CreateBucket(self, request: backend_pb2.BackendBucketRequest, context: Any) -> backend_pb2.BackendBucketProps:
        rb = request.bucket
        where = bucket_display(rb.bck)
        with mapped(where):
            self.client(rb.extra, where).create_bucket(rb.bck.name, timeout=TIMEOUT, retry=RETRY)
        return self.HeadBucket(request, context)

    # --- listing ---------------------------------------------------------------------------

    @errors.servicer_guard
    def ListObjects(self, request: backend_pb2.BackendListObjectsRequest, context: Any) -> Any:
        rb = request.bucket
        where = bucket_display(rb.bck)
        kw: dict[str, Any] = {"max_results": request.page_size or 1000, "timeout": TIMEOUT, "retry": RETRY}
        if request.prefix:
            kw["prefix"] = request.prefix
        if request.delimiter:
            kw["delimiter"] = request.delimiter
        if request.continuation_token:
            kw["page_token"] = request.continuation_token
        elif request.start_after:
            kw["start_offset"] = request.start_after  # inclusive in GCS: the name itself is dropped below
        with mapped(where):
            it = self.client(rb.extra, where).list_blobs(rb.bck.name, **kw)
            page = next(it.pages, None)
            blobs = list(page) if page is not None else []
            prefixes = sorted(page.prefixes) if page is not None else []
            token = it.next_page_token or ""
        entries = [_attrs_of(bl.name, bl) for bl in blobs if bl.name != request.start_after or
                   request.continuation_token]
        for e in entries:
            del e.checksums[:]
            e.content_type = ""
            e.custom.clear()
        entries += [backend_pb2.BackendObjAttrs(name=p, is_dir=True) for p in prefixes]
        entries.sort(key=lambda e: e.name)
        return backend_pb2.BackendListObjectsResponse(entries=entries, next_token=token)

    # --- objects ---------------------------------------------------------------------------

    def _resolve(self, rb: backend_pb2.RemoteBucket, name: str, version: str = "", if_version: str = "") -> Any:
        b, where = self._bucket(rb)
        blob = b.blob(name, generation=int(version) if version else None)
        with mapped(where, name):
            blob.reload(timeout=TIMEOUT, retry=RETRY, if_generation_match=int(if_version) if if_version else None)
        if if_version and str(blob.generation) != if_version:  # where the server ignored the condition
            raise errors.PreconditionFailed(f"{where}/{name} changed on gcp: generation {blob.generation}, "
                                            f"expected {if_version}", obj=name)
        return blob

    @errors.servicer_guard
    def HeadObject(self, request: backend_pb2.BackendObjectRequest, context: Any) -> backend_pb2.BackendObjAttrs:
        return _attrs_of(request.name, self._resolve(request.bucket, request.name, request.version))

    @into_file
    @errors.servicer_guard
    def GetObject(self, request: backend_pb2.BackendGetRequest, context: Any) -> Iterator[Any]:
        where = bucket_display(request.bucket.bck)
        cond = request.condition
        blob = self._resolve(request.bucket, request.name, request.version, cond.if_match_version)
        attrs = _attrs_of(request.name, blob)
        if cond.if_match_etag and cond.if_match_etag not in (attrs.etag, blob.etag):
            raise errors.PreconditionFailed(f"{where}/{request.name} changed on gcp: ETag {attrs.etag}, "
                                            f"expected {cond.if_match_etag}", obj=request.name)
        offset, length = resolve_range(request.range if request.HasField("range") else None, attrs.size)
        return self._stream(context, blob, attrs, offset, length, where, request.name)

    @staticmethod
    def _stream(context: Any, blob: Any, attrs: backend_pb2.BackendObjAttrs, offset: int, length: int, where: str,
                name: str) -> Iterator[backend_pb2.BackendGetResponse]:
        try:
            yield backend_pb2.BackendGetResponse(attrs=attrs, range_offset=offset, range_length=length)
            pos, end = offset, offset + length
            while pos < end:
                stop = min(pos + READ_WINDOW, end)
                with mapped(where, name):
                    data = blob.download_as_bytes(start=pos, end=stop - 1, if_generation_match=blob.generation,
                                                  checksum=None, timeout=TIMEOUT, retry=RETRY)
                if len(data) != stop - pos:
                    raise errors.RemoteUnavailable(f"gcp: {where}/{name} sent {len(data)} bytes at {pos}, "
                                                   f"expected {stop - pos}")
                for i in range(0, len(data), CHUNK_SIZE):
                    yield backend_pb2.BackendGetResponse(data=data[i:i + CHUNK_SIZE])
                pos = stop
        except errors.AisError as e:
            errors.to_grpc_abort(context, e)

    def _upload(self, rb: backend_pb2.RemoteBucket, name: str, chunks: Iterator[bytes], size: int,
                content_type: str, custom: Any) -> Any:
        b, where = self._bucket(rb)
        blob = b.blob(name, chunk_size=RESUMABLE_CHUNK)
        if custom:
            blob.metadata = dict(custom)
        ctype = content_type or None
        with mapped(where, name):
            if 0 <= size <= RESUMABLE_CHUNK:
                # Small: read whole (up to eof: a cut stream raises before anything is sent), one request.
                data = b"".join(chunks)
                if len(data) != size:
                    raise errors.InvalidArgument(f"received {len(data)} bytes, announced {size}",
                                                 reason="incomplete-body")
                blob.upload_from_string(data, content_type=ctype or "application/octet-stream",
                                        timeout=TIMEOUT, retry=None)
            else:
                # Resumable, total unknown: it ends only on the stream's eof, so a cut stream never
                # finalises the upload and nothing is stored.
                reader = _Stream(chunks)
                blob.upload_from_file(reader, size=None, content_type=ctype, timeout=TIMEOUT, retry=None)
                if size >= 0 and reader.read_bytes != size:
                    raise errors.InvalidArgument(f"received {reader.read_bytes} bytes, announced {size}",
                                                 reason="incomplete-body")
        return blob

    @errors.servicer_guard
    def PutObject(self, request_iterator: Iterator[backend_pb2.BackendPutRequest], context: Any) -> Any:
        first = next(request_iterator, None)
        if first is None or not first.HasField("header"):
            raise errors.InvalidArgument("PutObject: the first message must be the header")
        h = first.header
        blob = self._upload(h.bucket, h.name, chunks_of(request_iterator), h.size, h.content_type, h.custom)
        return _attrs_of(h.name, blob)

    @errors.servicer_guard
    def DeleteObject(self, request: backend_pb2.BackendObjectRequest, context: Any) -> types_pb2.Empty:
        b, where = self._bucket(request.bucket)
        with mapped(where, request.name):
            b.delete_blob(request.name, generation=int(request.version) if request.version else None,
                          timeout=TIMEOUT, retry=RETRY)
        return types_pb2.Empty()

    @errors.servicer_guard
    def CopyObject(self, request: backend_pb2.BackendCopyRequest, context: Any) -> backend_pb2.BackendObjAttrs:
        src, _ = self._bucket(request.src_bucket)
        dst, dwhere = self._bucket(request.dst_bucket)
        with mapped(dwhere, request.dst_name):
            blob = src.copy_blob(src.blob(request.src_name), dst, request.dst_name, timeout=TIMEOUT, retry=RETRY)
        return _attrs_of(request.dst_name, blob)

    # --- multipart: parts are objects under MPU_PREFIX, composed on completion ------------------

    @staticmethod
    def _part_name(upload_id: str, n: int) -> str:
        return f"{MPU_PREFIX}{upload_id}/{n:05d}"

    @errors.servicer_guard
    def CreateUpload(self, request: backend_pb2.BackendPutHeader, context: Any) -> backend_pb2.BackendUpload:
        self._bucket(request.bucket)  # credentials are checked now, not at the first part
        return backend_pb2.BackendUpload(upload_id=self._uploads.add(request))

    @errors.servicer_guard
    def PutPart(self, request_iterator: Iterator[backend_pb2.BackendPartRequest], context: Any) -> Any:
        h, data_in = part_stream(request_iterator)
        u = h.upload
        blob = self._upload(u.bucket, self._part_name(u.upload_id, h.part_number), data_in, -1,
                            "", None)
        return backend_pb2.BackendPart(part_number=h.part_number, etag=_hex_of_b64(blob.md5_hash) or blob.etag,
                                       size=int(blob.size or 0))

    @errors.servicer_guard
    def CompleteUpload(self, request: backend_pb2.BackendCompleteRequest, context: Any) -> Any:
        u = request.upload
        b, where = self._bucket(u.bucket)
        header = self._uploads.get(u.upload_id)
        parts = sorted(request.parts, key=lambda p: p.part_number)
        if not parts:
            raise errors.InvalidArgument("CompleteUpload: no parts")
        dst = b.blob(u.name)
        if header is not None:
            dst.content_type = header.content_type or None
            dst.metadata = dict(header.custom) or None
        sources = [b.blob(self._part_name(u.upload_id, p.part_number)) for p in parts]
        with mapped(where, u.name):
            # At most 32 sources a compose: fold the rest in, 31 at a time, onto the result.
            dst.compose(sources[:COMPOSE_MAX], timeout=TIMEOUT, retry=RETRY)
            rest = sources[COMPOSE_MAX:]
            while rest:
                dst.compose([dst, *rest[:COMPOSE_MAX - 1]], timeout=TIMEOUT, retry=RETRY)
                rest = rest[COMPOSE_MAX - 1:]
            dst.reload(timeout=TIMEOUT, retry=RETRY)
        self._drop_parts(u.bucket, u.upload_id, where)
        return _attrs_of(u.name, dst)

    @errors.servicer_guard
    def AbortUpload(self, request: backend_pb2.BackendUploadRequest, context: Any) -> types_pb2.Empty:
        self._drop_parts(request.bucket, request.upload_id, bucket_display(request.bucket.bck))
        return types_pb2.Empty()

    def _drop_parts(self, rb: backend_pb2.RemoteBucket, upload_id: str, where: str) -> None:
        self._uploads.pop(upload_id)
        b, _ = self._bucket(rb)
        with mapped(where):
            for blob in b.list_blobs(prefix=f"{MPU_PREFIX}{upload_id}/", timeout=TIMEOUT, retry=RETRY):
                blob.delete(timeout=TIMEOUT, retry=RETRY)
