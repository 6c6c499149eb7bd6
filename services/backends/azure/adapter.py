"""The azure adapter: backend.proto over azure-storage-blob (Azure Blob Storage and Azurite).

Containers are buckets. Credentials come from the usual Azure environment:
``AZURE_STORAGE_CONNECTION_STRING``, or ``AZURE_STORAGE_ACCOUNT`` with ``AZURE_STORAGE_KEY``
(endpoint ``AZURE_STORAGE_URL``, default ``https://<account>.blob.core.windows.net``). One
service client, reused.

The ETag reported is the blob's Content-MD5 in hex when it has one (the adapter sets it on every
blob it writes), so it matches S3 clients and the node's cold-GET validation; otherwise it is
Azure's ETag. Reads pin Azure's ETag resolved first, so a blob replaced mid-read fails with
PRECONDITION_FAILED. Azure lists by an opaque marker only: the marker that follows a page's last
name is remembered, so a caller continuing by ``start_after`` (the gateway) does not rescan.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from azure.core import MatchConditions
from azure.storage.blob import BlobBlock, BlobPrefix, BlobServiceClient, ContentSettings, LinearRetry

from aismesh.cmn import errors
from aismesh.protos import backend_pb2, backend_pb2_grpc, types_pb2
from services.backends.azure.errors import mapped
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

# Writes up to this size go up in one request; larger ones (or of unknown size) as staged blocks
# of this size, committed at the end (a cut stream commits nothing).
BLOCK_SIZE = 8 << 20
GET_CHUNK = 4 << 20
CLIENT_KW: dict[str, Any] = {
    "connection_timeout": CONNECT_TIMEOUT_S, "read_timeout": READ_TIMEOUT_S,
    # The storage SDK's own default retries for minutes; transient failures get two quick retries.
    "retry_policy": LinearRetry(backoff=1, random_jitter_range=0, retry_total=2),
    "max_single_put_size": BLOCK_SIZE, "max_block_size": BLOCK_SIZE,
    "max_single_get_size": GET_CHUNK, "max_chunk_get_size": GET_CHUNK,
}
COPY_WAIT_S = 30.0
MARKERS_KEPT = 4096


def _attrs_of(name: str, p: Any) -> backend_pb2.BackendObjAttrs:
    cs = p.content_settings
    md5 = bytes(cs.content_md5).hex() if cs is not None and cs.content_md5 else ""
    mtime = p.last_modified
    out = backend_pb2.BackendObjAttrs(
        name=name, size=int(p.size if p.size is not None else -1), etag=md5 or str(p.etag or "").strip('"'),
        version=str(getattr(p, "version_id", "") or ""), mtime_ns=int(mtime.timestamp() * 1e9) if mtime else 0,
        content_type=str(cs.content_type or "") if cs is not None else "",
        custom=meta_in(p.metadata),
    )
    if md5:
        out.checksums.append(types_pb2.Checksum(type="md5", value=md5))
    return out


# Azure metadata names must be C# identifiers (and are compared without case); user metadata
# keys are anything S3 allows (x-amz-meta-*, the cluster's own "s3.checksum-crc32"). A key that
# is not an identifier travels hex-encoded behind this prefix and comes back as it was.
_ENCODED = "aismeshx_"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def meta_out(custom: Any) -> dict[str, str] | None:
    out = {}
    for k, v in dict(custom or {}).items():
        plain = _IDENTIFIER.fullmatch(k) and not k.lower().startswith(_ENCODED)
        out[k if plain else _ENCODED + k.encode().hex()] = v
    return out or None


def meta_in(metadata: Any) -> dict[str, str]:
    out = {}
    for k, v in dict(metadata or {}).items():
        k = str(k)
        if k.lower().startswith(_ENCODED):
            with contextlib.suppress(ValueError):
                k = bytes.fromhex(k[len(_ENCODED):]).decode()
        out[k] = str(v)
    return out


def _service_from_env() -> BlobServiceClient:
    conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
    if conn:
        return BlobServiceClient.from_connection_string(conn, **CLIENT_KW)
    account, key = os.environ.get("AZURE_STORAGE_ACCOUNT", ""), os.environ.get("AZURE_STORAGE_KEY", "")
    if not account or not key:
        raise errors.Unauthenticated(
            "azure: no credentials: set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT and "
            "AZURE_STORAGE_KEY (and AZURE_STORAGE_URL for a non-default endpoint)")
    url = os.environ.get("AZURE_STORAGE_URL") or f"https://{account}.blob.core.windows.net"
    return BlobServiceClient(url, credential={"account_name": account, "account_key": key}, **CLIENT_KW)


class _Md5Reader(ChunkReader):
    """The request body as a file, hashed as the SDK reads it."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__(chunks)
        self.md5 = hashlib.md5()

    def read(self, n: int = -1) -> bytes:
        out = super().read(n)
        self.md5.update(out)
        return out


