"""The S3 front end under /s3: path-style requests parsed, answered through the Cluster layer.

Handlers per resource: service (ListBuckets), bucket (create/delete/head/list, versioning,
location, multi-delete) and object (put/get/head/delete). Every error leaves as S3 XML.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from urllib.parse import unquote, unquote_to_bytes

from flask import Blueprint, Response, current_app, g, request

from aismesh.cmn import errors
from aismesh.cmn.names import Bck, s3_bucket_name_error
from aismesh.cmn.ranges import parse_range
from aismesh.protos import types_pb2
from services.gateway import body
from services.gateway.cluster import Cluster
from services.gateway.metasync import BucketEntry
from services.gateway.s3 import chunked, multipart, params, xml
from services.gateway.s3.errors import S3Error, from_ais, no_such_bucket, render
from services.gateway.s3.tokens import decode_token, encode_token

bp = Blueprint("s3", __name__)
METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD"]
PREFIX = "/s3"
MAX_KEYS = 1000
# Sub-resources S3 clients may ask for that we do not serve (yet): answered 501, never ignored.
_UNSUPPORTED = (
    "acl", "policy", "cors", "lifecycle", "tagging", "website", "logging", "replication",
    "encryption", "notification", "object-lock", "retention", "legal-hold", "torrent", "restore",
    "select", "accelerate", "analytics", "inventory", "metrics", "ownershipControls",
    "publicAccessBlock", "requestPayment", "intelligent-tiering", "versions", "attributes",
)


def cluster() -> Cluster:
    c: Cluster = current_app.extensions["aismesh.cluster"]
    return c


def split_path() -> tuple[str, str]:
    """(bucket, key) from the raw request path, percent-decoded once, slashes kept as sent."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        path = raw.split("?", 1)[0]
        if "://" in path:  # absolute-form request target
            path = "/" + path.split("://", 1)[1].split("/", 1)[-1]
        decoded = unquote_to_bytes(path)
    else:
        decoded = request.environ.get("PATH_INFO", "").encode("latin-1")
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise S3Error("InvalidURI", 400, "the request path is not valid UTF-8") from None
    rest = text[len(PREFIX):].removeprefix("/") if text.startswith(PREFIX) else text.lstrip("/")
    bucket, _, key = rest.partition("/")
    return bucket, key


@bp.route(PREFIX, methods=METHODS, strict_slashes=False)
@bp.route(PREFIX + "/<path:_rest>", methods=METHODS)
def dispatch(_rest: str = "") -> Response:
    bucket, key = split_path()
    g.s3_bucket, g.s3_key = bucket, key
    try:
        for sub in _UNSUPPORTED:
            if sub in request.args:
                raise S3Error("NotImplemented", 501,
                              f"the ?{sub} sub-resource is not implemented by aismesh",
                              f"/{bucket}/{key}" if key else f"/{bucket}")
        if not bucket:
            if request.method == "GET":
                return list_buckets()
            raise S3Error("MethodNotAllowed", 405, f"{request.method} is not allowed on the service", "/")
        if not key:
            return bucket_request(bucket)
        return object_request(bucket, key)
    except errors.AisError as e:
        raise from_ais(e, bucket, key) from None


def error_response(err: S3Error) -> Response:
    body = b"" if request.method == "HEAD" else render(err, g.get("request_id", ""))
    resp = Response(body, status=err.status, content_type="application/xml")
    if request.method == "HEAD":
        resp.headers["Content-Length"] = "0"
    return resp


# --- service -------------------------------------------------------------------------------


def list_buckets() -> Response:
    entries = cluster().list_buckets()
    body = xml.list_buckets((e.bck.name, e.created_ns) for e in entries)
    return Response(body, content_type="application/xml")


# --- buckets -------------------------------------------------------------------------------


def bucket_request(bucket: str) -> Response:
    m = request.method
    if m == "PUT":
        if "versioning" in request.args:
            raise S3Error("NotImplemented", 501, "PutBucketVersioning is not implemented by aismesh yet")
        return create_bucket(bucket)
    entry = cluster().bucket_by_name(bucket)
    if m == "HEAD":
        return Response(b"", headers={"x-amz-bucket-region": "us-east-1"})
    if m == "DELETE":
        cluster().destroy_bucket(entry, require_empty=True)
        return Response(status=204)
    if m == "POST" and "delete" in request.args:
        return delete_objects(entry)
    if m == "GET":
        if "uploads" in request.args:
            return multipart.list_uploads(cluster(), entry)
        if "location" in request.args:
            return Response(xml.location(), content_type="application/xml")
        if "versioning" in request.args:
            from aismesh.cmn.props import is_versioned

            return Response(xml.versioning(is_versioned(entry.props)), content_type="application/xml")
        return list_objects(entry)
    raise S3Error("MethodNotAllowed", 405, f"{m} is not allowed on a bucket", f"/{bucket}")


