"""The aws adapter: backend.proto over boto3 (AWS S3 and any S3-compatible service).

Endpoint, region, profile and credentials come from the usual AWS environment and files;
a bucket's ``extra`` (aws.endpoint, aws.profile, aws.cloud_region) overrides them, so one
cluster fronts several S3-compatible services at once. One client per such triple, reused.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from aismesh.cmn import errors
from aismesh.protos import backend_pb2, backend_pb2_grpc, types_pb2
from services.backends.aws.errors import mapped
from services.backends.common import (
    CHUNK_SIZE,
    CONNECT_TIMEOUT_S,
    READ_TIMEOUT_S,
    ChunkReader,
    bucket_display,
    chunks_of,
    http_range,
    into_file,
    part_stream,
)

# Writes above this size go up as a multipart upload (parts of this size).
MULTIPART_THRESHOLD = 16 << 20
_TRANSFER = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD,
                           max_concurrency=4, use_threads=True)


def _attrs_of(name: str, head: dict[str, Any]) -> backend_pb2.BackendObjAttrs:
    """A HeadObject/GetObject answer as contract attributes."""
    etag = str(head.get("ETag", "")).strip('"')
    mtime = head.get("LastModified")
    out = backend_pb2.BackendObjAttrs(
        name=name, size=int(head.get("ContentLength", -1)), etag=etag,
        version=str(head.get("VersionId") or "") if head.get("VersionId") not in (None, "null") else "",
        mtime_ns=int(mtime.timestamp() * 1e9) if mtime else 0, content_type=str(head.get("ContentType", "")),
        custom={str(k): str(v) for k, v in (head.get("Metadata") or {}).items()},
    )
    if etag and "-" not in etag and len(etag) == 32:
        out.checksums.append(types_pb2.Checksum(type="md5", value=etag))
    for key, typ in (("ChecksumCRC32C", "crc32c"), ("ChecksumSHA256", "sha256"), ("ChecksumCRC32", "crc32")):
        if head.get(key):
            out.checksums.append(types_pb2.Checksum(type=typ, value=str(head[key])))
    return out


class AwsBackend(backend_pb2_grpc.BackendServicer):
    def __init__(self) -> None:
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    # --- clients ---------------------------------------------------------------------------

    def client(self, extra: Any) -> Any:
        key = (extra.get("aws.endpoint", ""), extra.get("aws.profile", ""), extra.get("aws.cloud_region", ""))
        c = self._clients.get(key)
        if c is not None:
            return c
        with self._lock:
            c = self._clients.get(key)
            if c is None:
                endpoint, profile, region = key
                session = boto3.session.Session(profile_name=profile or None)
                cfg = Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
                             retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=64,
                             s3={"addressing_style": "path"} if endpoint else None)
                c = session.client("s3", endpoint_url=endpoint or None,
                                   region_name=region or session.region_name or "us-east-1", config=cfg)
                self._clients[key] = c
            return c

    # --- buckets ---------------------------------------------------------------------------

    @errors.servicer_guard
    def ListBuckets(self, request: backend_pb2.BackendListBucketsRequest, context: Any) -> Any:
        with mapped("aws (list buckets)"):
            resp = self.client(request.extra).list_buckets()
        return backend_pb2.BackendListBucketsResponse(
            buckets=[types_pb2.Bck(provider="aws", name=b["Name"]) for b in resp.get("Buckets", [])])

    @errors.servicer_guard
    def HeadBucket(self, request: backend_pb2.BackendBucketRequest, context: Any) -> backend_pb2.BackendBucketProps:
        b = request.bucket
        where = bucket_display(b.bck)
        c = self.client(b.extra)
        with mapped(where):
            head = c.head_bucket(Bucket=b.bck.name)
            region = head.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region", "")
            versioning = c.get_bucket_versioning(Bucket=b.bck.name).get("Status", "") == "Enabled"
        props = {"versioning.enabled": "true" if versioning else "false"}
        if region:
            props["extra.aws.cloud_region"] = region
        return backend_pb2.BackendBucketProps(bck=b.bck, props=props)

    @errors.servicer_guard
    def CreateBucket(self, request: backend_pb2.BackendBucketRequest, context: Any) -> backend_pb2.BackendBucketProps:
        b = request.bucket
        with mapped(bucket_display(b.bck)):
            self.client(b.extra).create_bucket(Bucket=b.bck.name)
        return self.HeadBucket(request, context)

    # --- listing ---------------------------------------------------------------------------

    @errors.servicer_guard
    def ListObjects(self, request: backend_pb2.BackendListObjectsRequest, context: Any) -> Any:
        b = request.bucket
        kw: dict[str, Any] = {"Bucket": b.bck.name, "MaxKeys": request.page_size or 1000}
        if request.prefix:
            kw["Prefix"] = request.prefix
        if request.delimiter:
            kw["Delimiter"] = request.delimiter
        if request.continuation_token:
            kw["ContinuationToken"] = request.continuation_token
        elif request.start_after:
            kw["StartAfter"] = request.start_after
        with mapped(bucket_display(b.bck)):
            resp = self.client(b.extra).list_objects_v2(**kw)
        entries = [
            backend_pb2.BackendObjAttrs(
                name=o["Key"], size=int(o.get("Size", 0)), etag=str(o.get("ETag", "")).strip('"'),
                mtime_ns=int(o["LastModified"].timestamp() * 1e9) if o.get("LastModified") else 0)
            for o in resp.get("Contents", [])
        ]
        entries += [backend_pb2.BackendObjAttrs(name=p["Prefix"], is_dir=True)
                    for p in resp.get("CommonPrefixes", [])]
        entries.sort(key=lambda e: e.name)
        token = resp.get("NextContinuationToken", "") if resp.get("IsTruncated") else ""
        return backend_pb2.BackendListObjectsResponse(entries=entries, next_token=token)

    # --- objects ---------------------------------------------------------------------------

    @errors.servicer_guard
    def HeadObject(self, request: backend_pb2.BackendObjectRequest, context: Any) -> backend_pb2.BackendObjAttrs:
        b = request.bucket
        kw: dict[str, Any] = {"Bucket": b.bck.name, "Key": request.name}
        if request.version:
            kw["VersionId"] = request.version
        with mapped(bucket_display(b.bck), request.name):
            head = self.client(b.extra).head_object(**kw)
        return _attrs_of(request.name, head)

    @into_file
    @errors.servicer_guard
    def GetObject(self, request: backend_pb2.BackendGetRequest, context: Any) -> Iterator[Any]:
        b = request.bucket
        where = bucket_display(b.bck)
        kw: dict[str, Any] = {"Bucket": b.bck.name, "Key": request.name}
        if request.HasField("range"):
            kw["Range"] = http_range(request.range)
        if request.condition.if_match_etag:
            kw["IfMatch"] = f'"{request.condition.if_match_etag}"'
        if request.version or request.condition.if_match_version:
            kw["VersionId"] = request.version or request.condition.if_match_version
        with mapped(where, request.name):
            resp = self.client(b.extra).get_object(**kw)
        attrs = _attrs_of(request.name, resp)
        length = int(resp.get("ContentLength", 0))
        offset, total = 0, length
        crange = str(resp.get("ContentRange", ""))  # "bytes 5-9/100"
        if crange.startswith("bytes ") and "/" in crange:
            span, _, whole = crange[6:].partition("/")
            offset = int(span.split("-")[0])
            total = int(whole) if whole.isdigit() else -1
        attrs.size = total
        return self._stream(context, resp["Body"], attrs, offset, length, where, request.name)

    @staticmethod
    def _stream(context: Any, body: Any, attrs: backend_pb2.BackendObjAttrs, offset: int, length: int, where: str,
                name: str) -> Iterator[backend_pb2.BackendGetResponse]:
        try:
            yield backend_pb2.BackendGetResponse(attrs=attrs, range_offset=offset, range_length=length)
            sent = 0
            while sent < length:
                with mapped(where, name):
                    data = body.read(min(CHUNK_SIZE, length - sent))
                if not data:
                    raise errors.RemoteUnavailable(f"aws: {where}/{name} ended at {sent} of {length} bytes")
                sent += len(data)
                yield backend_pb2.BackendGetResponse(data=data)
        except errors.AisError as e:
            errors.to_grpc_abort(context, e)
        finally:
            body.close()

    @errors.servicer_guard
    def PutObject(self, request_iterator: Iterator[backend_pb2.BackendPutRequest], context: Any) -> Any:
        first = next(request_iterator, None)
        if first is None or not first.HasField("header"):
            raise errors.InvalidArgument("PutObject: the first message must be the header")
        h = first.header
        b = h.bucket
        where = bucket_display(b.bck)
        c = self.client(b.extra)
        extra: dict[str, Any] = {}
        if h.content_type:
            extra["ContentType"] = h.content_type
        if h.custom:
            extra["Metadata"] = dict(h.custom)
        reader = ChunkReader(chunks_of(request_iterator))
        with mapped(where, h.name):
            # Multipart above MULTIPART_THRESHOLD; s3transfer holds at most a few parts in memory.
            c.upload_fileobj(reader, b.bck.name, h.name, ExtraArgs=extra, Config=_TRANSFER)
            head = c.head_object(Bucket=b.bck.name, Key=h.name)
        if h.size >= 0 and reader.read_bytes != h.size:
            raise errors.InvalidArgument(f"received {reader.read_bytes} bytes, announced {h.size}",
                                         reason="incomplete-body")
        return _attrs_of(h.name, head)

    @errors.servicer_guard
    def DeleteObject(self, request: backend_pb2.BackendObjectRequest, context: Any) -> types_pb2.Empty:
        b = request.bucket
        kw: dict[str, Any] = {"Bucket": b.bck.name, "Key": request.name}
        if request.version:
            kw["VersionId"] = request.version
        with mapped(bucket_display(b.bck), request.name):
            self.client(b.extra).delete_object(**kw)
        return types_pb2.Empty()

    @errors.servicer_guard
    def CopyObject(self, request: backend_pb2.BackendCopyRequest, context: Any) -> backend_pb2.BackendObjAttrs:
        src, dst = request.src_bucket, request.dst_bucket
        c = self.client(dst.extra)
        with mapped(bucket_display(dst.bck), request.dst_name):
            c.copy_object(Bucket=dst.bck.name, Key=request.dst_name,
                          CopySource={"Bucket": src.bck.name, "Key": request.src_name})
            head = c.head_object(Bucket=dst.bck.name, Key=request.dst_name)
        return _attrs_of(request.dst_name, head)

    # --- multipart -------------------------------------------------------------------------

    @errors.servicer_guard
    def CreateUpload(self, request: backend_pb2.BackendPutHeader, context: Any) -> backend_pb2.BackendUpload:
        b = request.bucket
        kw: dict[str, Any] = {"Bucket": b.bck.name, "Key": request.name}
        if request.content_type:
            kw["ContentType"] = request.content_type
        if request.custom:
            kw["Metadata"] = dict(request.custom)
        with mapped(bucket_display(b.bck), request.name):
            resp = self.client(b.extra).create_multipart_upload(**kw)
        return backend_pb2.BackendUpload(upload_id=resp["UploadId"])

    @errors.servicer_guard
    def PutPart(self, request_iterator: Iterator[backend_pb2.BackendPartRequest], context: Any) -> Any:
        h, data_in = part_stream(request_iterator)
        u = h.upload
        # A part is at most 5 GiB in S3 and the SDK needs a length: it is read whole (callers keep
        # parts at the multipart chunk size).
        data = b"".join(data_in)
        with mapped(bucket_display(u.bucket.bck), u.name):
            resp = self.client(u.bucket.extra).upload_part(Bucket=u.bucket.bck.name, Key=u.name,
                                                           UploadId=u.upload_id, PartNumber=h.part_number,
                                                           Body=data)
        return backend_pb2.BackendPart(part_number=h.part_number, etag=str(resp["ETag"]).strip('"'), size=len(data))

    @errors.servicer_guard
    def CompleteUpload(self, request: backend_pb2.BackendCompleteRequest, context: Any) -> Any:
        u = request.upload
        parts = [{"PartNumber": p.part_number, "ETag": f'"{p.etag}"'} for p in request.parts]
        c = self.client(u.bucket.extra)
        with mapped(bucket_display(u.bucket.bck), u.name):
            c.complete_multipart_upload(Bucket=u.bucket.bck.name, Key=u.name, UploadId=u.upload_id,
                                        MultipartUpload={"Parts": parts})
            head = c.head_object(Bucket=u.bucket.bck.name, Key=u.name)
        return _attrs_of(u.name, head)

    @errors.servicer_guard
    def AbortUpload(self, request: backend_pb2.BackendUploadRequest, context: Any) -> types_pb2.Empty:
        with mapped(bucket_display(request.bucket.bck), request.name):
            self.client(request.bucket.extra).abort_multipart_upload(
                Bucket=request.bucket.bck.name, Key=request.name, UploadId=request.upload_id)
        return types_pb2.Empty()