class AzureBackend(backend_pb2_grpc.BackendServicer):
    def __init__(self) -> None:
        self._svc: BlobServiceClient | None = None
        self._lock = threading.Lock()
        self._uploads = PendingUploads()
        # (container, prefix, delimiter, last name of a page) -> the marker of the next page
        self._markers: OrderedDict[tuple[str, str, str, str], str] = OrderedDict()

    # --- clients ---------------------------------------------------------------------------

    def service(self, where: str) -> BlobServiceClient:
        if self._svc is None:
            with self._lock, mapped(where):
                if self._svc is None:
                    try:
                        self._svc = _service_from_env()
                    except ValueError as e:  # a malformed connection string or key
                        raise errors.Unauthenticated(f"azure: unusable credentials for {where}: {e}") from None
        return self._svc

    def _container(self, rb: backend_pb2.RemoteBucket) -> tuple[Any, str]:
        where = bucket_display(rb.bck)
        return self.service(where).get_container_client(rb.bck.name), where

    def _blob(self, rb: backend_pb2.RemoteBucket, name: str) -> tuple[Any, str]:
        where = bucket_display(rb.bck)
        return self.service(where).get_blob_client(rb.bck.name, name), where

    # --- buckets ---------------------------------------------------------------------------

    @errors.servicer_guard
    def ListBuckets(self, request: backend_pb2.BackendListBucketsRequest, context: Any) -> Any:
        with mapped("azure (list containers)"):
            names = [c.name for c in self.service("azure").list_containers()]
        return backend_pb2.BackendListBucketsResponse(buckets=[types_pb2.Bck(provider="azure", name=n)
                                                               for n in names])

    @errors.servicer_guard
    def HeadBucket(self, request: backend_pb2.BackendBucketRequest, context: Any) -> backend_pb2.BackendBucketProps:
        c, where = self._container(request.bucket)
        with mapped(where):
            c.get_container_properties()
        # Blob versioning is an account setting Azure does not report per container.
        return backend_pb2.BackendBucketProps(bck=request.bucket.bck, props={"versioning.enabled": "false"})

    @errors.servicer_guard
    def CreateBucket(self, request: backend_pb2.BackendBucketRequest, context: Any) -> backend_pb2.BackendBucketProps:
        c, where = self._container(request.bucket)
        with mapped(where):
            c.create_container()
        return self.HeadBucket(request, context)

    # --- listing ---------------------------------------------------------------------------

    @errors.servicer_guard
    def ListObjects(self, request: backend_pb2.BackendListObjectsRequest, context: Any) -> Any:
        c, where = self._container(request.bucket)
        size = request.page_size or 1000
        key = (request.bucket.bck.name, request.prefix, request.delimiter)
        token = request.continuation_token or None
        skip_to = ""
        if token is None and request.start_after:
            with self._lock:
                token = self._markers.get((*key, request.start_after))
            if token is None:
                skip_to = request.start_after  # no remembered marker: scan from the prefix, skipping
        entries: list[backend_pb2.BackendObjAttrs] = []
        with mapped(where):
            while True:
                if request.delimiter:
                    pager = c.walk_blobs(name_starts_with=request.prefix or None, delimiter=request.delimiter,
                                         results_per_page=size).by_page(continuation_token=token)
                else:
                    pager = c.list_blobs(name_starts_with=request.prefix or None,
                                         results_per_page=size).by_page(continuation_token=token)
                page = next(pager, None)
                for item in page if page is not None else ():
                    if skip_to and item.name <= skip_to:
                        continue
                    if isinstance(item, BlobPrefix):
                        entries.append(backend_pb2.BackendObjAttrs(name=item.name, is_dir=True))
                    else:
                        a = _attrs_of(item.name, item)
                        del a.checksums[:]
                        a.content_type = ""
                        a.custom.clear()
                        entries.append(a)
                token = pager.continuation_token or None
                if entries or not token or not skip_to:
                    break
        entries.sort(key=lambda e: e.name)
        if token and entries:
            with self._lock:
                self._markers[(*key, entries[-1].name)] = token
                while len(self._markers) > MARKERS_KEPT:
                    self._markers.popitem(last=False)
        return backend_pb2.BackendListObjectsResponse(entries=entries, next_token=token or "")

    # --- objects ---------------------------------------------------------------------------

    def _props(self, rb: backend_pb2.RemoteBucket, name: str, version: str = "") -> tuple[Any, Any, str]:
        bc, where = self._blob(rb, name)
        with mapped(where, name):
            p = bc.get_blob_properties(version_id=version or None)
        return bc, p, where

    @errors.servicer_guard
    def HeadObject(self, request: backend_pb2.BackendObjectRequest, context: Any) -> backend_pb2.BackendObjAttrs:
        _, p, _ = self._props(request.bucket, request.name, request.version)
        return _attrs_of(request.name, p)

    @into_file
    @errors.servicer_guard
    def GetObject(self, request: backend_pb2.BackendGetRequest, context: Any) -> Iterator[Any]:
        cond = request.condition
        bc, p, where = self._props(request.bucket, request.name, request.version)
        attrs = _attrs_of(request.name, p)
        if (cond.if_match_etag and cond.if_match_etag not in (attrs.etag, str(p.etag).strip('"'))) or \
                (cond.if_match_version and cond.if_match_version != attrs.version):
            raise errors.PreconditionFailed(f"{where}/{request.name} changed on azure", obj=request.name)
        offset, length = resolve_range(request.range if request.HasField("range") else None, attrs.size)
        return self._stream(context, bc, p.etag, request.version, attrs, offset, length, where, request.name)

    @staticmethod
    def _stream(context: Any, bc: Any, etag: str, version: str, attrs: backend_pb2.BackendObjAttrs, offset: int,
                length: int, where: str, name: str) -> Iterator[backend_pb2.BackendGetResponse]:
        try:
            yield backend_pb2.BackendGetResponse(attrs=attrs, range_offset=offset, range_length=length)
            if length == 0:
                return
            sent = 0
            with mapped(where, name):
                dl = bc.download_blob(offset=offset, length=length, etag=etag,
                                      match_condition=MatchConditions.IfNotModified, version_id=version or None)
                for chunk in dl.chunks():
                    for i in range(0, len(chunk), CHUNK_SIZE):
                        piece = chunk[i:i + CHUNK_SIZE]
                        sent += len(piece)
                        yield backend_pb2.BackendGetResponse(data=piece)
            if sent != length:
                raise errors.RemoteUnavailable(f"azure: {where}/{name} ended at {sent} of {length} bytes")
        except errors.AisError as e:
            errors.to_grpc_abort(context, e)

    def _upload(self, rb: backend_pb2.RemoteBucket, name: str, chunks: Iterator[bytes], size: int,
                content_type: str, custom: Any) -> Any:
        bc, where = self._blob(rb, name)
        meta = meta_out(custom)
        with mapped(where, name):
            if 0 <= size <= BLOCK_SIZE:
                # Small: read whole (a cut stream raises before anything is sent), one Put Blob.
                data = b"".join(chunks)
                if len(data) != size:
                    raise errors.InvalidArgument(f"received {len(data)} bytes, announced {size}",
                                                 reason="incomplete-body")
                md5 = bytearray(hashlib.md5(data).digest())
                bc.upload_blob(data, length=len(data), overwrite=True, metadata=meta,
                               content_settings=ContentSettings(content_type=content_type or None, content_md5=md5))
            else:
                reader = _Md5Reader(chunks)
                bc.upload_blob(reader, overwrite=True, metadata=meta,
                               content_settings=ContentSettings(content_type=content_type or None))
                if size >= 0 and reader.read_bytes != size:
                    raise errors.InvalidArgument(f"received {reader.read_bytes} bytes, announced {size}",
                                                 reason="incomplete-body")
                # Block blobs get no Content-MD5 from Azure: record the one computed on the way.
                bc.set_http_headers(ContentSettings(content_type=content_type or None,
                                                    content_md5=bytearray(reader.md5.digest())))
            return bc.get_blob_properties()

    @errors.servicer_guard
    def PutObject(self, request_iterator: Iterator[backend_pb2.BackendPutRequest], context: Any) -> Any:
        first = next(request_iterator, None)
        if first is None or not first.HasField("header"):
            raise errors.InvalidArgument("PutObject: the first message must be the header")
        h = first.header
        p = self._upload(h.bucket, h.name, chunks_of(request_iterator), h.size, h.content_type, h.custom)
        return _attrs_of(h.name, p)

    @errors.servicer_guard
    def DeleteObject(self, request: backend_pb2.BackendObjectRequest, context: Any) -> types_pb2.Empty:
        bc, where = self._blob(request.bucket, request.name)
        with mapped(where, request.name):
            bc.delete_blob(version_id=request.version or None)
        return types_pb2.Empty()

    @errors.servicer_guard
    def CopyObject(self, request: backend_pb2.BackendCopyRequest, context: Any) -> backend_pb2.BackendObjAttrs:
        src, _ = self._blob(request.src_bucket, request.src_name)
        dst, where = self._blob(request.dst_bucket, request.dst_name)
        deadline = time.monotonic() + COPY_WAIT_S
        with mapped(where, request.dst_name):
            dst.start_copy_from_url(src.url)
            while True:  # a server-side copy may finish later: wait for it, within a deadline
                p = dst.get_blob_properties()
                status = p.copy.status if p.copy else "success"
                if status != "pending":
                    break
                if time.monotonic() > deadline:
                    raise errors.RemoteUnavailable(f"azure: copy into {where}/{request.dst_name} is still pending")
                time.sleep(0.1)
        if status != "success":
            raise errors.RemoteUnavailable(f"azure: copy into {where}/{request.dst_name} ended {status}")
        return _attrs_of(request.dst_name, p)

    # --- multipart: parts are staged blocks, committed on completion ---------------------------

    @staticmethod
    def _block_id(upload_id: str, n: int) -> str:
        return base64.b64encode(f"{upload_id}-{n:05d}".encode()).decode()

    @errors.servicer_guard
    def CreateUpload(self, request: backend_pb2.BackendPutHeader, context: Any) -> backend_pb2.BackendUpload:
        self._container(request.bucket)  # credentials are checked now, not at the first part
        return backend_pb2.BackendUpload(upload_id=self._uploads.add(request))

    @errors.servicer_guard
    def PutPart(self, request_iterator: Iterator[backend_pb2.BackendPartRequest], context: Any) -> Any:
        h, data_in = part_stream(request_iterator)
        u = h.upload
        # A block is at most 4000 MiB and the SDK needs its length: read whole (callers keep parts small).
        data = b"".join(data_in)
        bc, where = self._blob(u.bucket, u.name)
        with mapped(where, u.name):
            bc.stage_block(self._block_id(u.upload_id, h.part_number), data, length=len(data))
        return backend_pb2.BackendPart(part_number=h.part_number, etag=hashlib.md5(data).hexdigest(), size=len(data))

    @errors.servicer_guard
    def CompleteUpload(self, request: backend_pb2.BackendCompleteRequest, context: Any) -> Any:
        u = request.upload
        bc, where = self._blob(u.bucket, u.name)
        header = self._uploads.pop(u.upload_id)
        blocks = [BlobBlock(block_id=self._block_id(u.upload_id, p.part_number))
                  for p in sorted(request.parts, key=lambda p: p.part_number)]
        if not blocks:
            raise errors.InvalidArgument("CompleteUpload: no parts")
        with mapped(where, u.name):
            bc.commit_block_list(blocks, content_settings=ContentSettings(
                content_type=(header.content_type if header else "") or None),
                metadata=meta_out(header.custom) if header else None)
            p = bc.get_blob_properties()
        return _attrs_of(u.name, p)

    @errors.servicer_guard
    def AbortUpload(self, request: backend_pb2.BackendUploadRequest, context: Any) -> types_pb2.Empty:
        # Uncommitted blocks cannot be deleted one by one: Azure drops them after a week, or at the
        # blob's next commit.
        self._uploads.pop(request.upload_id)
        return types_pb2.Empty()
