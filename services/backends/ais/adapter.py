"""The ais adapter: buckets of remote AIS clusters (another aismesh, or a real AIStore) over
AIStore's native HTTP API.

A bucket's namespace names the remote (``ais://@remais/b``, ``ais://@<uuid>#ns/b``,
``s3://@remais/data``); the remote is asked about the same bucket without that uuid
(``ais://b``, ``ais://#ns/b``, ``s3://data``), so a cloud bucket reached through a remote needs
credentials only there. Listing a namespace of "" or "@" lists the buckets of every remote.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from typing import Any

import msgpack

from aismesh.cmn import errors
from aismesh.cmn.names import Bck
from aismesh.protos import backend_pb2, backend_pb2_grpc, types_pb2
from services.backends.ais.attachments import Attachment, Attachments
from services.backends.ais.http import RemoteHttp
from services.backends.common import body_pieces, chunks_of, http_range, into_file, not_implemented, part_stream

# AIS list-objects flags (apc.LsoMsg) and entry flags (LsoEnt.Flags).
LS_NO_RECURSION = 1 << 11
ENTRY_IS_DIR = 1 << 8
LIST_PROPS = "name,size,version,custom"
HEAD_PROPS = "checksum,atime,version,custom,etag,last-modified"
# A PUT of unknown size is spooled to a file first: AIS wants Content-Length.
SPOOL_IN_MEMORY = 8 << 20


def remote_query(bck: Bck) -> dict[str, str]:
    """The query that names ``bck`` on the remote: the same provider, the uuid stripped."""
    q = {"provider": bck.provider}
    if bck.ns_name:
        q["namespace"] = f"@#{bck.ns_name}"
    return q


def object_path(bck: Bck, name: str) -> str:
    return f"/v1/objects/{bck.name}/{urllib.parse.quote(name)}"


def _mtime(value: str) -> int:
    if not value:
        return 0
    try:
        return int(parsedate_to_datetime(value).timestamp() * 1e9)
    except (TypeError, ValueError):
        return 0


def _custom(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in (t.strip() for t in text.split(",")):
        k, sep, v = item.partition("=")
        if sep and k:
            out[k] = v
    return out


def attrs_from_headers(name: str, h: Any, size: int) -> backend_pb2.BackendObjAttrs:
    """An object's attributes from AIS's object headers (HEAD, GET and PUT answers)."""
    out = backend_pb2.BackendObjAttrs(
        name=name, size=size, etag=h.get("ETag", "").strip('"'), version=h.get("Ais-Version", ""),
        mtime_ns=_mtime(h.get("Last-Modified", "")), custom=_custom(h.get("Ais-Custom-Md", "")))
    ctype, value = h.get("Ais-Checksum-Type", ""), h.get("Ais-Checksum-Value", "")
    if ctype and value and ctype != "none":
        out.checksums.append(types_pb2.Checksum(type=ctype, value=value))
    return out


class AisBackend(backend_pb2_grpc.BackendServicer):
    def __init__(self, attachments: Attachments, http: RemoteHttp | None = None) -> None:
        self.attachments = attachments
        self.http = http or RemoteHttp()

    def _remote(self, rb: backend_pb2.RemoteBucket) -> tuple[Attachment, Bck, str]:
        """(the attachment, the bucket, how errors name it) for a contract bucket."""
        bck = Bck.from_proto(rb.bck)
        if not bck.ns_uuid:
            raise errors.InvalidArgument(f"{bck.display()} names no remote cluster: expected "
                                         f"{bck.display().replace('://', '://@ALIAS/', 1)}")
        return self.attachments.resolve(bck.ns_uuid), bck, bck.display()

    # --- buckets ---------------------------------------------------------------------------

    @errors.servicer_guard
    def ListBuckets(self, request: backend_pb2.BackendListBucketsRequest, context: Any) -> Any:
        key = request.ns.uuid
        every = key in ("", "@")
        remotes = self.attachments.all(fresh=True) if every else [self.attachments.resolve(key)]
        provider = request.provider or "ais"
        out = backend_pb2.BackendListBucketsResponse()
        if not remotes:
            return out
        # In parallel: one remote that does not answer costs its connect timeout once, not per remote.
        with ThreadPoolExecutor(max_workers=min(8, len(remotes))) as pool:
            answers = list(pool.map(lambda a: self._buckets_of(a, provider, quiet=every), remotes))
        for bcks in answers:
            out.buckets.extend(bcks)
        return out

    def _buckets_of(self, a: Attachment, provider: str, quiet: bool) -> list[types_pb2.Bck]:
        """One remote's buckets, named in its namespace here; [] when ``quiet`` and it does not answer."""
        try:
            resp = self.http.request(a, "GET", "/v1/buckets", {"provider": provider}, where=f"ais://@{a.alias}",
                                     json_body={"action": "list", "name": "", "value": None})
        except errors.RemoteUnavailable:
            if quiet:
                return []  # "every remote" lists those that answer now
            raise
        try:
            listed = json.loads(resp.data or b"[]") or []
        except ValueError:
            raise errors.RemoteUnavailable(f"{a.label} answered the bucket list with something else") from None
        out = []
        for b in listed:
            ns = b.get("namespace") or {}
            if ns.get("uuid"):
                continue  # the remote's own remotes: not addressable from here
            out.append(types_pb2.Bck(provider=b.get("provider", "ais"), name=b.get("name", ""),
                                     ns=types_pb2.Namespace(uuid=a.alias, name=ns.get("name", ""))))
        return out

    @errors.servicer_guard
    def HeadBucket(self, request: backend_pb2.BackendBucketRequest, context: Any) -> backend_pb2.BackendBucketProps:
        a, bck, where = self._remote(request.bucket)
        resp = self.http.request(a, "HEAD", f"/v1/buckets/{bck.name}", remote_query(bck), where=where)
        props: dict[str, str] = {}
        try:
            remote_props = json.loads(resp.headers.get("Ais-Bucket-Props", "") or "{}")
        except ValueError:
            remote_props = {}
        versioning = (remote_props.get("versioning") or {}).get("enabled") if isinstance(remote_props, dict) else None
        if isinstance(versioning, bool):
            props["versioning.enabled"] = "true" if versioning else "false"
        return backend_pb2.BackendBucketProps(bck=request.bucket.bck, props=props)

    @errors.servicer_guard
    def CreateBucket(self, request: backend_pb2.BackendBucketRequest, context: Any) -> backend_pb2.BackendBucketProps:
        a, bck, where = self._remote(request.bucket)
        self.http.request(a, "POST", f"/v1/buckets/{bck.name}", remote_query(bck), where=where,
                          json_body={"action": "create-bck", "name": "", "value": None})
        return backend_pb2.BackendBucketProps(bck=request.bucket.bck)

    @errors.servicer_guard
    def DestroyBucket(self, request: backend_pb2.BackendBucketRequest, context: Any) -> types_pb2.Empty:
        a, bck, where = self._remote(request.bucket)
        self.http.request(a, "DELETE", f"/v1/buckets/{bck.name}", remote_query(bck), where=where,
                          json_body={"action": "destroy-bck", "name": "", "value": None})
        return types_pb2.Empty()

    @errors.servicer_guard
    def ListObjects(self, request: backend_pb2.BackendListObjectsRequest, context: Any) -> Any:
        a, bck, where = self._remote(request.bucket)
        if request.delimiter not in ("", "/"):
            raise errors.InvalidArgument(f'{where}: only "/" is supported as a delimiter, got "{request.delimiter}"')
        value = {"prefix": request.prefix, "pagesize": request.page_size or 1000, "uuid": "", "props": LIST_PROPS,
                 # AIS continues an ais bucket after the last name: a start_after is the same thing
                 "continuation_token": request.continuation_token or request.start_after,
                 "flags": str(LS_NO_RECURSION if request.delimiter else 0), "target": ""}
        resp = self.http.request(a, "GET", f"/v1/buckets/{bck.name}", remote_query(bck), where=where,
                                 headers={"Accept": "application/msgpack"},
                                 json_body={"action": "list", "name": "", "value": value})
        try:
            page = msgpack.unpackb(resp.data, raw=False)
        except Exception:  # msgpack raises several unrelated types on junk
            raise errors.RemoteUnavailable(f"{where}: {a.label} answered the listing with something else") from None
        out = backend_pb2.BackendListObjectsResponse(next_token=page.get("ContinuationToken") or "")
        for e in page.get("Entries") or []:
            is_dir = bool(int(e.get("f", 0)) & ENTRY_IS_DIR)
            out.entries.append(backend_pb2.BackendObjAttrs(
                name=e["n"], size=int(e.get("s", 0)) if not is_dir else 0, version=e.get("v", ""),
                custom=_custom(e.get("m", "")), is_dir=is_dir))
        return out

    # --- objects ---------------------------------------------------------------------------

    @errors.servicer_guard
    def HeadObject(self, request: backend_pb2.BackendObjectRequest, context: Any) -> backend_pb2.BackendObjAttrs:
        a, bck, where = self._remote(request.bucket)
        resp = self.http.request(a, "HEAD", object_path(bck, request.name), {**remote_query(bck), "props": HEAD_PROPS},
                                 where=where, obj=request.name)
        cl = resp.headers.get("Content-Length", "")
        return attrs_from_headers(request.name, resp.headers, int(cl) if cl.isdigit() else -1)

    @into_file
    @errors.servicer_guard
    def GetObject(self, request: backend_pb2.BackendGetRequest, context: Any) -> Iterator[Any]:
        a, bck, where = self._remote(request.bucket)
        headers = {"Range": http_range(request.range)} if request.HasField("range") else {}
        resp = self.http.request(a, "GET", object_path(bck, request.name), remote_query(bck), where=where,
                                 obj=request.name, headers=headers, stream=True)
        cl = resp.headers.get("Content-Length", "")
        length = int(cl) if cl.isdigit() else -1
        offset, size = 0, length
        crange = resp.headers.get("Content-Range", "")  # bytes 5-9/100
        if resp.status == 206 and crange.startswith("bytes ") and "/" in crange:
            span, whole = crange[6:].split("/", 1)
            offset, size = int(span.split("-")[0]), int(whole) if whole.isdigit() else -1
        attrs = attrs_from_headers(request.name, resp.headers, size)
        want = request.condition
        if (want.if_match_etag and attrs.etag != want.if_match_etag) or (
                want.if_match_version and attrs.version != want.if_match_version):
            resp.release_conn()
            raise errors.PreconditionFailed(f"{where}/{request.name} changed at {a.label}", obj=request.name)
        return self._stream(context, resp, attrs, offset, length, where, request.name)

    @staticmethod
    def _stream(context: Any, resp: Any, attrs: backend_pb2.BackendObjAttrs, offset: int, length: int,
                where: str, name: str) -> Iterator[backend_pb2.BackendGetResponse]:
        try:
            yield backend_pb2.BackendGetResponse(attrs=attrs, range_offset=offset, range_length=length)
            # urllib3 wraps socket errors in several types
            for data in body_pieces(resp.read, length, f"{where}/{name}", (Exception,)):
                yield backend_pb2.BackendGetResponse(data=data)
        except errors.AisError as e:
            errors.to_grpc_abort(context, e)
        finally:
            resp.release_conn()

    @errors.servicer_guard
    def PutObject(self, request_iterator: Iterator[Any], context: Any) -> backend_pb2.BackendObjAttrs:
        first = next(request_iterator, None)
        if first is None or not first.HasField("header"):
            raise errors.InvalidArgument("PutObject: the first message must be the header")
        h = first.header
        a, bck, where = self._remote(h.bucket)
        path, query = object_path(bck, h.name), remote_query(bck)
        body = _Body(chunks_of(request_iterator), h.size, f"{where}/{h.name}",
                     rewindable=self.http.redirects(a, path, query))
        try:
            resp = self.http.request(a, "PUT", path, query, where=where, obj=h.name, body=body.body,
                                     headers={"Content-Length": str(body.size),
                                              "Content-Type": h.content_type or "application/octet-stream"})
        finally:
            body.close()
        if h.custom:
            self.http.request(a, "PATCH", path, query, where=where, obj=h.name,
                              json_body={"action": "", "name": "", "value": dict(h.custom)})
        out = attrs_from_headers(h.name, resp.headers, body.size)
        out.custom.update(h.custom)
        out.checksums.append(types_pb2.Checksum(type="md5", value=body.md5.hexdigest()))
        return out

    @errors.servicer_guard
    def DeleteObject(self, request: backend_pb2.BackendObjectRequest, context: Any) -> types_pb2.Empty:
        a, bck, where = self._remote(request.bucket)
        self.http.request(a, "DELETE", object_path(bck, request.name), remote_query(bck), where=where,
                          obj=request.name)
        return types_pb2.Empty()

    @errors.servicer_guard
    def CopyObject(self, request: Any, context: Any) -> Any:
        raise not_implemented("ais", "a server-side copy in a remote cluster")

    # --- multipart: AIS's mpt-upload, part PUTs, mpt-complete, abort ---------------------------

    @errors.servicer_guard
    def CreateUpload(self, request: backend_pb2.BackendPutHeader, context: Any) -> backend_pb2.BackendUpload:
        a, bck, where = self._remote(request.bucket)
        resp = self.http.request(a, "POST", object_path(bck, request.name), remote_query(bck), where=where,
                                 obj=request.name, json_body={"action": "mpt-upload", "name": "", "value": None})
        upload_id = resp.data.decode("utf-8", errors="replace").strip().strip('"')
        if not upload_id:
            raise errors.RemoteUnavailable(f"{where}/{request.name}: {a.label} started an upload without an id")
        return backend_pb2.BackendUpload(upload_id=upload_id)

    @errors.servicer_guard
    def PutPart(self, request_iterator: Iterator[Any], context: Any) -> backend_pb2.BackendPart:
        h, data = part_stream(request_iterator)
        a, bck, where = self._remote(h.upload.bucket)
        query = {**remote_query(bck), "uploadId": h.upload.upload_id, "partNumber": str(h.part_number)}
        body = _Body(data, h.size, f"{where}/{h.upload.name} part {h.part_number}",
                     rewindable=self.http.redirects(a, object_path(bck, h.upload.name), remote_query(bck)))
        try:
            resp = self.http.request(a, "PUT", object_path(bck, h.upload.name), query, where=where,
                                     obj=h.upload.name, body=body.body, headers={"Content-Length": str(body.size)})
        finally:
            body.close()
        return backend_pb2.BackendPart(part_number=h.part_number, etag=resp.headers.get("ETag", "").strip('"'),
                                       size=body.size)

    @errors.servicer_guard
    def CompleteUpload(self, request: backend_pb2.BackendCompleteRequest, context: Any) -> backend_pb2.BackendObjAttrs:
        u = request.upload
        a, bck, where = self._remote(u.bucket)
        path, query = object_path(bck, u.name), remote_query(bck)
        parts = [{"part-number": p.part_number, "etag": p.etag} for p in request.parts]
        self.http.request(a, "POST", path, {**query, "uploadId": u.upload_id}, where=where, obj=u.name,
                          json_body={"action": "mpt-complete", "name": "", "value": parts})
        head = self.http.request(a, "HEAD", path, {**query, "props": HEAD_PROPS}, where=where, obj=u.name)
        cl = head.headers.get("Content-Length", "")
        return attrs_from_headers(u.name, head.headers, int(cl) if cl.isdigit() else -1)

    @errors.servicer_guard
    def AbortUpload(self, request: backend_pb2.BackendUploadRequest, context: Any) -> types_pb2.Empty:
        a, bck, where = self._remote(request.bucket)
        self.http.request(a, "DELETE", object_path(bck, request.name),
                          {**remote_query(bck), "uploadId": request.upload_id}, where=where, obj=request.name)
        return types_pb2.Empty()


