"""CopyObject and UploadPartCopy: the source streams through this gateway to the destination's owner.

Bytes pass in the gRPC chunk size, never whole: a 50 MiB CopyObject, or an ``aws s3 cp`` of a
large object (CreateMultipartUpload + UploadPartCopy per range + Complete), holds one chunk at a
time. The source's ``x-amz-copy-source-if-*`` conditions are checked on the attributes the
source's GET answers with first, before any byte is forwarded.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from flask import Response, request

from aismesh.cmn import errors
from aismesh.cmn.ranges import ByteRange, parse_decimal
from services.gateway import multipart as mpu
from services.gateway.cluster import Cluster, GetResult
from services.gateway.metasync import BucketEntry
from services.gateway.s3 import conditions, headers, params, versions, xml
from services.gateway.s3.errors import S3Error, no_such_bucket
from services.gateway.s3.headers import HeaderMap

_RANGE = re.compile(r"bytes=([0-9]+)-([0-9]+)")
_DIRECTIVES = ("COPY", "REPLACE")


def parse_source(value: str) -> tuple[str, str]:
    """(bucket, key) of an ``x-amz-copy-source`` value: ``[/]bucket/key[?versionId=...]``, percent-encoded."""
    path = value.split("?versionId=", 1)[0]
    source = unquote(path).lstrip("/")
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise S3Error("InvalidArgument", 400, "Copy Source must mention the source bucket and key: "
                      "sourcebucket/sourcekey", extra=(("ArgumentName", "x-amz-copy-source"),))
    return bucket, key


def _range_form() -> S3Error:
    return S3Error("InvalidArgument", 400, "The x-amz-copy-source-range value must be of the form bytes=first-last "
                   "where first and last are the zero-based offsets of the first and last bytes to copy",
                   extra=(("ArgumentName", "x-amz-copy-source-range"),))


def parse_source_range(value: str) -> ByteRange | None:
    """The ``x-amz-copy-source-range`` (``bytes=first-last``, both given, first <= last); None when absent."""
    value = value.strip()
    if not value:
        return None
    m = _RANGE.fullmatch(value)
    if not m:
        raise _range_form()
    first, last = parse_decimal(m.group(1)), parse_decimal(m.group(2))
    if first is None or last is None or last < first:
        raise _range_form()
    return ByteRange(start=first, end=last)


def invalid_source_range(size: int) -> S3Error:
    return S3Error("InvalidRange", 416, f"Range specified is not valid for source object of size: {size}",
                   extra=(("ActualObjectSize", str(size)),))


def metadata_directive(hdrs: HeaderMap) -> str:
    value = (hdrs.get("x-amz-metadata-directive") or "COPY").strip().upper()
    if value not in _DIRECTIVES:
        raise S3Error("InvalidArgument", 400, "Unknown metadata directive.",
                      extra=(("ArgumentName", "x-amz-metadata-directive"),))
    return value


def _open_source(c: Cluster, byte_range: ByteRange | None = None) -> tuple[BucketEntry, str, GetResult]:
    """Start reading the copy source; its conditions checked before a byte moves."""
    src_bucket, src_key = parse_source(request.headers["x-amz-copy-source"])
    try:
        src = c.bucket_by_name(src_bucket)
    except errors.NotFound:
        raise no_such_bucket(src_bucket) from None
    resource = f"/{src_bucket}/{src_key}"
    try:
        result = versions.get_copy_source(c, src, src_key, byte_range, request.headers["x-amz-copy-source"])
    except errors.ObjectNotFound:
        raise S3Error("NoSuchKey", 404, "The specified key does not exist.", resource, (("Key", src_key),)) from None
    except errors.RangeNotSatisfiable as e:
        raise invalid_source_range(e.object_size) from None
    cond = conditions.from_headers(request.headers, "x-amz-copy-source-")
    if not cond.is_empty:
        verdict = conditions.evaluate_copy_source(cond, xml.etag_of(result.attrs), _mtime_s(result))
        if verdict is not conditions.Verdict.PROCEED:
            result.cancel()
            raise conditions.precondition_failed(resource)
    return src, src_key, result


def _mtime_s(result: GetResult) -> int:
    return (result.attrs.mtime_ns or result.attrs.atime_ns) // 1_000_000_000


def copy_object(c: Cluster, entry: BucketEntry, key: str,
                commit: conditions.CommitCondition = conditions.NO_CONDITION) -> Response:
    """CopyObject; metadata kept (COPY) or taken from this request (REPLACE)."""
    directive = metadata_directive(request.headers)
    src, src_key, result = _open_source(c)
    try:
        if directive == "COPY" and src.bck == entry.bck and src_key == key:
            raise S3Error("InvalidRequest", 400, "This copy request is illegal because it is trying to copy an "
                          "object to itself without changing the object's metadata, storage class, website "
                          "redirect location or encryption attributes.")
        if directive == "REPLACE":
            content_type = request.headers.get("Content-Type", "")
            custom = headers.stored_custom(request.headers)
        else:
            content_type, custom = result.attrs.content_type, dict(result.attrs.custom)
        attrs = c.put_object(entry, key, result.chunks, size=result.attrs.size, content_type=content_type,
                             custom=custom, compute_md5=True, if_absent=commit.if_absent,
                             if_match_etag=commit.if_match_etag)
    finally:
        result.cancel()
    resp = Response(xml.copy_result(attrs), content_type="application/xml")
    resp.headers.update(versions.copy_headers(entry, attrs, src, result.attrs))
    return resp


def upload_part_copy(c: Cluster, entry: BucketEntry, key: str) -> Response:
    """UploadPartCopy: the part is the source (or its ``x-amz-copy-source-range``)."""
    number = params.part_number(request.args.get("partNumber", ""))
    wanted = parse_source_range(request.headers.get("x-amz-copy-source-range", ""))
    _, _, result = _open_source(c, wanted)
    try:
        size = result.attrs.size
        if wanted is not None and wanted.end is not None and wanted.end >= size:
            raise invalid_source_range(size)
        length = result.range_length if result.is_range else size
        part = mpu.put_part(c, entry, key, request.args["uploadId"], number, result.chunks, length)
    finally:
        result.cancel()
    body = (f'{xml.HEAD}<CopyPartResult {xml.NS}><LastModified>{xml.iso8601(part.mtime_ns)}</LastModified>'
            f'<ETag>"{part.etag}"</ETag></CopyPartResult>')
    return Response(body.encode(), content_type="application/xml")
