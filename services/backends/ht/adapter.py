"""The ht adapter: an HTTP(S) data set as a read-only bucket.

The bucket records its origin URL (``extra["http.original_url"]``); object ``a/b`` is
``<origin>/a/b``. GET and HEAD use the origin's Content-Length, ETag and Last-Modified;
listing walks the origin's directory index (nginx autoindex JSON or HTML) where it serves
one and answers NOT_IMPLEMENTED where it does not. Writes answer NOT_IMPLEMENTED.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any

from aismesh.cmn import errors
from aismesh.protos import backend_pb2, backend_pb2_grpc, types_pb2
from services.backends.common import (
    CHUNK_SIZE,
    body_pieces,
    bucket_display,
    http_range,
    into_file,
    not_implemented,
    resolve_range,
)
from services.backends.ht import index, origin

ORIGIN_KEY = "http.original_url"
# A listing walks at most this many directories / entries (an index is not a database).
MAX_DIRS, MAX_ENTRIES = 10_000, 1_000_000
MAX_INDEX_BYTES = 64 << 20


def origin_of(bucket: backend_pb2.RemoteBucket) -> str:
    url = bucket.extra.get(ORIGIN_KEY, "")
    if not url:
        raise errors.InvalidArgument(
            f"ht bucket {bucket_display(bucket.bck)} has no origin URL (bucket property extra.http.original_url)")
    return url.rstrip("/") + "/"


def object_url(bucket: backend_pb2.RemoteBucket, name: str) -> str:
    return origin_of(bucket) + urllib.parse.quote(name)


def _attrs(name: str, resp: origin.Response, size: int) -> backend_pb2.BackendObjAttrs:
    mtime = 0
    if resp.header("Last-Modified"):
        try:
            mtime = int(parsedate_to_datetime(resp.header("Last-Modified")).timestamp() * 1e9)
        except (TypeError, ValueError):
            mtime = 0
    etag = resp.header("ETag").removeprefix("W/").strip('"')
    return backend_pb2.BackendObjAttrs(name=name, size=size, etag=etag, mtime_ns=mtime,
                                       content_type=resp.header("Content-Type"))


def _total_size(resp: origin.Response) -> int:
    crange = resp.header("Content-Range")  # bytes 5-9/100
    if resp.status == 206 and "/" in crange:
        whole = crange.rsplit("/", 1)[1]
        return int(whole) if whole.isdigit() else -1
    cl = resp.header("Content-Length")
    return int(cl) if cl.isdigit() else -1


class HtBackend(backend_pb2_grpc.BackendServicer):
    @errors.servicer_guard
    def ListBuckets(self, request: Any, context: Any) -> Any:
        return backend_pb2.BackendListBucketsResponse()  # origins are not enumerable

    @errors.servicer_guard
    def HeadBucket(self, request: backend_pb2.BackendBucketRequest, context: Any) -> backend_pb2.BackendBucketProps:
        b = request.bucket
        where = bucket_display(b.bck)
        resp = origin.request("HEAD", origin_of(b), where=where)
        try:
            # 403 or 405 on the folder itself still means the origin is there (many hide indexes).
            if resp.status not in (403, 405):
                origin.check_status(resp, where)
        finally:
            resp.close()
        return backend_pb2.BackendBucketProps(
            bck=b.bck, props={"extra.http.original_url": origin_of(b), "versioning.enabled": "false"})

    @errors.servicer_guard
    def HeadObject(self, request: backend_pb2.BackendObjectRequest, context: Any) -> backend_pb2.BackendObjAttrs:
        b = request.bucket
        where = bucket_display(b.bck)
        resp = origin.request("HEAD", object_url(b, request.name), where=where)
        if resp.status == 405:  # no HEAD: ask for one byte instead
            resp.close()
            resp = origin.request("GET", object_url(b, request.name), {"Range": "bytes=0-0"}, where=where)
        origin.check_status(resp, where, request.name)
        try:
            return _attrs(request.name, resp, _total_size(resp))
        finally:
            resp.close()

    @into_file
    @errors.servicer_guard
    def GetObject(self, request: backend_pb2.BackendGetRequest, context: Any) -> Iterator[Any]:
        b = request.bucket
        where = bucket_display(b.bck)
        headers = {}
        if request.HasField("range"):
            headers["Range"] = http_range(request.range)
        if request.condition.if_match_etag:
            headers["If-Match"] = f'"{request.condition.if_match_etag}"'
        resp = origin.request("GET", object_url(b, request.name), headers, where=where)
        origin.check_status(resp, where, request.name)
        attrs = _attrs(request.name, resp, _total_size(resp))
        if request.condition.if_match_etag and attrs.etag and attrs.etag != request.condition.if_match_etag:
            resp.close()  # the origin ignored If-Match
            raise errors.PreconditionFailed(f"{where}/{request.name} changed at the origin", obj=request.name)
        cl = resp.header("Content-Length")
        length = int(cl) if cl.isdigit() else -1
        offset, skip = 0, 0
        if resp.status == 206:
            offset = int(resp.header("Content-Range")[6:].split("-")[0])
        elif request.HasField("range"):
            # The origin ignored Range (200): cut the range out of the whole body ourselves.
            offset, length = resolve_range(request.range, attrs.size)
            skip = offset
        return self._stream(context, resp, attrs, offset, length, skip, where, request.name)

    @staticmethod
    def _stream(context: Any, resp: origin.Response, attrs: backend_pb2.BackendObjAttrs, offset: int, length: int,
                skip: int, where: str, name: str) -> Iterator[backend_pb2.BackendGetResponse]:
        try:
            yield backend_pb2.BackendGetResponse(attrs=attrs, range_offset=offset, range_length=length)
            while skip > 0:
                got = resp.body.read(min(CHUNK_SIZE, skip))
                if not got:
                    raise errors.RemoteUnavailable(f"ht: {where}/{name} ended early")
                skip -= len(got)
            for data in body_pieces(resp.body.read, length, f"ht: {where}/{name}"):
                yield backend_pb2.BackendGetResponse(data=data)
        except errors.AisError as e:
            errors.to_grpc_abort(context, e)
        finally:
            resp.close()

    # --- listing ---------------------------------------------------------------------------

    def _index(self, url: str, where: str) -> list[index.IndexEntry]:
        resp = origin.request("GET", url, {"Accept": "application/json, text/html"}, where=where)
        if resp.status == 404:
            resp.close()
            return []
        origin.check_status(resp, where)
        try:
            body = resp.body.read(MAX_INDEX_BYTES + 1)
            ctype = resp.header("Content-Type")
        finally:
            resp.close()
        if len(body) > MAX_INDEX_BYTES:
            raise errors.NotImplemented(f"ht: the directory index of {where} is larger than {MAX_INDEX_BYTES} bytes")
        try:
            return index.parse(body, ctype)
        except ValueError as e:
            raise errors.NotImplemented(
                f"ht bucket {where}: the origin serves no directory index to list ({e})") from None

    def _walk(self, base: str, prefix: str, delimiter: str, where: str) -> list[backend_pb2.BackendObjAttrs]:
        """Every name under ``prefix``: one directory level with a delimiter, else recursively."""
        start_dir = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
        out: list[backend_pb2.BackendObjAttrs] = []
        todo, dirs = [start_dir], 0
        while todo:
            d = todo.pop()
            dirs += 1
            if dirs > MAX_DIRS or len(out) > MAX_ENTRIES:
                raise errors.NotImplemented(f"ht bucket {where}: the origin's tree is too large to list")
            for e in self._index(base + urllib.parse.quote(d), where):
                name = d + e.name
                if not (name.startswith(prefix) or (e.is_dir and prefix.startswith(name))):
                    continue
                if e.is_dir:
                    if delimiter and name.startswith(prefix):
                        out.append(backend_pb2.BackendObjAttrs(name=name, is_dir=True))
                    else:
                        todo.append(name)
                elif name.startswith(prefix):
                    out.append(backend_pb2.BackendObjAttrs(name=name, size=e.size, mtime_ns=e.mtime_ns))
        out.sort(key=lambda e: e.name)
        return out

    @errors.servicer_guard
    def ListObjects(self, request: backend_pb2.BackendListObjectsRequest, context: Any) -> Any:
        b = request.bucket
        where = bucket_display(b.bck)
        if request.delimiter not in ("", "/"):
            raise errors.InvalidArgument(f'ht: only "/" is supported as a delimiter, got "{request.delimiter}"')
        entries = self._walk(origin_of(b), request.prefix, request.delimiter, where)
        # The token is the last name of the previous page (an origin has no cursor of its own).
        after = request.continuation_token or request.start_after
        if after:
            entries = [e for e in entries if e.name > after]
        size = request.page_size or 1000
        page = entries[:size]
        token = page[-1].name if len(entries) > size else ""
        return backend_pb2.BackendListObjectsResponse(entries=page, next_token=token)

    # --- read-only -------------------------------------------------------------------------

    def _read_only(self, what: str) -> errors.NotImplemented:
        return not_implemented("ht", f"{what} (ht buckets are read-only)")

    @errors.servicer_guard
    def CreateBucket(self, request: Any, context: Any) -> Any:
        raise self._read_only("creating a bucket")

    @errors.servicer_guard
    def PutObject(self, request_iterator: Any, context: Any) -> Any:
        raise self._read_only("writing an object")

    @errors.servicer_guard
    def DeleteObject(self, request: Any, context: Any) -> types_pb2.Empty:
        raise self._read_only("deleting an object")

    @errors.servicer_guard
    def CopyObject(self, request: Any, context: Any) -> Any:
        raise self._read_only("copying an object")

    @errors.servicer_guard
    def CreateUpload(self, request: Any, context: Any) -> Any:
        raise self._read_only("a multipart upload")

    @errors.servicer_guard
    def PutPart(self, request_iterator: Any, context: Any) -> Any:
        raise self._read_only("a multipart upload")

    @errors.servicer_guard
    def CompleteUpload(self, request: Any, context: Any) -> Any:
        raise self._read_only("a multipart upload")

    @errors.servicer_guard
    def AbortUpload(self, request: Any, context: Any) -> Any:
        raise self._read_only("a multipart upload")