class _Body:
    """A request body for the remote with a Content-Length, md5 computed on the way (AIS reports
    its own checksum; the contract's callers also want an md5). A stream of announced size is
    sent as it arrives, each piece only once the next one (or eof) is in, so a stream cut short
    or overlong never completes a request; an unannounced or empty one is spooled first."""

    def __init__(self, chunks: Iterator[bytes], size: int, what: str, rewindable: bool = False) -> None:
        self.md5 = hashlib.md5()
        self.what = what
        self.spool: Any = None
        if size > 0 and not rewindable:
            self.size = size
            self.body: Any = self._checked(chunks, size)
            return
        # Spooled: the size is unknown or 0, or the remote redirects (the body is sent twice).
        self.spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - close()
        for piece in self._checked(chunks, size) if size > 0 else self._hashed(chunks):
            self.spool.write(piece)
        self.size = self.spool.tell()
        self.spool.seek(0)
        self.body = self.spool

    def _hashed(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for piece in chunks:
            self.md5.update(piece)
            yield piece

    def _checked(self, chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
        sent = 0
        held: bytes | None = None
        for piece in chunks:  # raises at a stream's end without eof: the held piece never leaves
            if held is not None:
                yield held
            sent += len(piece)
            if sent > size:
                raise errors.InvalidArgument(f"{self.what}: the body is longer than the announced {size} bytes")
            self.md5.update(piece)
            held = piece
        if sent != size:
            raise errors.InvalidArgument(f"{self.what}: the body has {sent} of the announced {size} bytes")
        if held is not None:
            yield held

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()


def metadata_addrs(text: str) -> list[str]:
    return [a.strip() for a in (text or os.environ.get("AISMESH_METADATA", "")).split(",") if a.strip()]
