"""The oci adapter: backend.proto over the oci SDK (Oracle Cloud Infrastructure Object Storage).

Credentials come from the usual OCI environment: ``OCI_TENANCY_OCID``, ``OCI_USER_OCID``,
``OCI_FINGERPRINT``, ``OCI_PRIVATE_KEY`` (PEM text) or ``OCI_PRIVATE_KEY_PATH``, ``OCI_REGION``
(AIStore's names), else the config file (``OCI_CONFIG_FILE``, default ``~/.oci/config``, profile
``OCI_PROFILE``). ``OCI_COMPARTMENT_OCID`` is where buckets are listed and created (default: the
tenancy); ``OCI_OBJECT_STORAGE_ENDPOINT`` overrides the regional endpoint (a test fake); a bucket's
``extra.oci.region`` overrides the region. One client per region, reused.

The ETag reported is the object's md5 in hex when OCI has one (single-part objects); otherwise
OCI's ETag. Reads pin OCI's ETag (If-Match) resolved first. Writes of unknown or large size go
up as a multipart upload of 8 MiB parts, committed only on the stream's eof (else aborted).
Server-side copy is OCI's asynchronous work request: not used (NOT_IMPLEMENTED; the cluster
copies through itself).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import oci

from aismesh.cmn import errors
from aismesh.protos import backend_pb2, backend_pb2_grpc, types_pb2
from services.backends.common import (
    CHUNK_SIZE,
    CONNECT_TIMEOUT_S,
    READ_TIMEOUT_S,
    ChunkReader,
    bucket_display,
    chunks_of,
    into_file,
    not_implemented,
    part_stream,
    resolve_range,
)
from services.backends.oci.errors import mapped

PART_SIZE = 8 << 20
LIST_FIELDS = "name,size,etag,md5,timeModified"


def _md5_hex(b64: str | None) -> str:
    if not b64 or "-" in b64:  # multipart md5s ("<b64>-<n>") are not the object's md5
        return ""
    try:
        return base64.b64decode(b64).hex()
    except ValueError:
        return ""


def _attrs_of(name: str, h: Any, size: int | None = None) -> backend_pb2.BackendObjAttrs:
    """HEAD/GET response headers as contract attributes."""
    md5 = _md5_hex(h.get("content-md5"))
    lm = h.get("last-modified")
    mtime = email.utils.parsedate_to_datetime(lm) if lm else None
    if size is None:
        size = int(h.get("content-length", -1))
    out = backend_pb2.BackendObjAttrs(
        name=name, size=size, etag=md5 or str(h.get("etag", "")), version=str(h.get("version-id", "") or ""),
        mtime_ns=int(mtime.timestamp() * 1e9) if mtime else 0, content_type=str(h.get("content-type", "")),
        custom={k[9:]: v for k, v in h.items() if k.lower().startswith("opc-meta-")},
    )
    if md5:
        out.checksums.append(types_pb2.Checksum(type="md5", value=md5))
    return out


def _meta_kw(meta: dict[str, str]) -> dict[str, Any]:
    return {"opc_meta": meta} if meta else {}


def _config() -> dict[str, Any]:
    env = os.environ
    if env.get("OCI_TENANCY_OCID") or env.get("OCI_USER_OCID"):
        cfg: dict[str, Any] = {"tenancy": env.get("OCI_TENANCY_OCID", ""), "user": env.get("OCI_USER_OCID", ""),
                               "fingerprint": env.get("OCI_FINGERPRINT", ""), "region": env.get("OCI_REGION", "")}
        if env.get("OCI_PRIVATE_KEY"):
            cfg["key_content"] = env["OCI_PRIVATE_KEY"]
        else:
            cfg["key_file"] = env.get("OCI_PRIVATE_KEY_PATH", "")
        return cfg
    return dict(oci.config.from_file(env.get("OCI_CONFIG_FILE", oci.config.DEFAULT_LOCATION),
                                     env.get("OCI_PROFILE", oci.config.DEFAULT_PROFILE)))


class _Client:
    def __init__(self, region: str) -> None:
        cfg = _config()
        if region:
            cfg["region"] = region
        oci.config.validate_config(cfg)
        endpoint = os.environ.get("OCI_OBJECT_STORAGE_ENDPOINT") or None
        self.c = oci.object_storage.ObjectStorageClient(
            cfg, service_endpoint=endpoint, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
            retry_strategy=oci.retry.NoneRetryStrategy(),
            circuit_breaker_strategy=oci.circuit_breaker.NoCircuitBreakerStrategy())
        self.compartment = os.environ.get("OCI_COMPARTMENT_OCID") or cfg["tenancy"]
        self.ns = os.environ.get("OCI_NAMESPACE", "")

    def namespace(self) -> str:
        if not self.ns:
            self.ns = str(self.c.get_namespace().data)
        return self.ns


class OciBackend(backend_pb2_grpc.BackendServicer):
    def __init__(self) -> None:
        self._clients: dict[str, _Client] = {}
        self._lock = threading.Lock()

    def client(self, extra: Any, where: str) -> _Client:
        region = extra.get("oci.region", "")
        c = self._clients.get(region)
        if c is None:
            with self._lock, mapped(where):
                c = self._clients.get(region)
                if c is None:
                    c = self._clients[region] = _Client(region)
        return c

    def _ctx(self, rb: backend_pb2.RemoteBucket, name: str = "") -> tuple[Any, str, str, str]:
        """(sdk client, namespace, bucket, where) for a request."""
        where = bucket_display(rb.bck)
        c = self.client(rb.extra, where)
        with mapped(where, name):
            ns = c.namespace()
        return c.c, ns, rb.bck.name, where

    # --- buckets ---------------------------------------------------------------------------

    @errors.servicer_guard
    def ListBuckets(self, request: backend_pb2.BackendListBucketsRequest, context: Any) -> Any:
        c = self.client(request.extra, "oci")
        with mapped("oci (list buckets)"):
            resp = c.c.list_buckets(c.namespace(), c.compartment)
        return backend_pb2.BackendListBucketsResponse(buckets=[types_pb2.Bck(provider="oci", name=b.name)
                                                               for b in resp.data])

    @errors.servicer_guard
    def HeadBucket(self, request: backend_pb2.BackendBucketRequest, context: Any) -> backend_pb2.BackendBucketProps:
        c, ns, b, where = self._ctx(request.bucket)
        with mapped(where):
            bucket = c.get_bucket(ns, b).data
        versioning = str(getattr(bucket, "versioning", "") or "") == "Enabled"
        return backend_pb2.BackendBucketProps(bck=request.bucket.bck,
                                              props={"versioning.enabled": "true" if versioning else "false"})

    @errors.servicer_guard
    def CreateBucket(self, request: backend_pb2.BackendBucketRequest, context: Any) -> backend_pb2.BackendBucketProps:
        cl = self.client(request.bucket.extra, bucket_display(request.bucket.bck))
        c, ns, b, where = self._ctx(request.bucket)
        with mapped(where):
            c.create_bucket(ns, oci.object_storage.models.CreateBucketDetails(name=b, compartment_id=cl.compartment))
        return self.HeadBucket(request, context)

    # --- listing ---------------------------------------------------------------------------

    @errors.servicer_guard
    def ListObjects(self, request: backend_pb2.BackendListObjectsRequest, context: Any) -> Any:
        c, ns, b, where = self._ctx(request.bucket)
        kw: dict[str, Any] = {"limit": request.page_size or 1000, "fields": LIST_FIELDS}
        if request.prefix:
            kw["prefix"] = request.prefix
        if request.delimiter:
            kw["delimiter"] = request.delimiter
        skip = ""
        if request.continuation_token:
            kw["start"] = request.continuation_token
        elif request.start_after:
            kw["start"], skip = request.start_after, request.start_after  # inclusive in OCI
        with mapped(where):
            page = c.list_objects(ns, b, **kw).data
        entries = []
        for o in page.objects or []:
            if skip and o.name == skip:
                continue
            md5 = _md5_hex(o.md5)
            mtime = o.time_modified
            entries.append(backend_pb2.BackendObjAttrs(
                name=o.name, size=int(o.size or 0), etag=md5 or str(o.etag or ""),
                mtime_ns=int(mtime.timestamp() * 1e9) if mtime else 0))
        entries += [backend_pb2.BackendObjAttrs(name=p, is_dir=True) for p in page.prefixes or []]
        entries.sort(key=lambda e: e.name)
        return backend_pb2.BackendListObjectsResponse(entries=entries, next_token=page.next_start_with or "")

    # --- objects ---------------------------------------------------------------------------

    def _head(self, rb: backend_pb2.RemoteBucket, name: str, version: str = "") -> tuple[Any, Any]:
        c, ns, b, where = self._ctx(rb, name)
        kw = {"version_id": version} if version else {}
        with mapped(where, name):
            resp = c.head_object(ns, b, name, **kw)
        return resp.headers, (c, ns, b, where)

    @errors.servicer_guard
    def HeadObject(self, request: backend_pb2.BackendObjectRequest, context: Any) -> backend_pb2.BackendObjAttrs:
        h, _ = self._head(request.bucket, request.name, request.version)
        return _attrs_of(request.name, h)

    @into_file
    @errors.servicer_guard
    def GetObject(self, request: backend_pb2.BackendGetRequest, context: Any) -> Iterator[Any]:
        cond = request.condition
        h, (c, ns, b, where) = self._head(request.bucket, request.name, request.version)
        attrs = _attrs_of(request.name, h)
        oci_etag = str(h.get("etag", ""))
        if (cond.if_match_etag and cond.if_match_etag not in (attrs.etag, oci_etag)) or \
                (cond.if_match_version and cond.if_match_version != attrs.version):
            raise errors.PreconditionFailed(f"{where}/{request.name} changed on oci", obj=request.name)
        offset, length = resolve_range(request.range if request.HasField("range") else None, attrs.size)
        body = None
        if length > 0:
            kw: dict[str, Any] = {"if_match": oci_etag, "range": f"bytes={offset}-{offset + length - 1}"}
            if request.version:
                kw["version_id"] = request.version
            with mapped(where, request.name):
                body = c.get_object(ns, b, request.name, **kw).data
        return self._stream(context, body, attrs, offset, length, where, request.name)

    @staticmethod
    def _stream(context: Any, body: Any, attrs: backend_pb2.BackendObjAttrs, offset: int, length: int, where: str,
                name: str) -> Iterator[backend_pb2.BackendGetResponse]:
        try:
            yield backend_pb2.BackendGetResponse(attrs=attrs, range_offset=offset, range_length=length)
            if body is None:
                return
            sent = 0
            with mapped(where, name):
                for piece in body.raw.stream(CHUNK_SIZE, decode_content=False):
                    sent += len(piece)
                    yield backend_pb2.BackendGetResponse(data=piece)
            if sent != length:
                raise errors.RemoteUnavailable(f"oci: {where}/{name} ended at {sent} of {length} bytes")
        except errors.AisError as e:
            errors.to_grpc_abort(context, e)
        finally:
            if body is not None:
                body.close()

    @errors.servicer_guard
    def PutObject(self, request_iterator: Iterator[backend_pb2.BackendPutRequest], context: Any) -> Any:
        first = next(request_iterator, None)
        if first is None or not first.HasField("header"):
            raise errors.InvalidArgument("PutObject: the first message must be the header")
        h = first.header
        c, ns, b, where = self._ctx(h.bucket, h.name)
        chunks = chunks_of(request_iterator)
        meta = dict(h.custom)
        ctype = h.content_type or "application/octet-stream"
        if 0 <= h.size <= PART_SIZE:
            data = b"".join(chunks)  # a cut stream raises here, before anything is sent
            if len(data) != h.size:
                raise errors.InvalidArgument(f"received {len(data)} bytes, announced {h.size}",
                                             reason="incomplete-body")
            with mapped(where, h.name):
                c.put_object(ns, b, h.name, data, content_length=len(data), content_type=ctype, **_meta_kw(meta),
                             content_md5=base64.b64encode(hashlib.md5(data).digest()).decode())
        else:
            self._multipart_put(c, ns, b, where, h, ChunkReader(chunks), ctype, meta)
        return self.HeadObject(backend_pb2.BackendObjectRequest(bucket=h.bucket, name=h.name), context)

    @staticmethod
    def _multipart_put(c: Any, ns: str, b: str, where: str, h: backend_pb2.BackendPutHeader, reader: ChunkReader,
                       ctype: str, meta: dict[str, str]) -> None:
        m = oci.object_storage.models
        with mapped(where, h.name):
            up = c.create_multipart_upload(ns, b, m.CreateMultipartUploadDetails(
                object=h.name, content_type=ctype, metadata=meta or None)).data.upload_id
        try:
            parts: list[Any] = []
            while True:
                data = reader.read(PART_SIZE)
                if not data and parts:
                    break
                n = len(parts) + 1
                with mapped(where, h.name):
                    etag = c.upload_part(ns, b, h.name, up, n, data, content_length=len(data)).headers["etag"]
                parts.append(m.CommitMultipartUploadPartDetails(part_num=n, etag=etag))
                if not data:
                    break
            if h.size >= 0 and reader.read_bytes != h.size:
                raise errors.InvalidArgument(f"received {reader.read_bytes} bytes, announced {h.size}",
                                             reason="incomplete-body")
            with mapped(where, h.name):
                c.commit_multipart_upload(ns, b, h.name, up, m.CommitMultipartUploadDetails(parts_to_commit=parts))
        except BaseException:
            with mapped(where, h.name):
                c.abort_multipart_upload(ns, b, h.name, up)
            raise

    @errors.servicer_guard
    def DeleteObject(self, request: backend_pb2.BackendObjectRequest, context: Any) -> types_pb2.Empty:
        c, ns, b, where = self._ctx(request.bucket, request.name)
        kw = {"version_id": request.version} if request.version else {}
        with mapped(where, request.name):
            c.delete_object(ns, b, request.name, **kw)
        return types_pb2.Empty()

    @errors.servicer_guard
    def CopyObject(self, request: backend_pb2.BackendCopyRequest, context: Any) -> backend_pb2.BackendObjAttrs:
        raise not_implemented("oci", "server-side copy (an asynchronous work request in OCI)")

    # --- multipart -------------------------------------------------------------------------

    @errors.servicer_guard
    def CreateUpload(self, request: backend_pb2.BackendPutHeader, context: Any) -> backend_pb2.BackendUpload:
        c, ns, b, where = self._ctx(request.bucket, request.name)
        with mapped(where, request.name):
            up = c.create_multipart_upload(ns, b, oci.object_storage.models.CreateMultipartUploadDetails(
                object=request.name, content_type=request.content_type or None,
                metadata=dict(request.custom) or None)).data
        return backend_pb2.BackendUpload(upload_id=up.upload_id)

    @errors.servicer_guard
    def PutPart(self, request_iterator: Iterator[backend_pb2.BackendPartRequest], context: Any) -> Any:
        h, data_in = part_stream(request_iterator)
        u = h.upload
        data = b"".join(data_in)  # the SDK needs the part's length
        c, ns, b, where = self._ctx(u.bucket, u.name)
        with mapped(where, u.name):
            resp = c.upload_part(ns, b, u.name, u.upload_id, h.part_number, data, content_length=len(data))
        return backend_pb2.BackendPart(part_number=h.part_number, etag=str(resp.headers["etag"]), size=len(data))

    @errors.servicer_guard
    def CompleteUpload(self, request: backend_pb2.BackendCompleteRequest, context: Any) -> Any:
        u = request.upload
        c, ns, b, where = self._ctx(u.bucket, u.name)
        m = oci.object_storage.models
        parts = [m.CommitMultipartUploadPartDetails(part_num=p.part_number, etag=p.etag)
                 for p in sorted(request.parts, key=lambda p: p.part_number)]
        with mapped(where, u.name):
            c.commit_multipart_upload(ns, b, u.name, u.upload_id, m.CommitMultipartUploadDetails(parts_to_commit=parts))
        return self.HeadObject(backend_pb2.BackendObjectRequest(bucket=u.bucket, name=u.name), context)

    @errors.servicer_guard
    def AbortUpload(self, request: backend_pb2.BackendUploadRequest, context: Any) -> types_pb2.Empty:
        c, ns, b, where = self._ctx(request.bucket, request.name)
        with mapped(where, request.name):
            c.abort_multipart_upload(ns, b, request.name, request.upload_id)
        return types_pb2.Empty()