def create_bucket(bucket: str) -> Response:
    problem = s3_bucket_name_error(bucket)
    if problem:
        raise S3Error("InvalidBucketName", 400, f"The specified bucket is not valid: {problem}",
                      f"/{bucket}", (("BucketName", bucket),))
    cluster().create_bucket(Bck(name=bucket))
    return Response(b"", headers={"Location": f"/{bucket}"})


def list_objects(entry: BucketEntry) -> Response:
    args = request.args
    is_v2 = args.get("list-type") == "2"
    delimiter = args.get("delimiter", "")
    if delimiter not in ("", "/"):
        raise S3Error("InvalidArgument", 400, f'only "/" is supported as a delimiter, got {delimiter!r}')
    encoding = args.get("encoding-type", "")
    if encoding not in ("", "url"):
        raise S3Error("InvalidArgument", 400, f"Invalid Encoding Method specified in Request: {encoding!r}")
    max_keys = params.query_int("max-keys", MAX_KEYS, MAX_KEYS)
    prefix = args.get("prefix", "")
    ans = xml.ListingAnswer(bucket=entry.bck.name, prefix=prefix, delimiter=delimiter, max_keys=max_keys,
                            entries=[], is_truncated=False, encoding_type=encoding)
    if is_v2:
        ans.continuation_token = args.get("continuation-token", "")
        ans.start_after = args.get("start-after", "")
        after = decode_token(ans.continuation_token) if ans.continuation_token else ans.start_after
    else:
        ans.marker = args.get("marker", "")
        after = ans.marker
    if max_keys > 0:
        page = cluster().list_objects(entry, prefix=prefix, start_after=after, page_size=max_keys,
                                      delimiter=delimiter)
        ans.entries, ans.is_truncated = page.entries, page.is_truncated and bool(page.entries)
    if ans.is_truncated:
        last = ans.entries[-1].name
        if is_v2:
            ans.next_continuation_token = encode_token(last)
        else:
            ans.next_marker = last
    body = xml.list_objects(ans, v2=is_v2)
    return Response(body, content_type="application/xml")


def delete_objects(entry: BucketEntry) -> Response:
    try:
        keys, quiet = xml.parse_delete(body.read_bounded(request.environ))
    except ValueError as e:
        raise S3Error("MalformedXML", 400, str(e)) from None
    if len(keys) > 1000:
        raise S3Error("MalformedXML", 400, f"at most 1000 keys per Delete request, got {len(keys)}")
    deleted: list[str] = []
    failed: list[tuple[str, str, str]] = []
    for key in keys:
        try:
            cluster().delete_object(entry, key)
            deleted.append(key)
        except errors.NotFound:
            deleted.append(key)  # S3: deleting a missing key succeeds
        except errors.AisError as e:
            err = from_ais(e, entry.bck.name, key)
            failed.append((key, err.code, err.message))
    return Response(xml.delete_result(deleted, failed, quiet), content_type="application/xml")


# --- objects -------------------------------------------------------------------------------


def object_request(bucket: str, key: str) -> Response:
    m = request.method
    args = request.args
    c = cluster()
    entry = c.bucket_by_name(bucket)
    if "uploadId" in args:
        if m == "PUT":
            if "x-amz-copy-source" in request.headers:
                raise S3Error("NotImplemented", 501, "UploadPartCopy is not implemented by aismesh")
            chunks, size = _body()
            return multipart.upload_part(c, entry, key, chunks, size, _content_md5())
        if m == "POST":
            return multipart.complete(c, entry, key)
        if m == "DELETE":
            return multipart.abort(c, entry, key)
        if m == "GET":
            return multipart.list_parts(c, entry, key)
    if m == "POST" and "uploads" in args:
        return multipart.create(c, entry, key, request.headers.get("Content-Type", ""), _user_metadata())
    if m == "PUT":
        if "x-amz-copy-source" in request.headers:
            return copy_object(entry, key)
        return put_object(entry, key)
    if m in ("GET", "HEAD"):
        return get_object(entry, key, head=(m == "HEAD"))
    if m == "DELETE":
        # S3: deleting a missing key answers 204 all the same.
        with contextlib.suppress(errors.ObjectNotFound):
            c.delete_object(entry, key)
        return Response(status=204)
    raise S3Error("MethodNotAllowed", 405, f"{m} is not allowed on an object", f"/{bucket}/{key}")


def _user_metadata() -> dict[str, str]:
    return {k[len("x-amz-meta-"):].lower(): v for k, v in request.headers.items()
            if k.lower().startswith("x-amz-meta-")}


def _body() -> tuple[Iterator[bytes], int]:
    """The request payload as a chunk iterator and its size (-1 when unknown)."""
    env = request.environ
    if body.content_length(env) is None and not body.is_chunked(env):
        raise S3Error("MissingContentLength", 411, "You must provide the Content-Length HTTP header.")
    encoding = request.headers.get("Content-Encoding", "")
    sha = request.headers.get("x-amz-content-sha256", "")
    if "aws-chunked" in encoding or sha.startswith("STREAMING-"):
        size = params.length_header("x-amz-decoded-content-length")
        decoded = chunked.aws_chunked_body(body.input_reader(env), body.BODY_CHUNK)
        return decoded, -1 if size is None else size
    return body.request_body(env)


def _content_md5() -> str:
    value = request.headers.get("Content-MD5", "")
    if not value:
        return ""
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:  # binascii.Error, or a value that is not ASCII
        raw = b""
    if len(raw) != 16:
        raise S3Error("InvalidDigest", 400, "The Content-MD5 you specified is not valid.")
    return raw.hex()


def put_object(entry: BucketEntry, key: str) -> Response:
    chunks, size = _body()
    attrs = cluster().put_object(
        entry, key, chunks, size=size, content_type=request.headers.get("Content-Type", ""),
        custom=_user_metadata(), md5_hex=_content_md5(), compute_md5=True,
    )
    return Response(b"", headers={"ETag": xml.etag_of(attrs)})


def copy_object(entry: BucketEntry, key: str) -> Response:
    """CopyObject: the source streams through this gateway to the destination's owner node."""
    source = unquote(request.headers["x-amz-copy-source"]).lstrip("/")
    src_bucket, _, src_key = source.partition("/")
    src_key = src_key.split("?versionId=", 1)[0]
    if not src_bucket or not src_key:
        raise S3Error("InvalidArgument", 400, f"x-amz-copy-source must be <bucket>/<key>, got {source!r}")
    c = cluster()
    try:
        src = c.bucket_by_name(src_bucket)
    except errors.NotFound:
        raise no_such_bucket(src_bucket) from None
    try:
        result = c.get_object(src, src_key)
    except errors.ObjectNotFound:
        raise S3Error("NoSuchKey", 404, "The specified key does not exist.", f"/{src_bucket}/{src_key}",
                      (("Key", src_key),)) from None
    replace = request.headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE"
    if not replace and src.bck == entry.bck and src_key == key:
        result.cancel()
        raise S3Error("InvalidRequest", 400, "This copy request is illegal because it is trying to copy an "
                      "object to itself without changing the object's metadata.")
    content_type = request.headers.get("Content-Type", "") if replace else result.attrs.content_type
    custom = _user_metadata() if replace else dict(result.attrs.custom)
    try:
        attrs = c.put_object(entry, key, result.chunks, size=result.attrs.size, content_type=content_type,
                             custom=custom, compute_md5=True)
    finally:
        result.cancel()
    return Response(xml.copy_result(attrs), content_type="application/xml")


def _object_headers(attrs: types_pb2.ObjAttrs) -> dict[str, str]:
    h = {
        "ETag": xml.etag_of(attrs),
        "Last-Modified": xml.http_date(attrs.mtime_ns or attrs.atime_ns),
        "Accept-Ranges": "bytes",
        "Content-Type": attrs.content_type or "application/octet-stream",
    }
    if attrs.version:
        h["x-amz-version-id"] = attrs.version
    for k, v in attrs.custom.items():
        h[f"x-amz-meta-{k}"] = v
    return h


def _precondition(attrs: types_pb2.ObjAttrs) -> int:
    """0 to proceed, or the status (304/412) the If-* headers call for."""
    etag = xml.etag_of(attrs)
    if_match = request.headers.get("If-Match")
    if if_match and if_match.strip() != "*" and etag not in [t.strip() for t in if_match.split(",")]:
        return 412
    if_none = request.headers.get("If-None-Match")
    if if_none and (if_none.strip() == "*" or etag in [t.strip() for t in if_none.split(",")]):
        return 304
    return 0


def _precondition_failed() -> S3Error:
    return S3Error("PreconditionFailed", 412, "At least one of the preconditions you specified did not hold.")


def get_object(entry: BucketEntry, key: str, head: bool) -> Response:
    c = cluster()
    if head:
        attrs = c.head_object(entry, key)
        status = _precondition(attrs)
        if status == 412:
            raise _precondition_failed()
        resp = Response(b"", status=status or 200, headers=_object_headers(attrs))
        resp.headers["Content-Length"] = str(attrs.size)
        return resp
    rng = parse_range(request.headers.get("Range", ""))
    result = c.get_object(entry, key, rng)
    status = _precondition(result.attrs)
    if status:
        result.cancel()
        if status == 412:
            raise _precondition_failed()
        return Response(b"", status=304, headers=_object_headers(result.attrs))
    headers = _object_headers(result.attrs)
    length = result.attrs.size
    status = 200
    if result.is_range:
        status = 206
        length = result.range_length
        end = result.range_offset + result.range_length - 1
        headers["Content-Range"] = f"bytes {result.range_offset}-{end}/{result.attrs.size}"
    headers["Content-Length"] = str(length)
    resp = Response(result.wsgi_body(request.environ), status=status, headers=headers,
                    direct_passthrough=True)
    resp.call_on_close(result.cancel)
    return resp
